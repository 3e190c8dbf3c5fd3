"""Bad input everywhere: each gets one clear line naming the problem, never a traceback, never a wrong
number shown as right. The CLI as a user runs it (a subprocess, exit status 2, one line on stderr) or,
where a fault has to be injected, through explorer.cli.main in this process; the app through AppTest."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer import InputError, cli, parse_atoms
from explorer.engine import network, scf

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT.parent / "shared" / "dm21" / "checkpoints"
WATER = "O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587"


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, **(env or {})),
    )


def assert_one_line(out, word, status=2):
    assert out.returncode == status, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert word in lines[0] and lines[0].startswith("error: ")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, word",
    [
        (["--atoms", "O 0 0; H 0 0 1"], "cannot parse atom"),  # unparsable
        (["--atoms", "O 0 0 zero"], "cannot parse coordinates"),
        (["--atoms", "Xe 0 0 0", "--basis", "6-31g"], "no functions for Xe"),  # unsupported element
        (["--name", "water", "--charge", "11"], "electrons"),  # wrong charge
        (["--name", "water", "--spin", "1"], "spin"),  # wrong spin
        (["--name", "water", "--kind", "RKS", "--spin", "2"], "RKS"),
        (["--smiles", "c1ccccc1", "--basis", "cc-pvtz"], "DM21_EXPLORER_MAX_BASIS"),  # too large
        (["--name", "water", "--basis", "'; drop table"], "basis set"),  # absurd basis
        (["--name", "water", "--grid-level", "42"], "grid level"),  # absurd grid
        (["--name", "water", "--grid-level", "-1"], "grid level"),
        (["--name", "water", "--grid-spec", "huge"], "grid-spec"),
    ],
)
def test_cli_bad_molecule_or_settings(args, word):
    out = run_cli(
        "scf", *args, "--functional", "PBE", "--json", *(["--basis", "sto-3g"] * ("--basis" not in args))
    )
    assert_one_line(out, word)
    assert out.stdout == ""


def test_cli_size_limits_are_settings(tmp_path):
    # Water has 3 atoms: a limit of 2 refuses it, naming the setting; --allow-large runs it anyway.
    env = {"DM21_EXPLORER_MAX_ATOMS": "2", "DM21_EXPLORER_DB": str(tmp_path / "r.sqlite3")}
    out = run_cli("scf", "--name", "water", "--basis", "sto-3g", "--functional", "PBE", env=env)
    assert_one_line(out, "DM21_EXPLORER_MAX_ATOMS")
    args = ["scf", "--name", "water", "--basis", "sto-3g", "--functional", "PBE", "--json", "--allow-large"]
    out = run_cli(*args, env=env)
    assert out.returncode == 0 and json.loads(out.stdout)["converged"]
    out = run_cli("scf", "--name", "water", "--basis", "sto-3g", env={"DM21_EXPLORER_MAX_BASIS": "many"})
    assert_one_line(out, "DM21_EXPLORER_MAX_BASIS='many' is not a number")


def _checkpoint_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "checkpoints"
    shutil.copytree(CHECKPOINTS, copy)
    return copy


def test_cli_missing_weights(tmp_path):
    (tmp_path / "empty").mkdir()
    env = {"DM21_CHECKPOINTS": str(tmp_path / "empty"), "DM21_EXPLORER_DB": str(tmp_path / "r.sqlite3")}
    out = run_cli("scf", "--atoms", WATER, "--basis", "sto-3g", "--functional", "DM21", env=env)
    assert_one_line(out, "DM21 checkpoint DM21 not found")


def test_cli_corrupted_weights_fail_their_checksum(tmp_path):
    copy = _checkpoint_copy(tmp_path)
    data = copy / "DM21" / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[1000] ^= 0xFF  # one flipped byte: a plausible file that would give wrong numbers
    data.write_bytes(bytes(raw))
    env = {"DM21_CHECKPOINTS": str(copy), "DM21_EXPLORER_DB": str(tmp_path / "r.sqlite3")}
    out = run_cli("scf", "--atoms", WATER, "--basis", "sto-3g", "--functional", "DM21", env=env)
    assert_one_line(out, "checksum mismatch")
    assert out.stdout == ""


def test_cli_corrupted_database(tmp_path):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"not a database " * 200)
    out = run_cli(
        "scf", "--name", "H2", "--basis", "sto-3g", "--functional", "PBE", env={"DM21_EXPLORER_DB": str(path)}
    )
    assert_one_line(out, "results database")
    assert "file is not a database" in out.stderr


def test_cli_locked_database(tmp_path):
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        env = {"DM21_EXPLORER_DB": str(path), "DM21_EXPLORER_DB_TIMEOUT": "0.5"}
        out = run_cli("scf", "--name", "H2", "--basis", "sto-3g", "--functional", "PBE", env=env)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_one_line(out, "is locked by another program")
    assert "DM21_EXPLORER_DB_TIMEOUT" in out.stderr


def test_cli_non_finite_network_output(monkeypatch, capsys, tmp_path):
    """A network returning NaN stops the SCF with a clear error, not a NaN energy."""
    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "r.sqlite3"))
    real = network.Network.evaluate

    def poisoned(self, features, exact=False):
        out = real(self, features, exact)
        exc = out.exc.copy()
        exc[::7] = np.nan
        return network.NetworkOutput(exc=exc, grads=out.grads)

    monkeypatch.setattr(network.Network, "evaluate", poisoned)
    status = cli.main(["scf", "--atoms", WATER, "--basis", "sto-3g", "--grid-level", "1", "--json"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert "non-finite" in line and line.startswith("error: ")


def test_cli_non_convergence_is_status_1_and_marked(monkeypatch, capsys, tmp_path):
    """An SCF cut to 1 iteration per ladder step cannot converge water: status 1, the JSON says
    converged false, and stderr says the energy is not a valid result. Nothing is stored."""
    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "r.sqlite3"))
    monkeypatch.setattr(
        scf, "CONVERGENCE_LADDER", tuple(dict(s, max_cycle=1) for s in scf.CONVERGENCE_LADDER)
    )
    status = cli.main(["scf", "--atoms", WATER, "--basis", "sto-3g", "--functional", "B3LYP", "--json"])
    captured = capsys.readouterr()
    assert status == 1
    assert json.loads(captured.out)["converged"] is False
    [line] = captured.err.strip().splitlines()
    assert "did NOT converge" in line and "not a valid result" in line
    from explorer.runs.store import ResultsStore

    assert ResultsStore().list() == []
    # The human form says so next to the number.
    assert cli.main(["scf", "--atoms", WATER, "--basis", "sto-3g", "--functional", "B3LYP"]) == 1
    assert "NOT converged" in capsys.readouterr().out


# --- the app ---------------------------------------------------------------------------------------


def _page(path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.switch_page(path).run()
    assert not at.exception
    return at


def _shows_error(at, word: str) -> None:
    assert not at.exception, at.exception
    assert any(word in e.value for e in at.error), [e.value for e in at.error]
    assert all("\n" not in e.value and "Traceback" not in e.value for e in at.error)


def test_app_unparsable_molecule_and_wrong_charge():
    at = _page("pages/1_Compare.py")
    at.segmented_control(key="mi_source").set_value("XYZ").run()
    at.text_area(key="mi_xyz").set_value("two\nnot xyz at all\nO 0 0\n").run()
    _shows_error(at, "cannot parse")
    assert "cmp_run" not in [b.key for b in at.button]  # nothing to run
    at.text_area(key="mi_xyz").set_value("3\nwater\nO 0 0 0\nH 0 0.757 0.587\nH 0 -0.757 0.587\n").run()
    assert not at.error
    at.number_input(key="mi_charge").set_value(1).run()  # 9 electrons with 2S = 0
    _shows_error(at, "spin")
    assert not at.dataframe


def test_app_size_limits_follow_the_settings(monkeypatch):
    monkeypatch.setenv("DM21_EXPLORER_MAX_ATOMS", "2")
    at = _page("pages/1_Compare.py")
    at.selectbox(key="mi_library").set_value("water").run()
    assert any("DM21_EXPLORER_MAX_ATOMS" in w.value for w in at.warning)
    assert at.button(key="cmp_run").disabled


@pytest.fixture
def fresh_store_resource():
    from pages.ui.resources import results_store

    results_store.clear()
    yield
    results_store.clear()


def test_app_corrupted_database(monkeypatch, tmp_path, fresh_store_resource):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"not a database " * 200)
    monkeypatch.setenv("DM21_EXPLORER_DB", str(path))
    at = _page("pages/9_History.py")
    _shows_error(at, "results database")
    at = _page("pages/1_Compare.py")
    at.selectbox(key="mi_library").set_value("H2")
    at.selectbox(key="mi_basis").set_value("sto-3g")
    at.multiselect(key="cmp_functionals").set_value(["PBE"])
    at.button(key="cmp_run").click().run()
    _shows_error(at, "file is not a database")
    assert not at.dataframe


def test_app_locked_database(monkeypatch, tmp_path, fresh_store_resource):
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setenv("DM21_EXPLORER_DB", str(path))
    monkeypatch.setenv("DM21_EXPLORER_DB_TIMEOUT", "0.5")
    try:
        at = _page("pages/9_History.py")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _shows_error(at, "is locked by another program")


def _densities_h2_dm21() -> AppTest:
    at = _page("pages/4_Densities.py")
    at.selectbox(key="mi_library").set_value("H2")
    at.selectbox(key="mi_basis").set_value("sto-3g")
    at.selectbox(key="dx_functional").set_value("DM21")
    at.selectbox(key="dx_classical").set_value("PBE")
    at.button(key="dx_run").click().run()
    return at


@contextmanager
def _on_workers(change, undo):
    """Runs ``change`` on every worker of the task cluster, where the Densities page's SCFs run, and
    ``undo`` afterwards. Both must be nested functions: cloudpickle sends those by value."""
    from explorer.runs import tasks

    client = tasks.client()
    client.run(change)
    try:
        yield
    finally:
        client.run(undo)


def _non_finite_network():
    """The workers' DM21 network returns infinite energy densities while the block runs."""

    def poison():
        from explorer.engine import network as worker_network

        real = worker_network.Network.evaluate

        def poisoned(self, features, exact=False):
            out = real(self, features, exact)
            return worker_network.NetworkOutput(exc=out.exc * np.inf, grads=out.grads)

        poisoned.real = real
        worker_network.Network.evaluate = poisoned

    def heal():
        from explorer.engine import network as worker_network

        worker_network.Network.evaluate = worker_network.Network.evaluate.real

    return _on_workers(poison, heal)


