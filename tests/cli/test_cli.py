"""The command line, as a user runs it: a subprocess, JSON on stdout, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WATER = "O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587"
WATER_STO3G = ["--atoms", WATER, "--basis", "sto-3g"]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=600
    )


def test_scf_json():
    out = run_cli(
        "scf", "--atoms", WATER, "--basis", "sto-3g", "--functional", "DM21", "--grid-level", "1", "--json"
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in (
        "energy",
        "converged",
        "cycles",
        "e_xc",
        "scf_seconds",
        "functional",
        "basis",
        "charge",
        "spin",
        "cached",
    ):
        assert key in data
    assert data["converged"] and data["cached"] is False and data["functional"] == "DM21"
    assert -75.4 < data["energy"] < -75.2


@pytest.mark.parametrize(
    "args, word",
    [
        (["--atoms", "Zz 0 0 0"], "element"),
        (["--atoms", "H 0 0 0", "--spin", "2"], "spin"),
        (["--atoms", "H 0 0 0; H 0 0 0.05"], "close"),
        (["--atoms", WATER, "--basis", "not-a-basis"], "basis"),
        (["--atoms", WATER, "--functional", "DM22"], "functional"),
        (["--smiles", "C(("], "SMILES"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, word):
    out = run_cli("scf", *args, "--json")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_evaluate_matches_in_process_engine(tmp_path):
    from explorer.chem.molecules import parse_atoms
    from explorer.engine.grids import GridSpec, build_grids
    from explorer.engine.scf import evaluate_xc

    water = parse_atoms(WATER, basis="sto-3g")
    mol = water.to_pyscf()
    grids = build_grids(mol, GridSpec(level=2))
    rng = np.random.default_rng(3)
    from pyscf import scf

    dm = scf.RHF(mol).run().make_rdm1()
    dm_u = np.array([dm * 0.55, dm * 0.45]) + 1e-3 * rng.normal(size=(2, 7, 7))
    dm_u = (dm_u + dm_u.transpose(0, 2, 1)) / 2
    np.savez(tmp_path / "grid.npz", coords=grids.coords, weights=grids.weights)
    for name, d in (("r", dm), ("u", dm_u)):
        np.save(tmp_path / f"dm_{name}.npy", d)
        out = run_cli(
            "evaluate",
            *WATER_STO3G,
            "--functional",
            "DM21",
            "--dm",
            str(tmp_path / f"dm_{name}.npy"),
            "--grid",
            str(tmp_path / "grid.npz"),
            "--vxc-out",
            str(tmp_path / f"v_{name}.npy"),
            "--json",
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        e_ref, v_ref = evaluate_xc(water, "DM21", d, grids)
        assert data["e_xc"] == pytest.approx(e_ref, abs=1e-10)
        v = np.load(tmp_path / f"v_{name}.npy")
        assert v.shape == d.shape and np.allclose(v, v_ref, atol=1e-10)


def test_evaluate_rejects_wrong_density_shape(tmp_path):
    np.save(tmp_path / "dm.npy", np.eye(3))
    np.savez(tmp_path / "grid.npz", coords=np.zeros((8, 3)), weights=np.ones(8))
    out = run_cli(
        "evaluate",
        *WATER_STO3G,
        "--dm",
        str(tmp_path / "dm.npy"),
        "--grid",
        str(tmp_path / "grid.npz"),
    )
    assert out.returncode == 2 and "density matrix" in out.stderr and "Traceback" not in out.stderr


def test_weights_status_json_lists_four_verified_checkpoints():
    out = run_cli("weights", "status", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["status"]
    assert [r["name"] for r in rows] == ["DM21", "DM21m", "DM21mc", "DM21mu"]
    assert all(r["ok"] and r["error"] is None for r in rows)


def test_console_script_is_the_same_command_line(tmp_path):
    """``dm21-explorer`` (pyproject's console script, explorer.cli:main) runs the same command line as
    ``python -m explorer``: same JSON keys, and main's return value as the exit status."""
    script = Path(sys.executable).with_name("dm21-explorer")
    if not script.exists():
        pytest.skip("the console script is not installed (pip install --no-deps -e .)")
    assert "xc-map" in subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    args = ["scf", *WATER_STO3G, "--functional", "PBE", "--grid-level", "1", "--json"]
    env = dict(os.environ, DM21_EXPLORER_DB=str(tmp_path / "r.sqlite3"))
    via_script = subprocess.run([script, *args], capture_output=True, text=True, timeout=600, env=env)
    via_module = subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=600, env=env
    )
    assert via_script.returncode == via_module.returncode == 0, via_script.stderr + via_module.stderr
    assert list(json.loads(via_script.stdout)) == list(json.loads(via_module.stdout))
    bad = subprocess.run([script, "scf", "--atoms", "Zz 0 0 0", "--json"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stdout == ""
