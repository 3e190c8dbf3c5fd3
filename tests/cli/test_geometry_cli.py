"""``optimize`` and ``frequencies`` as a user runs them: a subprocess, JSON on stdout with the issue's
fields, one-line errors. B3LYP here is PySCF's VWN-RPA flavour."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import constants

H2 = [
    "--name",
    "H2",
    "--basis",
    "sto-3g",
    "--functional",
    "B3LYP",
    "--grid-level",
    "2",
    "--grid-spec",
    "pyscf",
]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=600
    )


def test_optimize_json_fields_are_consistent():
    """converged, energy, atoms [[symbol, x, y, z]] (Angstrom), steps, max_gradient present; the
    energy and gradient those of the trajectory's evaluation at the final atoms; the bond in the
    table the distance of the atoms; the gradient below the issue's 3e-4 Ha/bohr."""
    out = run_cli("optimize", *H2, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("converged", "energy", "atoms", "steps", "max_gradient"):
        assert key in data
    assert data["converged"] is True and data["max_gradient"] < 3e-4
    assert [a[0] for a in data["atoms"]] == ["H", "H"] and all(len(a) == 4 for a in data["atoms"])
    final = [s for s in data["trajectory"] if s["atoms"] == data["atoms"]]
    assert (
        final and final[-1]["energy"] == data["energy"] and final[-1]["max_gradient"] == data["max_gradient"]
    )
    assert data["steps"] == len(data["trajectory"])
    r = float(np.linalg.norm(np.subtract(data["atoms"][0][1:], data["atoms"][1][1:])))
    assert data["geometry"][0]["value"] == pytest.approx(r, abs=1e-12)
    assert 0.70 < r < 0.75  # B3LYP/STO-3G H2 (experiment 0.741 A)
    again = json.loads(run_cli("optimize", *H2, "--json").stdout)
    assert again["cached"] is True and again["atoms"] == data["atoms"]


def test_frequencies_json_fields_are_consistent():
    """frequencies_cm1, ir_intensities, zpe, imaginary present; one stretch for H2 (no dipole: IR
    intensity zero to numerical noise), none imaginary; the ZPE half of h c nu (CODATA); the 5
    translations and rotations of a linear molecule near zero."""
    out = run_cli("frequencies", *H2, "--optimize", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("frequencies_cm1", "ir_intensities", "zpe", "imaginary"):
        assert key in data
    assert data["optimized"] is True and data["imaginary"] == []
    assert len(data["frequencies_cm1"]) == len(data["ir_intensities"]) == 1
    assert abs(data["ir_intensities"][0]) < 1e-3
    hc = constants.h * constants.c * 100 / constants.physical_constants["Hartree energy"][0]
    assert data["zpe"] == pytest.approx(0.5 * hc * data["frequencies_cm1"][0], rel=1e-6)
    assert max(abs(f) for f in data["all_frequencies_cm1"][:5]) < 50
    human = run_cli("frequencies", *H2, "--optimize")
    assert human.returncode == 0 and "zero-point energy" in human.stdout and "VWN-RPA" in human.stdout


@pytest.mark.parametrize(
    "command, extra, word",
    [
        ("optimize", ["--max-steps", "0"], "max-steps"),
        ("frequencies", ["--step", "1"], "step"),
        ("optimize", ["--functional", "nonsense"], "functional"),
    ],
)
def test_bad_input_is_one_line(command, extra, word):
    out = run_cli(command, *H2, *extra)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: ") and word in out.stderr and out.stderr.count("\n") == 1


def test_single_atom_is_refused():
    out = run_cli("optimize", "--atoms", "Ne 0 0 0", "--basis", "sto-3g", "--functional", "B3LYP")
    assert out.returncode == 2 and "two atoms" in out.stderr and out.stderr.count("\n") == 1


def test_gradient_check_takes_dm21_networks_only():
    out = run_cli("bench-gradients", "--networks", "DM21,B3LYP")
    assert out.returncode == 2 and out.stdout == ""
    assert "--networks" in out.stderr and out.stderr.count("\n") == 1