def test_app_non_finite_network_output(monkeypatch, tmp_path, fresh_store_resource):
    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "r.sqlite3"))

    with _non_finite_network():
        at = _densities_h2_dm21()
    _shows_error(at, "non-finite")
    assert not at.dataframe  # no curve, no numbers


def test_app_missing_weights(monkeypatch, tmp_path, fresh_store_resource):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "r.sqlite3"))
    monkeypatch.setenv("DM21_CHECKPOINTS", str(tmp_path / "empty"))
    monkeypatch.setattr(network, "_networks", {})  # as in a fresh server process
    at = _page("pages/home.py")
    assert not at.dataframe[0].value["found"].any()  # the home page's weights table says so
    empty = str(tmp_path / "empty")

    def hide():  # the workers, where the SCFs run, see no weights either
        import os

        from explorer.engine import network as worker_network

        worker_network.saved_for_test = (os.environ.get("DM21_CHECKPOINTS"), worker_network._networks)
        os.environ["DM21_CHECKPOINTS"] = empty
        worker_network._networks = {}

    def restore():
        import os

        from explorer.engine import network as worker_network

        path, worker_network._networks = worker_network.saved_for_test
        if path is None:
            os.environ.pop("DM21_CHECKPOINTS", None)
        else:
            os.environ["DM21_CHECKPOINTS"] = path

    with _on_workers(hide, restore):
        at = _densities_h2_dm21()
    _shows_error(at, "not found")
    assert not at.dataframe


