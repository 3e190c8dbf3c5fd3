"""Fractional charge, fractional spin and bond scans: occupation rule, exact limits, the physics DM21
was trained on (piecewise-linear E(N), flat fractional spin) and the command line.

Small bases (6-31G, STO-3G) and the level-1 grid keep the file near a minute on 2 cores; the
numbers quoted in comments were measured with exactly these settings.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from pyscf.lib import param

from explorer.analyses import fractional as fr
from explorer.chem.molecules import parse_atoms
from explorer.engine.grids import GridSpec
from explorer.errors import InputError
from explorer.runs.cached import run_scf_stored

LIGHT = GridSpec(level=1)
H2_TEMPLATE = "H 0 0 0; H 0 0 {r}"


@pytest.fixture(scope="module")
def h_atom():
    return parse_atoms("H 0 0 0", basis="6-31g")


@pytest.fixture(scope="module")
def charge_curves(h_atom, store):
    """E(N) of the H atom at N = 0, 0.25, ..., 2 (9 points) for three functionals."""
    return {f: fr.fractional_charge(h_atom, f, store, points=9, grid=LIGHT) for f in ("HF", "B3LYP", "DM21")}


@pytest.fixture(scope="module")
def spin_curves(h_atom, store):
    return {f: fr.fractional_spin(h_atom, f, store, points=3, grid=LIGHT) for f in ("HF", "B3LYP", "DM21")}


# --- occupation rule (no SCF) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "atoms, spin, delta, alpha, beta",
    [
        ("H 0 0 0", 1, -1.0, [], []),  # trailing zeros are left out
        ("H 0 0 0", 1, -0.25, [0.75], []),  # N in [0, 1]: alpha N, beta 0
        ("H 0 0 0", 1, 0.5, [1.0], [0.5]),  # N in [1, 2]: alpha 1, beta N - 1
        ("He 0 0 0", 0, -0.5, [1.0], [0.5]),  # closed shell: removed from beta ...
        ("He 0 0 0", 0, 0.5, [1.0, 0.5], [1.0]),  # ... and added to alpha
        ("Li 0 0 0", 1, -0.5, [1.0, 0.5], [1.0]),  # n_alpha > n_beta: removed from alpha ...
        ("Li 0 0 0", 1, 0.5, [1.0, 1.0], [1.0, 0.5]),  # ... added to beta
        ("H 0 0 0; H 0 0 0.74", 0, -0.5, [1.0], [0.5]),
        ("O 0 0 0; O 0 0 1.21", 2, -0.3, [1.0] * 8 + [0.7], [1.0] * 7),  # triplet O2: 9 alpha, 7 beta
        ("O 0 0 0; O 0 0 1.21", 2, 0.3, [1.0] * 9, [1.0] * 7 + [0.3]),
    ],
)
def test_charge_occupation_rule(atoms, spin, delta, alpha, beta):
    molecule = parse_atoms(atoms, spin=spin, basis="sto-3g")
    a, b = fr.charge_occupations(molecule, delta)
    assert a == pytest.approx(alpha) and b == pytest.approx(beta)
    assert sum(a) + sum(b) == pytest.approx(molecule.n_electrons + delta, abs=1e-12)


def test_occupation_totals_and_limits():
    for atoms, spin in (("H 0 0 0", 1), ("Li 0 0 0", 1), ("N 0 0 0", 3), ("H 0 0 0; F 0 0 0.92", 0)):
        molecule = parse_atoms(atoms, spin=spin, basis="sto-3g")
        for delta in np.linspace(-1, 1, 9):
            a, b = fr.charge_occupations(molecule, delta)
            assert sum(a) + sum(b) == pytest.approx(molecule.n_electrons + delta, abs=1e-12)
            assert all(0 <= x <= 1 for x in a + b)
    h = parse_atoms("H 0 0 0", basis="sto-3g")
    with pytest.raises(InputError, match="between -1 and 1"):
        fr.charge_occupations(h, 1.5)
    with pytest.raises(InputError, match="no electron"):
        fr.charge_occupations(parse_atoms("H 0 0 0", charge=1, basis="sto-3g"), -0.5)


def test_spin_occupations():
    h = parse_atoms("H 0 0 0", basis="sto-3g")
    assert fr.spin_occupations(h, 0.3) == (pytest.approx([0.7]), pytest.approx([0.3]))
    assert fr.spin_occupations(h, 0.0) == fr.charge_occupations(h, 0.0) == ([1.0], [])
    li = parse_atoms("Li 0 0 0", basis="sto-3g")
    assert fr.spin_occupations(li, 0.5) == ([1.0, 0.5], [1.0, 0.5])
    o2 = parse_atoms("O 0 0 0; O 0 0 1.21", spin=2, basis="sto-3g")
    a, b = fr.spin_occupations(o2, 0.25)  # same orbital index (the 9th) in both channels
    assert a == [1.0] * 8 + [0.75] and b == [1.0] * 7 + [0.0, 0.25]
    with pytest.raises(InputError, match=r"unpaired electron \(2S >= 1\)"):
        fr.spin_occupations(parse_atoms("He 0 0 0", basis="sto-3g"), 0.5)
    with pytest.raises(InputError, match=r"unpaired electron \(2S >= 1\)"):
        fr.fractional_spin(parse_atoms("He 0 0 0", basis="sto-3g"), "B3LYP", None)


# --- no electrons, store keys --------------------------------------------------------------------


def test_no_electrons_is_the_nuclear_repulsion(store):
    h = parse_atoms("H 0 0 0", basis="sto-3g")
    (point,) = fr.fractional_charge(h, "DM21", store, deltas=[-1.0], grid=LIGHT)
    # A bare proton: no electrons, no nuclear repulsion, energy exactly 0.
    assert point == {
        **point,
        "n_electrons": 0.0,
        "energy": 0.0,
        "converged": True,
        "homo": None,
        "lumo": None,
    }
    h2plus = parse_atoms("H 0 0 0; H 0 0 1.0", charge=1, spin=1, basis="sto-3g")
    (point,) = fr.fractional_charge(h2plus, "B3LYP", store, deltas=[-1.0], grid=LIGHT)
    # Two bare protons 1 A apart: 1/R with R in bohr (PySCF's Bohr radius), to rounding.
    assert point["energy"] == pytest.approx(param.BOHR / 1.0, rel=1e-12) and point["converged"]


def test_start_density_gets_its_own_key(store):
    h = parse_atoms("H 0 0 0", basis="sto-3g")
    plain, cached = run_scf_stored(h, "B3LYP", store, grid=LIGHT)
    assert not cached
    again, cached = run_scf_stored(h, "B3LYP", store, grid=LIGHT, dm0=plain.dm)
    assert not cached and again.energy == pytest.approx(plain.energy, abs=1e-8)
    assert run_scf_stored(h, "B3LYP", store, grid=LIGHT, dm0=plain.dm)[1]
    # Another start density is another request: the path can decide the state (stretched bonds).
    other, cached = run_scf_stored(h, "B3LYP", store, grid=LIGHT, dm0=plain.dm * 0.9)
    assert not cached
    requests = [store.request(row["key"]) for row in store.list("H")]
    starts = {r["warm_start"] for r in requests if r["basis"] == "sto-3g" and not r["occupations"]}
    assert len({w for w in starts if w and w.startswith("start density ")}) == 2


# --- physics on the H atom (6-31G, level-1 grid) -------------------------------------------------


def test_fractional_charge_points(charge_curves):
    for functional, points in charge_curves.items():
        assert [p["n_electrons"] for p in points] == pytest.approx(np.linspace(0, 2, 9)), functional
        assert all(p["converged"] and math.isfinite(p["energy"]) for p in points), functional
        assert points[0]["energy"] == 0.0 and points[0]["homo"] is None


def test_b3lyp_is_convex_hf_concave_dm21_nearly_linear(charge_curves):
    lin = {f: fr.linearity(points) for f, points in charge_curves.items()}
    b3lyp = lin["B3LYP"]
    # B3LYP's delocalization error: both segments convex, every fractional point below the line
    # (measured: -43.4 mHa at N = 0.5, curvature +0.34 and +0.29 Ha/e^2).
    assert all(s["curvature"] > 0.1 for s in b3lyp["segments"])
    assert all(d < -1e-3 for d, p in zip(b3lyp["deviations"], charge_curves["B3LYP"], strict=True)
               if p["n_electrons"] % 1)  # fmt: skip
    assert b3lyp["sign"] == -1 and b3lyp["max_abs_deviation"] > 0.03
    hf = lin["HF"]
    zero_one, one_two = hf["segments"]
    # One electron: Coulomb and exchange cancel exactly in HF, so E(N) is linear on [0, 1] (to
    # the SCF convergence); on [1, 2] HF is concave, points above the line (measured +5.0 mHa).
    assert zero_one["max_abs_deviation"] < 1e-7
    assert one_two["curvature"] < -0.01 and one_two["max_deviation"] > 3e-3
    # The paper's claim: DM21 much closer to linear (measured 6.1 mHa vs B3LYP's 43.4 mHa).
    assert lin["DM21"]["max_abs_deviation"] * 3 < b3lyp["max_abs_deviation"]


def test_ionization_and_affinity(charge_curves):
    hf = fr.ionization_and_affinity(charge_curves["HF"])
    # Koopmans is exact for one-electron HF: -HOMO equals IP = -E(H) (E(N=0) = 0).
    assert hf["minus_homo"] == pytest.approx(hf["ip"], abs=1e-6)
    assert hf["ip"] == pytest.approx(-charge_curves["HF"][4]["energy"], abs=1e-12)
    b3lyp = fr.ionization_and_affinity(charge_curves["B3LYP"])
    assert b3lyp["minus_homo"] < b3lyp["ip"] - 0.1  # measured 0.316 vs 0.500 Ha: B3LYP's -HOMO is far off


def test_linearity_on_synthetic_curves():
    points = [{"n_electrons": n, "energy": n * n} for n in (0.0, 0.5, 1.0, 1.5, 2.0)]
    lin = fr.linearity(points)
    assert [s["curvature"] for s in lin["segments"]] == pytest.approx([2.0, 2.0])
    assert lin["deviations"] == pytest.approx([0, -0.25, 0, -0.25, 0])
    assert lin["max_deviation"] == pytest.approx(-0.25) and lin["sign"] == -1
    missing_end = fr.linearity(points[:4])  # N = 2 missing: only the [0, 1] segment
    assert len(missing_end["segments"]) == 1 and missing_end["deviations"][3] is None
    assert fr.linearity([{"n_electrons": 0.5, "energy": 1.0}])["max_deviation"] is None


HARTREE_EV = 27.211386245988  # CODATA 2018, Hartree energy in eV
HARTREE_KCAL_MOL = 627.5094740631  # CODATA 2018: 4.3597447222071e-18 J x 6.02214076e23 / 4184 J


def _charge_point(n, energy, homo=None, lumo=None, converged=True):
    return {"delta": n - 1.0, "n_electrons": n, "energy": energy, "homo": homo, "lumo": lumo,
            "converged": converged}  # fmt: skip


def test_charge_table_by_hand():
    # E(N) at N = 0, 0.5, 1, 1.5, 2 (Hartree), a one-electron system (N0 = 1); HOMO/LUMO at N = 1.
    curve = [
        _charge_point(0.0, 0.0),
        _charge_point(0.5, -0.3),
        _charge_point(1.0, -0.5, homo=-0.4, lumo=-0.05),
        _charge_point(1.5, -0.53),
        _charge_point(2.0, -0.6),
    ]
    no_anion = curve[:4] + [_charge_point(2.0, None, converged=False)]
    x, y = fr.charge_table({"X": curve, "Y": no_anion}, unit="Ha")
    assert x["functional"] == "X"
    # Segment [0, 1]: line at N = 0.5 is -0.25, E = -0.3: deviation -0.05. Segment [1, 2]: line at 1.5 is
    # -0.55, E = -0.53: +0.02. Largest |deviation| 0.05 Ha.
    assert x["max |deviation| (Ha)"] == pytest.approx(0.05, abs=1e-12)
    # Quadratic through (0, 0), (0.5, -0.3), (1, -0.5): E = 0.2 N^2 - 0.7 N, d2E/dN2 = 0.4. Through
    # (1, -0.5), (1.5, -0.53), (2, -0.6): E = -0.08 m^2 - 0.02 m - 0.5 (m = N - 1), d2E/dN2 = -0.16.
    assert x["curvature N=0..1 (Ha)"] == pytest.approx(0.4, abs=1e-9)
    assert x["curvature N=1..2 (Ha)"] == pytest.approx(-0.16, abs=1e-9)
    # IP = E(0) - E(1) = 0.5 Ha, EA = E(1) - E(2) = 0.1 Ha, -HOMO = 0.4 Ha, -LUMO = 0.05 Ha; in eV.
    assert x["IP (eV)"] == pytest.approx(0.5 * HARTREE_EV)
    assert x["EA (eV)"] == pytest.approx(0.1 * HARTREE_EV)
    assert x["-HOMO (eV)"] == pytest.approx(0.4 * HARTREE_EV)
    assert x["-LUMO (eV)"] == pytest.approx(0.05 * HARTREE_EV)
    # The anion did not converge: only the [0, 1] segment, no EA.
    assert y["max |deviation| (Ha)"] == pytest.approx(0.05, abs=1e-12)
    assert "curvature N=1..2 (Ha)" not in y and y["EA (eV)"] is None
    (in_kcal,) = fr.charge_table({"X": curve}, unit="kcal/mol")
    assert in_kcal["max |deviation| (kcal/mol)"] == pytest.approx(0.05 * HARTREE_KCAL_MOL)


def test_spin_fraction_table_by_hand():
    fractions, energies = [0.0, 0.25, 0.5, 0.75, 1.0], [-0.5, -0.49, -0.47, -0.48, -0.5]
    curve = [
        {"fraction": f, "energy": e, "converged": True} for f, e in zip(fractions, energies, strict=True)
    ]
    failed = [dict(p) for p in curve]
    failed[2]["energy"], failed[2]["converged"] = None, False
    x, y = fr.spin_fraction_table({"X": curve, "Y": failed}, unit="kcal/mol")
    # E(f=0.5) - E(0) = -0.47 - (-0.5) = 0.03 Ha.
    assert x == {
        "functional": "X",
        "E(f=0.5) - E(0) (kcal/mol)": pytest.approx(0.03 * HARTREE_KCAL_MOL),
        "E(f=0) (Ha)": -0.5,
    }
    assert y["E(f=0.5) - E(0) (kcal/mol)"] is None


def test_scan_table_by_hand():
    def point(r, e, converged=True):
        return {"value": r, "energy": e, "converged": converged}

    curves = {
        "B3LYP": [point(1.0, -0.6), point(4.0, -0.52)],
        "DM21": [point(1.0, -0.59), point(4.0, -0.4, converged=False)],
    }
    rows = fr.scan_table(curves, unit="Ha", exact_limit=-0.5)
    # E - limit = E - (-0.5): -0.1 and -0.02 (B3LYP), -0.09 (DM21); an unconverged point is no result.
    assert [r["r (A)"] for r in rows] == [1.0, 4.0]
    assert [r["B3LYP E - limit (Ha)"] for r in rows] == pytest.approx([-0.1, -0.02], abs=1e-12)
    assert rows[0]["DM21 E - limit (Ha)"] == pytest.approx(-0.09, abs=1e-12)
    assert rows[1]["DM21 E (Ha)"] is None and rows[1]["DM21 E - limit (Ha)"] is None
    assert list(fr.scan_table(curves, unit="Ha")[0]) == ["r (A)", "B3LYP E (Ha)", "DM21 E (Ha)"]  # no limit


def test_fractional_spin(spin_curves):
    for functional in ("HF", "B3LYP"):
        e = [p["energy"] for p in spin_curves[functional]]
        # Spin-flip symmetry of the functional, same grid, SCF converged to 1e-9 Ha.
        assert e[2] == pytest.approx(e[0], abs=1e-6)
    b3lyp = [p["energy"] for p in spin_curves["B3LYP"]]
    dm21 = [p["energy"] for p in spin_curves["DM21"]]
    # The DM21 networks are not exactly symmetric under swapping alpha and beta (measured
    # E(f=1) - E(f=0) = -0.2 mHa here); 1 mHa bounds it.
    assert dm21[2] == pytest.approx(dm21[0], abs=1e-3)
    # Static correlation: B3LYP's spin-symmetric H is 57 mHa too high; DM21's within 0.1 mHa.
    assert b3lyp[1] - b3lyp[0] > 0.04
    assert abs(dm21[1] - dm21[0]) < (b3lyp[1] - b3lyp[0]) / 10


# --- scans ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("functional", ["B3LYP", "DM21"])
def test_h2_plus_scan_converges_and_is_stored(functional, store):
    kwargs = {"charge": 1, "spin": 1, "basis": "6-31g", "grid": LIGHT}
    points = fr.scan(H2_TEMPLATE, [1.0, 2.0, 4.0], functional, store, **kwargs)
    assert [p["value"] for p in points] == [1.0, 2.0, 4.0]
    assert all(p["converged"] and math.isfinite(p["energy"]) and not p["cached"] for p in points)
    again = fr.scan(H2_TEMPLATE, [1.0, 2.0, 4.0], functional, store, **kwargs)
    assert all(p["cached"] for p in again)
    assert [p["energy"] for p in again] == [p["energy"] for p in points]
    stretched = points[-1]["energy"]
    # Exact limit -0.5 Ha; 6-31G puts the H atom 1.8 mHa above it. Delocalization error sends B3LYP
    # far below (measured -0.562 Ha at 4 A); DM21 stays near (measured -0.501 Ha).
    if functional == "B3LYP":
        assert stretched < -0.55
    else:
        assert abs(stretched - (-0.5)) < 0.01


def test_h2_unrestricted_dissociates_restricted_does_not(store):
    atom = run_scf_stored(parse_atoms("H 0 0 0", basis="6-31g"), "B3LYP", store, grid=LIGHT)[0].energy
    common = {"basis": "6-31g", "grid": LIGHT}
    # Steps as in the app's presets: each point starts from its neighbour (broken symmetry for UKS).
    values = [0.74, 1.5, 2.5, 4.0]
    uks = fr.scan(H2_TEMPLATE, values, "B3LYP", store, kind="UKS", **common)
    rks = fr.scan(H2_TEMPLATE, values, "B3LYP", store, kind="RKS", **common)
    assert all(p["converged"] for p in uks + rks)
    # Near equilibrium both are the same closed-shell solution (<S^2> = 0).
    assert uks[0]["energy"] == pytest.approx(rks[0]["energy"], abs=1e-7) and abs(uks[0]["s2"]) < 1e-6
    # At 4 A the broken-symmetry guess reaches two H atoms (<S^2> near 1, measured 1.000, energy
    # within 0.1 mHa of twice the atom); restricted stays ~95 mHa above (static correlation error).
    assert uks[-1]["s2"] > 0.9 and uks[-1]["energy"] == pytest.approx(2 * atom, abs=1e-3), (uks, atom)
    assert rks[-1]["energy"] - 2 * atom > 0.05


def test_bad_templates_are_one_line_input_errors(store):
    for template, match in (("H 0 0 0; H 0 0 1", r"\{r\}"), ("H 0 0 0; Xx 0 0 {r}", "element")):
        with pytest.raises(InputError, match=match) as info:
            fr.scan(template, [1.0], "B3LYP", store, basis="sto-3g")
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="too close"):
        fr.scan(H2_TEMPLATE, [1.0, 0.1], "B3LYP", store, basis="sto-3g")


def test_presets_are_complete():
    for name, preset in fr.DISSOCIATION_PRESETS.items():
        assert "{r}" in preset["template"] and preset["limit_source"], name
        molecules = fr.scan_geometries(
            preset["template"], preset["values"], charge=preset["charge"], spin=preset["spin"], basis="sto-3g"
        )
        assert len(molecules) == len(preset["values"]) >= 10
    assert fr.DISSOCIATION_PRESETS["H2+"]["exact_limit"] == -0.5
    assert fr.DISSOCIATION_PRESETS["He2+"]["exact_limit"] == pytest.approx(-4.903724, abs=1e-6)


# --- command line ---------------------------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=600
    )


B3LYP_LIGHT = ["--functional", "B3LYP", "--grid-level", "1", "--json"]


def test_cli_fractional_charge_json():
    out = run_cli(
        "fractional-charge", "--atoms", "H 0 0 0", "--basis", "6-31g", "--points", "5", *B3LYP_LIGHT
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [p["delta"] for p in data["points"]] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    for p in data["points"]:
        assert {"delta", "n_electrons", "energy", "converged", "homo", "lumo"} <= set(p) and p["converged"]
    assert data["linearity"]["sign"] == -1 and data["linearity"]["max_abs_deviation"] > 0.03


def test_cli_fractional_spin_and_scan_json():
    out = run_cli("fractional-spin", "--atoms", "H 0 0 0", "--basis", "sto-3g", "--points", "3", *B3LYP_LIGHT)
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)["points"]
    assert [p["fraction"] for p in points] == [0.0, 0.5, 1.0] and all(p["converged"] for p in points)
    out = run_cli(
        "scan", "--atoms", H2_TEMPLATE, "--values", "1.0,2.0", "--charge", "1", "--spin", "1",
        "--basis", "sto-3g", *B3LYP_LIGHT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)["points"]
    assert [p["value"] for p in points] == [1.0, 2.0] and all(p["converged"] for p in points)
    assert all(math.isfinite(p["energy"]) for p in points)


@pytest.mark.parametrize(
    "args, word",
    [
        (["scan", "--atoms", "H 0 0 0; H 0 0 1", "--values", "1"], "{r}"),
        (["scan", "--atoms", H2_TEMPLATE, "--values", "1,x"], "--values"),
        (["scan", "--preset", "N2++"], "preset"),
        (["fractional-spin", "--atoms", "He 0 0 0"], "unpaired"),
        (["fractional-charge", "--atoms", "H 0 0 0", "--kind", "RKS"], "UKS"),
        (["fractional-charge", "--atoms", "H 0 0 0", "--points", "1"], "points"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, word):
    out = run_cli(*args, "--basis", "sto-3g", "--functional", "B3LYP", "--json")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in out.stderr
    assert out.stdout == ""


@pytest.mark.slow
def test_integer_points_keep_the_lower_of_neighbour_and_independent_starts(store):
    """Issue 17 (11): H atom, aug-cc-pVTZ, DM21, 9 points. Started from its neighbour's density
    (N = 1.75), N = 2 converged to an excited SCF solution of H-, 1.3 mHa above the official
    implementation's value for the same occupations (measured here: -0.5309245 against -0.5322403 Ha
    from an independent start). Whole-N points now try both starts and keep the lower energy."""
    from explorer import run_scf

    h = parse_atoms("H 0 0 0", spin=1, basis="aug-cc-pvtz")
    points = fr.fractional_charge(h, "DM21", store, points=9)
    anion = points[-1]
    independent = run_scf(h, "DM21", occupations=fr.charge_occupations(h, 1.0))
    assert independent.converged and anion["converged"] and anion["n_electrons"] == 2
    assert anion["energy"] == pytest.approx(independent.energy, abs=1e-7)
    assert set(anion["start_energies"]) == {"neighbour", "independent"}
    assert anion["energy"] == min(anion["start_energies"].values())
    # The deviation from linearity uses the lowest energies: the last segment's end is the anion's.
    assert fr.linearity(points)["segments"][-1]["n_right"] == 2
