"""Spin states: restricted and broken-symmetry singlets, <S^2> and the contamination flag, gaps, presets
and the command line.

Small bases (STO-3G, 6-31G) and the level-1 grid keep the file near a minute on 2 cores; numbers quoted
in comments were measured with exactly these settings.
"""

import dataclasses
import json
import math
import subprocess
import sys

import pytest
from pyscf import dft

from explorer.analyses import spin_states as ss
from explorer.chem.molecules import from_library, parse_atoms
from explorer.engine.grids import GridSpec
from explorer.errors import InputError

LIGHT = GridSpec(level=1)


@pytest.fixture(scope="module")
def ch2():
    return from_library("CH2 (triplet)", basis="6-31g")


@pytest.fixture(scope="module")
def ch2_b3lyp(ch2, store):
    """CH2/6-31G with B3LYP: (restricted singlet + triplet, broken-symmetry singlet + triplet)."""
    restricted = ss.spin_states(ch2, "B3LYP", [0, 2], store, grid=LIGHT)
    broken = ss.spin_states(ch2, "B3LYP", "0,2", store, grid=LIGHT, broken_symmetry=True)
    return restricted, broken


# --- input (no SCF) ----------------------------------------------------------------------------


def test_parse_spins():
    o2 = from_library("O2", basis="sto-3g")
    assert ss.parse_spins("2, 0,2", o2) == [0, 2]  # sorted, no repeats
    assert ss.parse_spins([4, 0]) == [0, 4]
    for text, match in (
        ("1,3", r"2S=1 does not fit 16 electrons: 2S must be even"),
        ("-2", "must not be negative"),
        ("0,x", "whole numbers"),
        ("0.5", "whole numbers"),
        ("", "at least one"),
        ("18", "impossible with 16 electrons"),
    ):
        with pytest.raises(InputError, match=match) as info:
            ss.parse_spins(text, o2)
        assert "\n" not in str(info.value)
    n_atom = from_library("N", basis="sto-3g")
    with pytest.raises(InputError, match=r"must be odd \(1, 3, 5"):
        ss.parse_spins("0", n_atom)


def test_presets_are_complete():
    for name, preset in ss.PRESETS.items():
        molecule = preset.molecule("sto-3g")
        assert ss.parse_spins(preset.spins, molecule) == list(preset.spins), name
        ref = preset.reference
        assert {ref.from_spin, ref.to_spin} <= set(preset.spins) and ref.source and ref.kind, name
        assert ref.unit in ("kcal/mol", "eV") and molecule.source, name
    # Signs: E(triplet) - E(singlet) is negative where the triplet is the ground state.
    assert ss.PRESETS["CH2 (methylene)"].reference.value < 0 < ss.PRESETS["SiH2 (silylene)"].reference.value
    # 0.98 eV (O2 a1Delta_g) is 22.6 kcal/mol, as usually quoted.
    assert ss.PRESETS["O2 (oxygen)"].reference.hartree() * 627.5095 == pytest.approx(-22.6, abs=0.05)
    sih2 = ss.PRESETS["SiH2 (silylene)"].molecule("sto-3g")
    (_, si), (_, h1), (_, h2) = sih2.atoms
    assert sum((a - b) ** 2 for a, b in zip(si, h1, strict=True)) ** 0.5 == pytest.approx(1.514, abs=1e-9)
    h_h = sum((a - b) ** 2 for a, b in zip(h1, h2, strict=True)) ** 0.5
    assert h_h == pytest.approx(2 * 1.514 * math.sin(math.radians(92.1 / 2)), abs=1e-9)


