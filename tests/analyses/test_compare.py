"""Comparisons, units, D3(BJ) and exports: the API, the CLI and the exported script agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import InputError, Molecule, ResultsStore, from_library, parse_atoms
from explorer.analyses.compare import compare_functionals, comparison_table, experimental_atomization
from explorer.chem import units
from explorer.chem.dispersion import d3bj_energy
from explorer.engine.grids import GridSpec
from explorer.present.exports import comparison_script, table_csv, table_json

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
