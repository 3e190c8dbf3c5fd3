"""The parameter cache: processes after the first start DM21 without TensorFlow, safely.

Every test here runs on a cache folder of its own ($DM21_CACHE_DIR in tmp_path, the checkpoints still
found where they are) and on an empty table of loaded networks, restored afterwards.
"""

import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from explorer.engine import network, weights


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The parameter cache folder of this test (empty); loaded networks are forgotten meanwhile."""
    # Pinned first: the checkpoints may live in the user cache folder that DM21_CACHE_DIR moves.
    monkeypatch.setenv("DM21_CHECKPOINTS", str(weights.find_checkpoint("DM21").parent))
    monkeypatch.setenv("DM21_CACHE_DIR", str(tmp_path))
    saved = dict(network._networks)
    network._networks.clear()
    yield tmp_path / "networks"
    network._networks.clear()
    network._networks.update(saved)


def _fresh(name="DM21"):
    """A new load of ``name`` in this process (the table of loaded networks emptied first)."""
    network._networks.clear()
    return network.load_network(name)


def _files(folder, name="DM21"):
    """The cache files of network ``name``."""
    return sorted(folder.glob(f"{name}-*.npz"))


def _intact(path) -> bool:
    """True if the file's SHA-256 is the one its name ends with."""
    return hashlib.sha256(path.read_bytes()).hexdigest() == path.stem.rsplit("-", 1)[1]


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_first_load_writes_the_cache_and_a_new_process_loads_it_without_tensorflow(cache, tmp_path):
    net = _fresh()
    assert net.source == "checkpoint" and net.fast_path
    [path] = _files(cache)
    assert path.name.startswith(f"DM21-{network.checkpoint_key('DM21')[:16]}-") and _intact(path)
    x = network.probe_features(2000, seed=3)
    expected = net.evaluate(x)

    saved = tmp_path / "outputs.npz"
    line = _python(
        f"""
        import json, sys
        import numpy as np
        from explorer.engine import network
        net = network.load_network("DM21")
        out = net.evaluate(network.probe_features(2000, seed=3))
        np.savez({str(saved)!r}, exc=out.exc, **out.grads)
        print(json.dumps([net.source, net.fast_path, "tensorflow" in sys.modules]))
        """
    )
    assert json.loads(line) == ["cache", True, False]
    with np.load(saved) as got:
        # The same parameters through the same code: the same float32 numbers, bit for bit.
        np.testing.assert_array_equal(got["exc"], expected.exc)
        for key in network.FEATURE_NAMES:
            np.testing.assert_array_equal(got[key], expected.grads[key])


def test_a_corrupted_cache_is_detected_replaced_and_the_exact_path_still_loads(cache):
    _fresh()
    [path] = _files(cache)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))

    net = _fresh()
    assert net.source == "checkpoint" and net.fast_path  # fell back to TensorFlow
    [rewritten] = _files(cache)
    assert _intact(rewritten) and rewritten.read_bytes() != bytes(data)

    net = _fresh()
    assert net.source == "cache"
    # The exact path of a network from the cache: TensorFlow loaded on first use, the paths agree.
    x = network.probe_features(300, seed=11)
    fast, exact = net.evaluate(x), net.evaluate(x, exact=True)
    assert np.abs(fast.exc - exact.exc).max() <= network.PATH_TOLERANCE * np.abs(exact.exc).max()


def test_a_cache_of_other_checkpoint_sums_or_other_outputs_is_not_used(cache):
    name, key = "DM21m", network.checkpoint_key("DM21m")
    assert key != network.checkpoint_key("DM21")
    _fresh(name)
    [path] = _files(cache, name)
    parameters, graph, _ = network.read_parameter_cache(name, key)
    path.unlink()

    # A valid file made for other checkpoint files: not found under this key ...
    other = "0" * 64
    network.write_parameter_cache(name, other, parameters, graph)
    assert network.read_parameter_cache(name, key) is None
    assert _fresh(name).source == "checkpoint"
    # ... nor used when renamed to this key (the key inside it is checked too).
    for p in _files(cache, name):
        p.unlink()
    network.write_parameter_cache(name, other, parameters, graph)
    [foreign] = _files(cache, name)
    foreign.rename(cache / foreign.name.replace(other[:16], key[:16]))
    assert network.read_parameter_cache(name, key) is None
    assert _fresh(name).source == "checkpoint"

    # A file whose stored graph outputs the fast path does not reproduce (here: outputs of another
    # network) fails the load-time check: not used, and removed.
    for p in _files(cache, name):
        p.unlink()
    dm21_graph = network._probe(network.load_network("DM21")._fast)
    network.write_parameter_cache(name, key, parameters, dm21_graph)
    [mismatched] = _files(cache, name)
    net = _fresh(name)
    assert net.source == "checkpoint" and net.fast_path and not mismatched.exists()
    assert len(_files(cache, name)) == 1 and _fresh(name).source == "cache"


def test_run_scf_reports_the_load_apart_from_the_scf():
    # A new process: the first DM21 call loads the network (from the cache or with TensorFlow), the
    # second finds it loaded; B3LYP loads nothing. Both timed intervals lie inside the call's wall
    # time, so if scf_seconds still held the load, load + scf would exceed the wall time by the load.
    line = _python(
        """
        import json, time
        from explorer.chem.molecules import parse_atoms
        from explorer.engine.grids import GridSpec
        from explorer.engine.scf import run_scf
        water = parse_atoms("O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", basis="sto-3g")
        rows = []
        for functional in ("DM21", "DM21", "B3LYP"):
            start = time.perf_counter()
            r = run_scf(water, functional, grid=GridSpec(level=1))
            rows.append([r.load_seconds, r.scf_seconds, time.perf_counter() - start, r.converged])
        print(json.dumps(rows))
        """
    )
    (load1, scf1, wall1, ok1), (load2, scf2, wall2, ok2), (load3, _, _, ok3) = json.loads(line)
    assert ok1 and ok2 and ok3
    assert load1 > 0.1 and load2 == 0.0 and load3 == 0.0
    assert load1 + scf1 <= wall1 and scf2 <= wall2
