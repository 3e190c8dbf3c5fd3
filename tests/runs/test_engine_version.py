"""Stored results stay honest: when the engine's numbers change, ENGINE_VERSION must change too.

The results store keys every result by its request, which includes runs.request.ENGINE_VERSION; a
change that moves numbers without a new version would serve old numbers as if the new engine had
computed them (issue 17.7: three such changes went unnoticed). This test recomputes a few small cases
and compares them with the fingerprint stored beside it, written for the current version. When the
numbers move on purpose: bump ENGINE_VERSION, then rewrite the fingerprint with
``.venv/bin/python tests/runs/test_engine_version.py --write``.

Tolerances: B3LYP is deterministic to ~1e-12 Ha here; DM21 energies carry the network's float32
rounding (~1e-8 Ha per electron, which also decides where the SCF stops), so 5e-8 Ha per case (the
smallest change that moved stored numbers so far was the fast network path, ~1e-7 Ha on water).
"""

import json
import pathlib
import sys

import pytest

FINGERPRINT = pathlib.Path(__file__).with_name("data") / "engine_fingerprint.json"
TOLERANCE = {"B3LYP": 1e-10, "DM21": 5e-8}
CASES = {
    # name: (atoms, charge, 2S, basis, functional, kind)
    "water B3LYP": ("O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", 0, 0, "sto-3g", "B3LYP", None),
    "water DM21": ("O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", 0, 0, "sto-3g", "DM21", None),
    "H atom DM21 (UKS)": ("H 0 0 0", 0, 1, "6-31g", "DM21", None),
    "H2 at 3 A DM21 (RKS, symmetry-adapted restart)": ("H 0 0 0; H 0 0 3.0", 0, 0, "6-31g", "DM21", "RKS"),
}


def compute() -> dict:
    """{case: energy in Hartree} on the light grid (level 1), through run_scf as the store would."""
    from explorer import GridSpec, parse_atoms, run_scf

    energies = {}
    for name, (atoms, charge, spin, basis, functional, kind) in CASES.items():
        molecule = parse_atoms(atoms, charge, spin, basis)
        result = run_scf(molecule, functional, kind=kind, grid=GridSpec(level=1))
        assert result.converged, name
        energies[name] = result.energy
    return energies


def test_numbers_change_only_with_a_new_engine_version():
    from explorer.runs.request import ENGINE_VERSION

    stored = json.loads(FINGERPRINT.read_text())
    assert stored["engine_version"] == ENGINE_VERSION, (
        f"ENGINE_VERSION is {ENGINE_VERSION} but the fingerprint was written for {stored['engine_version']}: "
        "rewrite it (python tests/runs/test_engine_version.py --write)"
    )
    energies = compute()
    assert set(energies) == set(stored["energies"])
    for name, energy in energies.items():
        tolerance = TOLERANCE["DM21" if "DM21" in name else "B3LYP"]
        assert energy == pytest.approx(stored["energies"][name], abs=tolerance), (
            f"{name}: the engine's number moved from {stored['energies'][name]:.10f} to {energy:.10f} Ha "
            f"with ENGINE_VERSION still {ENGINE_VERSION}: bump it in explorer/runs/request.py and rewrite "
            "the fingerprint"
        )


if __name__ == "__main__" and "--write" in sys.argv:
    from explorer.runs.request import ENGINE_VERSION

    FINGERPRINT.parent.mkdir(exist_ok=True)
    fingerprint = {"engine_version": ENGINE_VERSION, "energies": compute()}
    FINGERPRINT.write_text(json.dumps(fingerprint, indent=2) + "\n")
    print(f"wrote {FINGERPRINT}")
