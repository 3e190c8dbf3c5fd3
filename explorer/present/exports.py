"""Exports: tables as CSV and JSON, and a standalone Python script that reproduces a comparison
with the project's API."""

from __future__ import annotations

import csv
import io
import json

from explorer.chem.molecules import Molecule
from explorer.engine.grids import GridSpec


def table_csv(rows: list[dict]) -> str:
    """The table (a list of dicts) as CSV text with a header line; the columns are every key in
    order of first appearance, blank where a row lacks one."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def table_json(rows: list[dict], **metadata) -> str:
    """The table as JSON: {"metadata": {...}, "rows": [...]} (metadata e.g. molecule, units)."""
    return json.dumps({"metadata": metadata, "rows": rows}, indent=2)


def comparison_script(
    molecule: Molecule,
    functionals: list[str],
    *,
    grid: GridSpec | None = None,
    with_dispersion: bool = False,
    with_atomization: bool = False,
    baseline: str | None = None,
    unit: str = "kcal/mol",
) -> str:
    """Python source that recomputes a comparison with explorer's API and prints its table as
    JSON. Run it with the project's environment: ``.venv/bin/python script.py``."""
    grid = grid or GridSpec()
    atoms = ",\n".join(f"        ({s!r}, ({x!r}, {y!r}, {z!r}))" for s, (x, y, z) in molecule.atoms)
    label = f"{molecule.name or molecule.formula()} ({molecule.basis})"
    return f'''"""Reproduces a DM21 Explorer comparison of {label}.

Run with the DM21 Explorer environment: .venv/bin/python this_script.py
"""

import json

from explorer import GridSpec, Molecule, ResultsStore
from explorer.analyses.compare import comparison_table, compare_functionals

molecule = Molecule(
    atoms=(
{atoms},
    ),
    charge={molecule.charge},
    spin={molecule.spin},  # 2S, the number of unpaired electrons
    basis={molecule.basis!r},
    name={molecule.name!r},
)
rows = compare_functionals(
    molecule,
    {list(functionals)!r},
    ResultsStore(),  # the shared results database: identical requests answer at once
    grid=GridSpec(level={grid.level}, spec={grid.spec!r}, prune={grid.prune}),
    with_dispersion={with_dispersion},
    with_atomization={with_atomization},
)
table = comparison_table(rows, baseline={baseline!r}, unit={unit!r})
print(json.dumps(table, indent=2))
'''