def test_projected_gap_formula():
    singlet = {"spin": 0, "kind": "UKS broken symmetry", "energy": -1.0, "s2": 1.0, "converged": True,
               "contaminated": True}  # fmt: skip
    triplet = {"spin": 2, "kind": "UKS", "energy": -1.1, "s2": 2.0, "converged": True, "contaminated": False}
    # (E_BS - E_T) <S^2>_T / (<S^2>_T - <S^2>_BS) = 0.1 * 2 / 1
    assert ss.projected_gap(singlet, triplet) == pytest.approx(0.2, abs=1e-12)
    assert ss.projected_gap({**singlet, "kind": "RKS"}, triplet) is None
    (gap,) = ss.gaps([{**triplet, "label": "triplet"}, {**singlet, "label": "singlet"}])  # any order
    assert gap["gap"] == pytest.approx(-0.1, abs=1e-12) and gap["gap_projected"] == pytest.approx(-0.2)


HARTREE_KCAL_MOL = 627.5094740631  # CODATA 2018: 4.3597447222071e-18 J x 6.02214076e23 / 4184 J


def _state(spin, energy, kind, s2, contaminated=False):
    return {"spin": spin, "label": ss.multiplicity_name(spin), "kind": kind, "energy": energy, "s2": s2,
            "converged": energy is not None, "contaminated": contaminated}  # fmt: skip


def test_gap_table_by_hand():
    results = {
        "B3LYP": [_state(0, -39.00, "UKS broken symmetry", 1.0, True), _state(2, -39.02, "UKS", 2.0)],
        "DM21": [_state(0, -39.10, "RKS", 0.0), _state(2, -39.115, "UKS", 2.0)],
    }
    (row,) = ss.gap_table(results, "kcal/mol", ss.PRESETS["CH2 (methylene)"])
    assert list(row) == [
        "gap",
        "B3LYP (kcal/mol)",
        "DM21 (kcal/mol)",
        "B3LYP spin-projected (kcal/mol)",
        "reference (kcal/mol)",
        "B3LYP − reference (kcal/mol)",
        "DM21 − reference (kcal/mol)",
        "computed",
        "reference",
        "source",
    ]
    assert row["gap"] == "E(triplet) − E(singlet)"
    assert row["computed"] == ss.VERTICAL and row["computed"].startswith("vertical")
    # Gaps E(T) - E(S): B3LYP -39.02 - (-39.00) = -0.02 Ha, DM21 -39.115 - (-39.10) = -0.015 Ha.
    assert row["B3LYP (kcal/mol)"] == pytest.approx(-0.02 * HARTREE_KCAL_MOL)
    assert row["DM21 (kcal/mol)"] == pytest.approx(-0.015 * HARTREE_KCAL_MOL)
    # Yamaguchi: E(S) - E(T) = (E_BS - E_T) <S^2>_T / (<S^2>_T - <S^2>_BS) = 0.02 x 2 / 1 = 0.04 Ha, so
    # E(T) - E(S) = -0.04 Ha.
    assert row["B3LYP spin-projected (kcal/mol)"] == pytest.approx(-0.04 * HARTREE_KCAL_MOL)
    # The CH2 preset's reference: -9.0 kcal/mol (Leopold et al. 1985), adiabatic, given in kcal/mol.
    assert row["reference (kcal/mol)"] == pytest.approx(-9.0, abs=1e-12)
    assert row["reference"].startswith("-9 kcal/mol, adiabatic") and "Leopold" in row["source"]
    # Each functional's error against the reference: -0.02 Ha = -12.55 kcal/mol, so -12.55 + 9.0 = -3.55;
    # -0.015 Ha = -9.41 kcal/mol, so -0.41.
    assert row["B3LYP − reference (kcal/mol)"] == pytest.approx(-0.02 * HARTREE_KCAL_MOL + 9.0, abs=1e-9)
    assert row["DM21 − reference (kcal/mol)"] == pytest.approx(-0.015 * HARTREE_KCAL_MOL + 9.0, abs=1e-9)
    assert row["DM21 − reference (kcal/mol)"] == pytest.approx(-0.4126, abs=1e-4)

    # The same in eV: the reference converted (-9.0 kcal/mol = -0.3903 eV), the errors with it.
    (row_ev,) = ss.gap_table(results, "eV", ss.PRESETS["CH2 (methylene)"])
    assert row_ev["reference (eV)"] == pytest.approx(-0.39028, abs=1e-5)
    assert row_ev["DM21 − reference (eV)"] == pytest.approx(-0.4126 / 23.0605, abs=1e-5)

    results["DM21"][1] = _state(2, None, "UKS", None)  # a triplet that failed: no gap, no error
    (row,) = ss.gap_table(results, "Ha", ss.PRESETS["CH2 (methylene)"])
    assert row["DM21 (Ha)"] is None and row["DM21 − reference (Ha)"] is None
    assert row["B3LYP − reference (Ha)"] == pytest.approx(-0.02 + 9.0 / HARTREE_KCAL_MOL, abs=1e-12)
    (row,) = ss.gap_table(results, "Ha")  # no preset: no reference, no error columns
    assert row["reference (Ha)"] is None and row["reference"] == "" and row["source"] == ""
    assert not any("− reference" in column for column in row)
    assert ss.error_columns(["DM21", "PBE"], "eV") == {
        "DM21": "DM21 − reference (eV)",
        "PBE": "PBE − reference (eV)",
    }