def test_app_non_convergence_is_shown_as_not_converged(tmp_path):
    """Compare runs on the task cluster: the workers' convergence ladder is cut to 1 iteration per
    step for this test, so B3LYP cannot converge; the table leaves its numbers blank and says why."""
    from explorer.runs import tasks

    def cut(steps=1):
        from explorer.engine import scf as worker_scf

        worker_scf._saved_ladder = getattr(worker_scf, "_saved_ladder", worker_scf.CONVERGENCE_LADDER)
        worker_scf.CONVERGENCE_LADDER = tuple(dict(s, max_cycle=steps) for s in worker_scf._saved_ladder)

    def restore():
        from explorer.engine import scf as worker_scf

        worker_scf.CONVERGENCE_LADDER = getattr(worker_scf, "_saved_ladder", worker_scf.CONVERGENCE_LADDER)

    client = tasks.client()
    client.run(cut)
    try:
        at = _page("pages/1_Compare.py")
        at.selectbox(key="mi_library").set_value("LiH")
        at.selectbox(key="mi_basis").set_value("sto-3g")
        at.multiselect(key="cmp_functionals").set_value(["HF"])
        at.button(key="cmp_run").click().run()
    finally:
        client.run(restore)
    _shows_error(at, "did NOT converge")
    # The page's tables (chemistry, total energies, run details) as one row per functional.
    row = pd.concat([t.value.set_index("functional") for t in at.dataframe], axis=1).loc["HF"]
    assert not row["converged"]
    assert pd.isna(row["E (Ha)"]) and pd.isna(row["HOMO (eV)"])  # no number shown for it


