"""Comparisons, units, D3(BJ) and exports: the API, the CLI and the exported script agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import InputError, Molecule, ResultsStore, from_library, parse_atoms
from explorer.analyses.compare import (
    RUN_COLUMNS,
    compare_functionals,
    comparison_table,
    error_panels,
    experimental_atomization,
    experimental_ionization,
    ionization_reference,
    split_table,
)
from explorer.chem import units
from explorer.chem.dispersion import d3bj_energy
from explorer.engine.grids import GridSpec
from explorer.present.exports import comparison_script, table_csv, table_json
from explorer.present.plots import (
    REFERENCE_COLOR,
    difference_bar_figure,
    functional_color,
    orbital_levels_figure,
    property_bars_figure,
)

ROOT = Path(__file__).resolve().parents[2]
GRID = GridSpec(level=1)  # small grid: these tests check plumbing, not grid convergence


def test_units_follow_codata():
    # CODATA: 1 Eh = 27.211386246 eV = 2625.4996 kJ/mol; 1 kcal = 4.184 kJ (thermochemical).
    assert units.from_hartree(1.0, "eV") == pytest.approx(27.211386246, rel=1e-10)
    assert units.from_hartree(1.0, "kJ/mol") == pytest.approx(2625.4996, rel=1e-7)
    assert units.from_hartree(1.0, "kcal/mol") == pytest.approx(2625.4996 / 4.184, rel=1e-7)
    assert units.to_hartree(units.from_hartree(0.3, "kcal/mol"), "kcal/mol") == pytest.approx(0.3, rel=1e-15)
    with pytest.raises(InputError, match="unknown energy unit"):
        units.from_hartree(1.0, "Rydberg")


def test_d3bj_decays_as_r6_and_dm21_uses_b3lyp_parameters():
    def neon_pair(r):
        return parse_atoms(f"Ne 0 0 0; Ne 0 0 {r}")

    # Far apart the C6/R^6 term dominates (the C8/R^8 one adds ~6% at 12 A, ~1.5% at 24 A; dftd3
    # cuts pairs off beyond ~26 A).
    far, farther = d3bj_energy(neon_pair(12.0), "B3LYP"), d3bj_energy(neon_pair(24.0), "B3LYP")
    assert far < 0 and far / farther == pytest.approx(2**6 * 1.06 / 1.015, rel=0.02)
    water = from_library("water")
    assert d3bj_energy(water, "DM21") == d3bj_energy(water, "B3LYP")
    assert d3bj_energy(water, "PBE") != d3bj_energy(water, "B3LYP")
    with pytest.raises(InputError, match="no D3"):
        d3bj_energy(water, "no-such-functional")


def test_bad_comparison_requests_are_clear(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite3")
    water = from_library("water", basis="sto-3g")
    with pytest.raises(InputError, match="at least one"):
        compare_functionals(water, [], store)
    with pytest.raises(InputError, match="neutral"):
        compare_functionals(from_library("OH-", basis="sto-3g"), ["PBE"], store, with_atomization=True)
    rows = compare_functionals(water, ["PBE"], store, grid=GRID)
    with pytest.raises(InputError, match="baseline"):
        comparison_table(rows, baseline="B3LYP")


def test_experimental_atomization_only_for_unchanged_library_geometry():
    water = from_library("water")
    value, source = experimental_atomization(water)
    assert units.from_hartree(value, "kcal/mol") == pytest.approx(232.97, abs=0.01) and "W4-11" in source
    moved = parse_atoms(water.atom_string().replace("0.75", "0.80"), basis=water.basis, name="water")
    assert experimental_atomization(moved) is None


def test_minus_homo_is_compared_with_the_experimental_ionization_energy(tmp_path):
    """For the exact functional -HOMO is the first ionization energy. On the H atom Hartree-Fock is
    exact but for the basis (cc-pVDZ: E = HOMO = -0.49928 Ha), B3LYP's self-interaction lifts the
    HOMO by several eV and DM21, trained on fractional charges, lies in between."""
    h = from_library("H", basis="cc-pvdz")
    rows = compare_functionals(h, ["HF", "B3LYP", "DM21"], ResultsStore(tmp_path / "r.sqlite3"), grid=GRID)
    reference = ionization_reference(rows, h)
    assert reference["value"] == pytest.approx(13.5984) and "NIST" in reference["source"]
    errors = reference["errors"]
    # (13.5984 eV is the measured IE, with the proton's finite mass; 0.5 Ha = 13.6057 eV is not.)
    assert errors["HF"] == pytest.approx(units.from_hartree(0.49928, "eV") - 13.5984, abs=0.002)
    assert errors["B3LYP"] < -4.0
    assert errors["B3LYP"] + 2.0 < errors["DM21"] < 0.0
    # Figure data for the errors plot, in the order asked for; None where there is no value.
    panels = error_panels(reference, None, ["DM21", "PBE", "HF"], "kcal/mol")
    assert panels == [
        {"title": "−HOMO − experimental IE (eV)", "values": [errors["DM21"], None, errors["HF"]]}
    ]
    # Experimental values hold for the library's system only: not for an ion, a moved geometry or
    # a molecule without a value.
    assert experimental_ionization(from_library("water"))[0] == pytest.approx(12.621)
    assert experimental_ionization(from_library("OH-")) is None
    moved = parse_atoms("H 0 0 0; H 0 0 0.80", name="H2")
    assert experimental_ionization(moved) is None
    assert experimental_ionization(from_library("benzene")) is None


def test_split_table_keeps_every_column_once_with_chemistry_first(tmp_path):
    water = from_library("water", basis="sto-3g")
    rows = compare_functionals(
        water, ["B3LYP", "PBE"], ResultsStore(tmp_path / "r.sqlite3"), grid=GRID, with_dispersion=True
    )
    table = comparison_table(rows, "B3LYP", "kJ/mol")
    parts = split_table(table)
    assert list(parts) == ["chemistry", "energies", "run"]
    assert list(parts["chemistry"][0]) == [
        "functional", "HOMO (eV)", "LUMO (eV)", "gap (eV)", "|dipole| (D)", "<S²>",
    ]  # fmt: skip
    assert list(parts["energies"][0]) == [
        "functional", "E (Ha)", "D3(BJ) (Ha)", "E + D3(BJ) (Ha)", "ΔE vs B3LYP (kJ/mol)", "E_xc (Ha)",
    ]  # fmt: skip
    assert list(parts["run"][0]) == ["functional", *RUN_COLUMNS]
    for i, line in enumerate(table):
        merged = {k: v for part in parts.values() for k, v in part[i].items()}
        assert merged == line and merged["functional"] == line["functional"]
        # Every column in exactly one part (besides the functional, which keys all three).
        assert sum(len(part[i]) - 1 for part in parts.values()) == len(line) - 1
    assert [r["basis functions"] for r in parts["run"]] == [7, 7]  # water/STO-3G: 5 (O) + 2 (H)


def test_compare_figures_use_the_functional_colours_units_and_legends(tmp_path):
    h = from_library("H", basis="cc-pvdz")
    rows = compare_functionals(h, ["HF", "B3LYP"], ResultsStore(tmp_path / "r.sqlite3"), grid=GRID)
    table = comparison_table(rows, unit="eV")
    names = [line["functional"] for line in table]
    reference = ionization_reference(rows, h)
    levels = orbital_levels_figure(
        names, [r["HOMO (eV)"] for r in table], [r["LUMO (eV)"] for r in table], reference["value"]
    )
    assert levels.layout.yaxis.title.text == "orbital energy (eV)"
    assert [t.line.color for t in levels.data[:2]] == [functional_color("HF"), functional_color("B3LYP")]
    assert [t.name for t in levels.data] == ["HF", "B3LYP", "−IE, experiment (13.60 eV)"]
    # HOMO first, then LUMO, each as a level across its column; the reference at -IE, dashed grey.
    assert levels.data[0].y[0] == pytest.approx(table[0]["HOMO (eV)"])
    assert levels.data[0].y[3] == pytest.approx(table[0]["LUMO (eV)"])
    assert list(levels.data[2].y) == [-13.5984, -13.5984] and levels.data[2].line.color == REFERENCE_COLOR
    gaps = [a.text for a in levels.layout.annotations if a.text.startswith("gap")]
    assert gaps == [f"gap {r['gap (eV)']:.2f} eV" for r in table]

    panels = [{"title": "|dipole| (D)", "values": [0.0, 0.0]}, *error_panels(reference, None, names, "eV")]
    bars = property_bars_figure(names, panels)
    assert bars.layout.yaxis.title.text == "|dipole| (D)"
    assert bars.layout.yaxis2.title.text == "−HOMO − experimental IE (eV)"
    assert [(t.name, t.marker.color, t.showlegend) for t in bars.data] == [
        ("HF", functional_color("HF"), True),
        ("HF", functional_color("HF"), False),
        ("B3LYP", functional_color("B3LYP"), True),
        ("B3LYP", functional_color("B3LYP"), False),
    ]
    delta = "ΔE vs HF (eV)"
    difference = difference_bar_figure(names, [r[delta] for r in table], delta)
    assert difference.layout.yaxis.title.text == delta and difference.layout.xaxis.title.text == "functional"
    assert [(t.name, t.marker.color) for t in difference.data] == [
        ("HF", functional_color("HF")),
        ("B3LYP", functional_color("B3LYP")),
    ]


def test_exported_script_cli_and_api_agree(tmp_path):
    water = from_library("water", basis="sto-3g")
    functionals = ["B3LYP", "PBE"]
    rows = compare_functionals(water, functionals, ResultsStore(tmp_path / "api.sqlite3"), grid=GRID)
    api = comparison_table(rows, unit="eV")

    script = tmp_path / "reproduce.py"
    script.write_text(comparison_script(water, functionals, grid=GRID, unit="eV"))
    env = dict(os.environ, DM21_EXPLORER_DB=str(tmp_path / "script.sqlite3"))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    from_script = json.loads(run.stdout)

    env["DM21_EXPLORER_DB"] = str(tmp_path / "cli.sqlite3")
    cli = subprocess.run(
        [sys.executable, "-m", "explorer", "compare", "--name", "water", "--basis", "sto-3g"]
        + ["--functionals", "B3LYP,PBE", "--unit", "eV", "--grid-level", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    from_cli = json.loads(cli.stdout)["table"]
    for a, b, c in zip(api, from_script, from_cli, strict=True):
        assert a["functional"] == b["functional"] == c["functional"]
        # Three independent SCF runs from scratch: agreement to SCF convergence (conv_tol 1e-9).
        assert b["E (Ha)"] == pytest.approx(a["E (Ha)"], abs=1e-8)
        assert c["E (Ha)"] == pytest.approx(a["E (Ha)"], abs=1e-8)
        assert c["ΔE vs B3LYP (eV)"] == pytest.approx(a["ΔE vs B3LYP (eV)"], abs=1e-6)

    csv_lines = table_csv(api).splitlines()
    assert csv_lines[0].startswith("functional,E (Ha)") and len(csv_lines) == 3
    assert json.loads(table_json(api, unit="eV"))["rows"][1]["functional"] == "PBE"


def test_cli_compare_bad_unit_is_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "explorer", "compare", "--name", "water", "--unit", "furlong"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "unknown energy unit" in run.stderr


HOSTILE_NAMES = [
    '""";__import__("os").system("echo INJECTED");"""',
    "\\N",
    "'''; raise SystemExit(3); '''",
    "a\nimport os; os.system('echo INJECTED')\n#",
    "\\",
    "{unit}{0}%s",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_exported_script_keeps_user_text_out_of_its_code(name):
    """Issue 17 (4): a molecule's name (from an XYZ comment line, shared through the store) must
    never change the exported script's code: it compiles, and the name comes back as data."""
    import ast

    molecule = Molecule(atoms=(("H", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 0.74))), basis="sto-3g", name=name)
    source = comparison_script(molecule, ["B3LYP"], grid=GRID, baseline=name, unit="kcal/mol")
    tree = ast.parse(source)  # a SyntaxError fails the test
    calls = [n.func for n in ast.walk(tree) if isinstance(n, ast.Call)]
    called = {getattr(f, "id", None) or getattr(f, "attr", None) for f in calls}
    assert called <= {"loads", "Molecule", "GridSpec", "ResultsStore", "compare_functionals",
                      "comparison_table", "print", "dumps", "tuple"}  # fmt: skip
    namespace = {}
    data_lines = source[: source.index("molecule = ")]
    exec(compile(data_lines, "<script header>", "exec"), namespace)  # imports and the data only
    assert namespace["REQUEST"]["molecule"]["name"] == name
    assert namespace["REQUEST"]["baseline"] == name