def test_vertical_or_atomic_and_the_comparison_note():
    assert ss.computed_kind(ss.PRESETS["CH2 (methylene)"].molecule("sto-3g")) == ss.VERTICAL
    assert ss.computed_kind(ss.PRESETS["C atom"].molecule("sto-3g")) == ss.ATOMIC
    ch2 = ss.PRESETS["CH2 (methylene)"].reference
    note = ss.comparison_note(ss.VERTICAL, ch2)
    assert "**Computed gaps: vertical**" in note and "**Reference: adiabatic" in note and "Leopold" in note
    assert "vertical gap is larger than the adiabatic one" in note
    atom = ss.comparison_note(ss.ATOMIC, ss.PRESETS["C atom"].reference)
    assert "**Computed gaps: atomic**" in atom and "atomic term energy" in atom and "larger" not in atom
    assert ss.comparison_note(ss.VERTICAL, None).endswith("No reference gap for this system.")
    # The reference as a column of the level diagram: CH2's triplet at 0, its singlet 9.0 kcal/mol above.
    levels = ss.reference_levels(ch2, "kcal/mol")
    assert levels["name"] == "reference (adiabatic)"
    assert [(s["label"], s["relative"]) for s in levels["states"]] == [
        ("singlet", pytest.approx(9.0)),
        ("triplet", 0.0),
    ]
    sih2 = ss.reference_levels(ss.PRESETS["SiH2 (silylene)"].reference, "kcal/mol")  # singlet ground state
    assert [(s["label"], s["relative"]) for s in sih2["states"]] == [
        ("singlet", 0.0),
        ("triplet", pytest.approx(21.0)),
    ]
    assert ss.GAP_DECIMALS == {"Ha": 5, "kcal/mol": 2, "kJ/mol": 2, "eV": 3}


# --- SCF: CH2 (6-31G, B3LYP) ---------------------------------------------------------------------


def test_restricted_singlet_and_triplet(ch2, ch2_b3lyp):
    singlet, triplet = ch2_b3lyp[0]
    assert (singlet["kind"], triplet["kind"]) == ("RKS", "UKS")
    assert singlet["converged"] and triplet["converged"]
    assert singlet["s2"] == 0.0 and singlet["s2_expected"] == 0.0 and triplet["s2_expected"] == 2.0
    # UKS triplet: <S^2> slightly above 2 (measured 2.005), well under the 0.1 threshold.
    assert 2.0 < triplet["s2"] < 2.05 and not singlet["contaminated"] and not triplet["contaminated"]
    # Independent: plain PySCF on its default grid (B3LYP moves < 1e-6 Ha between grids; level 1 here).
    closed = dataclasses.replace(ch2, spin=0).to_pyscf()
    assert singlet["energy"] == pytest.approx(dft.RKS(closed, xc="B3LYP").run().e_tot, abs=2e-5)
    assert triplet["energy"] == pytest.approx(dft.UKS(ch2.to_pyscf(), xc="B3LYP").run().e_tot, abs=2e-5)
    # B3LYP puts the triplet below the singlet at the triplet's geometry (measured -31.7 kcal/mol).
    assert triplet["energy"] < singlet["energy"]
    assert ss.contamination_warnings(ch2_b3lyp[0]) == []


