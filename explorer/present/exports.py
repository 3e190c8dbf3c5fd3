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


#: The exported script's code. Nothing of the user's reaches it but the JSON text that replaces
#: REQUEST_TEXT, written as a Python string literal by repr(): a name can hold quotes, backslashes or
#: newlines and still be only data.
_SCRIPT = """\
\"\"\"Reproduces a DM21 Explorer comparison: the molecule and options are the data in REQUEST.

Run with the DM21 Explorer environment: .venv/bin/python this_script.py
\"\"\"

import json

from explorer import GridSpec, Molecule, ResultsStore, compare_functionals, comparison_table

REQUEST = json.loads(REQUEST_TEXT)

molecule = Molecule(
    atoms=tuple((symbol, tuple(xyz)) for symbol, xyz in REQUEST["molecule"]["atoms"]),
    charge=REQUEST["molecule"]["charge"],
    spin=REQUEST["molecule"]["spin"],  # 2S, the number of unpaired electrons
    basis=REQUEST["molecule"]["basis"],
    name=REQUEST["molecule"]["name"],
)
rows = compare_functionals(
    molecule,
    REQUEST["functionals"],
    ResultsStore(),  # the shared results database: identical requests answer at once
    grid=GridSpec(**REQUEST["grid"]),
    with_dispersion=REQUEST["with_dispersion"],
    with_atomization=REQUEST["with_atomization"],
)
table = comparison_table(rows, baseline=REQUEST["baseline"], unit=REQUEST["unit"])
print(json.dumps(table, indent=2))
"""


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
    """Python source that recomputes a comparison with explorer's public API and prints its table as
    JSON. Run it with the project's environment: ``.venv/bin/python script.py``. The request is data
    (JSON in a string literal), so no text of the user's can change the script's code."""
    request = {
        "molecule": {
            "atoms": [[symbol, [float(c) for c in xyz]] for symbol, xyz in molecule.atoms],
            "charge": int(molecule.charge),
            "spin": int(molecule.spin),
            "basis": str(molecule.basis),
            "name": str(molecule.name),
        },
        "functionals": [str(f) for f in functionals],
        "grid": (grid or GridSpec()).as_dict(),
        "with_dispersion": bool(with_dispersion),
        "with_atomization": bool(with_atomization),
        "baseline": None if baseline is None else str(baseline),
        "unit": str(unit),
    }
    return _SCRIPT.replace("REQUEST_TEXT", repr(json.dumps(request)), 1)