def _broken_app():
    """An app whose one page fails with an error no page expects, run the way app.py runs its pages."""
    import streamlit as st

    from pages.ui.guard import run_guarded

    def broken():
        st.title("Broken")
        kept = {"not": "a comparison"}
        st.write(kept["molecule"])  # KeyError, as a corrupt kept result raised in Compare

    run_guarded(st.navigation([st.Page(broken, title="Broken")]))


def test_an_unexpected_error_in_a_page_is_one_line_with_a_reference_logged_with_its_traceback(caplog):
    """Issue 17 (9): pages caught only ExplorerError; anything else showed a traceback with the
    server's paths to every student."""
    import logging
    import re

    with caplog.at_level(logging.ERROR, logger="dm21_explorer"):
        at = AppTest.from_function(_broken_app, default_timeout=60).run()
    assert not at.exception
    [error] = at.error
    match = re.search(r"reference ([0-9a-f]{8})", error.value)
    assert match and "\n" not in error.value and "Traceback" not in error.value
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is KeyError
    assert str(ROOT) not in error.value


def test_app_fractional_page_has_size_guard_and_ceiling(monkeypatch):
    """Issue 17 (5): the Fractional electrons page ran any molecule with no size guard and any number
    of bond lengths, and "Run anyway" had no ceiling anywhere. Now: the guard with the curve's whole
    cost, a hard ceiling no checkbox passes, and at most MAX_POINTS points per curve or scan."""
    from explorer import settings

    monkeypatch.setenv("DM21_EXPLORER_MAX_SECONDS", "100000")  # the basis limits are under test here
    at = _page("pages/2_Fractional_electrons.py")
    at.segmented_control(key="fe_view").set_value("Fractional charge").run()
    at.selectbox(key="mi_library").set_value("water").run()
    at.selectbox(key="mi_basis").set_value("sto-3g").run()
    assert any("basis functions" in c.value for c in at.caption)  # the guard's cost line
    monkeypatch.setenv("DM21_EXPLORER_MAX_BASIS", "5")
    at.run()
    assert any("DM21_EXPLORER_MAX_BASIS" in w.value for w in at.warning)
    assert at.button(key="fe_run").disabled
    at.checkbox(key="size_guard_override").check().run()
    assert not at.button(key="fe_run").disabled  # over the soft limit, "Run anyway" may pass
    monkeypatch.setenv("DM21_EXPLORER_BASIS_CEILING", "5")
    at.run()
    assert any("DM21_EXPLORER_BASIS_CEILING" in e.value for e in at.error)
    assert not [c for c in at.checkbox if c.key == "size_guard_override"]  # nothing to tick past it
    assert at.button(key="fe_run").disabled
    monkeypatch.delenv("DM21_EXPLORER_BASIS_CEILING")
    monkeypatch.delenv("DM21_EXPLORER_MAX_BASIS")
    at.segmented_control(key="fe_view").set_value("Dissociation").run()
    many = ", ".join(f"{0.5 + 0.05 * i:g}" for i in range(settings.max_points() + 1))
    at.text_input(key="fe_values").set_value(many).run()
    assert any("too many" in e.value for e in at.error)
    assert at.button(key="fe_run").disabled


def test_curves_refuse_more_points_than_the_limit():
    from explorer import settings
    from explorer.analyses import fractional
    from explorer.runs.store import ResultsStore

    h = parse_atoms("H 0 0 0", spin=1, basis="sto-3g")
    with pytest.raises(InputError, match="DM21_EXPLORER_MAX_POINTS"):
        fractional.fractional_charge(h, "B3LYP", ResultsStore(), points=settings.max_points() + 1)
    values = [0.5 + 0.1 * i for i in range(settings.max_points() + 1)]
    with pytest.raises(InputError, match="too many"):
        fractional.scan("H 0 0 0; H 0 0 {r}", values, "B3LYP", ResultsStore(), basis="sto-3g")


def test_app_failed_job_releases_the_rest_of_its_batch(monkeypatch, tmp_path, fresh_store_resource):
    """Issue 17 (10): after the first failure in a Compare batch the other jobs were never released
    (they stayed held in the server process, their results kept on the cluster)."""
    from explorer.runs import tasks

    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "r.sqlite3"))

    at = _page("pages/1_Compare.py")
    at.selectbox(key="mi_library").set_value("H2")
    at.selectbox(key="mi_basis").set_value("sto-3g")
    at.multiselect(key="cmp_functionals").set_value(["DM21", "PBE"]).run()
    held_before = set(tasks._holders)
    with _non_finite_network():
        at.button(key="cmp_run").click().run()
    _shows_error(at, "non-finite")
    left = set(tasks._holders) - held_before
    assert not left, f"jobs still held after their batch failed: {left}"