def test_broken_symmetry_singlet(ch2_b3lyp):
    (rks, triplet), (bs, triplet_again) = ch2_b3lyp
    assert bs["kind"] == "UKS broken symmetry" and bs["converged"]
    # Variational: the unrestricted singlet is at most the restricted one; at CH2's wide triplet
    # angle the singlet is a diradical and symmetry breaking lowers it (measured by 33 mHa).
    assert bs["energy"] <= rks["energy"] + 1e-7
    assert rks["energy"] - bs["energy"] > 5e-3
    assert 0.5 < bs["s2"] < 1.1 and bs["contaminated"]  # measured 0.928: half triplet
    assert triplet_again == {**triplet, "cached": True}  # the same request comes from the store
    (warning,) = ss.contamination_warnings([bs, triplet], "B3LYP")
    assert warning.startswith("B3LYP: singlet (2S=0) is spin-contaminated") and "broken-symmetry" in warning
    (gap,) = ss.gaps([triplet, bs])
    assert gap["gap"] == triplet["energy"] - bs["energy"]  # exactly the difference
    # The projection moves the gap towards the restricted one's side: singlet higher than the BS.
    assert gap["gap_projected"] < gap["gap"] < 0


def test_contamination_threshold_and_gaps(ch2, store):
    states = ss.spin_states(ch2, "B3LYP", [0, 2, 4], store, grid=LIGHT, threshold=0.001)
    assert [s["spin"] for s in states] == [0, 2, 4] and all(s["converged"] for s in states)
    assert [s["contaminated"] for s in states] == [False, True, True]  # 2.005 - 2 > 0.001
    assert all(s["cached"] for s in states[:2])  # singlet and triplet stored by the fixture
    gaps = ss.gaps(states)
    assert [(g["from"], g["to"]) for g in gaps] == [(0, 2), (2, 4)]
    for g, (a, b) in zip(gaps, zip(states, states[1:], strict=False), strict=True):
        assert g["gap"] == b["energy"] - a["energy"] and g["converged"]
    # Quintet CH2 (2 electrons promoted out of the C-H bonds) lies hartrees above.
    assert gaps[1]["gap"] > 0.2
    # Every state is kept: restricted, broken-symmetry and high-spin CH2 (B3LYP needs no warm start).
    requests = [store.request(row["key"]) for row in store.list("CH2")]
    kinds = {(r["spin"], r["kind"]) for r in requests if r["functional"] == "B3LYP" and r["basis"] == "6-31g"}
    assert kinds == {(0, "RKS"), (0, "UKS"), (2, "UKS"), (4, "UKS")}


def test_odd_electron_count_doublet_quartet(store):
    n_atom = from_library("N", basis="6-31g")
    doublet, quartet = ss.spin_states(n_atom, "B3LYP", "1,3", store, grid=LIGHT)
    assert (doublet["kind"], quartet["kind"]) == ("UKS", "UKS")
    assert doublet["s2_expected"] == 0.75 and quartet["s2_expected"] == 3.75
    assert doublet["converged"] and quartet["converged"] and not quartet["contaminated"]
    # The doublet SCF lands, from run to run, in one of two determinants: three singly occupied p
    # orbitals (two alpha, one beta; <S^2> 1.750, -54.5380 Ha) or a paired p (<S^2> 0.750, -54.4761 Ha).
    # Either way <S^2> is at least S(S+1), and the flag agrees with it.
    assert doublet["s2"] > 0.75 - 1e-3
    assert doublet["contaminated"] == (doublet["s2"] - 0.75 > ss.CONTAMINATION_THRESHOLD)
    assert quartet["energy"] < doublet["energy"] - 0.04  # Hund: 4S ground state (measured 44.8 or 106.8 mHa)


def test_dm21_singlet_and_triplet_of_ch2(store):
    ch2 = from_library("CH2 (triplet)", basis="sto-3g")
    singlet, triplet = ss.spin_states(ch2, "DM21", [0, 2], store, grid=LIGHT)
    assert singlet["converged"] and triplet["converged"]
    assert triplet["s2"] == pytest.approx(2.0, abs=0.05)
    # DM21 also finds the triplet ground state at this geometry (measured -43 kcal/mol, STO-3G, level-3 grid).
    assert -0.1 < triplet["energy"] - singlet["energy"] < -0.01


def test_bad_input_is_one_line(store):
    h2o = parse_atoms("O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", basis="sto-3g")
    with pytest.raises(InputError, match="must be even"):
        ss.spin_states(h2o, "B3LYP", [1], store)
    with pytest.raises(InputError, match="unknown functional"):
        ss.spin_states(h2o, "B3LYPX", [0], store)
    with pytest.raises(InputError, match="more orbitals"):
        ss.spin_states(parse_atoms("He 0 0 0", basis="sto-3g"), "B3LYP", [2], store)


# --- command line ---------------------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "explorer", "spin-states", *args], capture_output=True, text=True, timeout=600
    )


def test_cli_json_shape():
    out = run_cli("--name", "O2", "--basis", "sto-3g", "--functional", "B3LYP", "--grid-level", "1",
                  "--spins", "0,2", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [s["spin"] for s in data["states"]] == [0, 2]
    for state in data["states"]:
        assert {"spin", "energy", "s2", "converged"} <= set(state) and state["converged"]
    (gap,) = data["gaps"]
    assert (gap["from"], gap["to"]) == (0, 2)
    assert gap["gap"] == data["states"][1]["energy"] - data["states"][0]["energy"]
    assert gap["gap"] < 0  # triplet O2 below the closed-shell singlet
    human = run_cli("--name", "O2", "--basis", "sto-3g", "--functional", "B3LYP", "--grid-level", "1")
    assert human.returncode == 0 and "E(triplet) - E(singlet)" in human.stdout and "VWN-RPA" in human.stdout


@pytest.mark.parametrize(
    "args, word",
    [
        (["--name", "O2", "--spins", "1,3"], "2S=1 does not fit 16 electrons"),
        (["--name", "O2", "--spins=-2"], "negative"),
        (["--name", "O2", "--spins", "0,two"], "whole numbers"),
        (["--name", "O2", "--functional", "nonsense"], "unknown functional"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, word):
    out = run_cli(*args, "--basis", "sto-3g", "--json")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_a_state_that_did_not_converge_shows_no_numbers():
    """Issue 17 (6): an unconverged SCF's energy was kept in the state and subtracted in the gaps
    (and shown as "above lowest" and in the highlighted cards). A real result marked unconverged, as
    an SCF that ran out of cycles returns it, must give no energy and no gap."""
    import dataclasses

    from explorer import run_scf

    h = parse_atoms("H 0 0 0", spin=1, basis="6-31g")
    converged = run_scf(h, "B3LYP", grid=LIGHT)
    failed = dataclasses.replace(converged, converged=False)
    good, bad = ss._state(1, False, converged, False, 0.1), ss._state(3, False, failed, False, 0.1)
    assert good["energy"] == converged.energy and good["converged"]
    assert bad["converged"] is False
    assert all(bad[k] is None for k in ("energy", "s2", "homo", "lumo")) and not bad["contaminated"]
    [gap] = ss.gaps([good, bad])
    assert gap["gap"] is None and gap["converged"] is False
