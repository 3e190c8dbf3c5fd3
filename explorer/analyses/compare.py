"""Side-by-side comparison of functionals on one molecule: energies, orbitals (-HOMO against the
experimental ionization energy where the library has one), dipoles, and optionally D3(BJ)
dispersion and atomization energies against reference values.

``compare_functionals`` computes (through the results store, so repeated requests and the free
atoms are computed once) and returns raw rows in Hartree; ``comparison_table`` turns them into a
display table in the user's unit with differences to a baseline functional.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from explorer.chem import dispersion, units
from explorer.chem.molecules import LIBRARY, LibraryEntry, Molecule, atom_molecule
from explorer.engine.grids import GridSpec
from explorer.engine.scf import Result
from explorer.errors import InputError
from explorer.functionals import resolve_list
from explorer.runs.cached import run_scf_reporting


@dataclass
class Row:
    """One functional's results on the molecule (Hartree, Debye, seconds)."""

    functional: str
    result: Result
    cached: bool
    d3: float | None = None
    atoms_energy: float | None = None
    atoms_converged: bool = True

    @property
    def converged(self) -> bool:
        """Whether the molecule's SCF and every free atom's converged."""
        return self.result.converged and self.atoms_converged

    @property
    def energy(self) -> float:
        """Total energy, with the D3(BJ) correction when it was asked for (Hartree)."""
        return self.result.energy + (self.d3 or 0.0)

    @property
    def atomization(self) -> float | None:
        """Sum of free-atom energies minus the molecule's (Hartree; positive when bound)."""
        return None if self.atoms_energy is None else self.atoms_energy - self.energy


def _library_entry(molecule: Molecule) -> LibraryEntry | None:
    """The library entry ``molecule`` is, with its geometry, charge and spin unchanged; else None
    (experimental values hold for that system only)."""
    entry = LIBRARY.get(molecule.name)
    if entry is None:
        return None
    if (tuple(entry.atoms), entry.charge, entry.spin) != (molecule.atoms, molecule.charge, molecule.spin):
        return None
    return entry


def experimental_atomization(molecule: Molecule) -> tuple[float, str] | None:
    """(De in Hartree, source) when ``molecule`` is a library entry with an experimental
    atomization energy and its geometry, charge and spin unchanged; else None."""
    entry = _library_entry(molecule)
    if entry is None or entry.atomization_kcal is None:
        return None
    return units.to_hartree(entry.atomization_kcal, "kcal/mol"), entry.atomization_source


def experimental_ionization(molecule: Molecule) -> tuple[float, str] | None:
    """(first vertical ionization energy in eV, source) when ``molecule`` is a library entry with
    an experimental value and its geometry, charge and spin unchanged; else None."""
    entry = _library_entry(molecule)
    if entry is None or entry.ionization_ev is None:
        return None
    return entry.ionization_ev, entry.ionization_source


def atomization_applies(molecule: Molecule) -> str | None:
    """None when an atomization energy is meaningful for ``molecule``, else the reason it is not."""
    if len(molecule.atoms) < 2:
        return "a single atom has no atomization energy"
    if molecule.charge != 0:
        return "atomization energies are shown for neutral molecules only"
    return None


def comparison_requests(
    molecule: Molecule,
    functionals: list[str],
    *,
    grid: GridSpec | None = None,
    with_atomization: bool = False,
) -> list[dict]:
    """The SCF calculations a comparison needs, each {"label", "molecule", "functional", "grid"}:
    per functional the molecule, then (``with_atomization``) each distinct free atom in its ground
    spin state, same basis and grid. Independent of each other, so they may run in parallel."""
    if not functionals:
        raise InputError("choose at least one functional")
    functionals = [f.name for f in resolve_list(functionals)]
    if with_atomization and (reason := atomization_applies(molecule)):
        raise InputError(reason)
    grid = grid or GridSpec()
    requests = []
    for functional in functionals:
        requests.append({"label": functional, "molecule": molecule, "functional": functional, "grid": grid})
        if with_atomization:
            for symbol in sorted({s for s, _ in molecule.atoms}):
                atom = atom_molecule(symbol, molecule.basis)
                label = f"{functional}: free atom {symbol}"
                requests.append({"label": label, "molecule": atom, "functional": functional, "grid": grid})
    return requests


def run_in_turn(store, requests: list[dict], progress: Callable[[dict], None] | None = None) -> list:
    """Runs ``requests`` (comparison_requests) one after the other in this process through ``store``;
    returns [(Result, cached)] in order."""
    return [
        run_scf_reporting(r["molecule"], r["functional"], store, r["label"], progress, grid=r["grid"])
        for r in requests
    ]


def assemble_rows(
    molecule: Molecule, requests: list[dict], outcomes: list, with_dispersion: bool = False
) -> list[Row]:
    """Rows from the outcomes [(Result, cached)] of comparison_requests: one per functional, with
    D3(BJ) and the sum of free-atom energies (Hartree) when those were asked for."""
    rows: dict[str, Row] = {}
    for request, (result, cached) in zip(requests, outcomes, strict=True):
        functional = request["functional"]
        if request["molecule"] is molecule:
            rows[functional] = Row(functional, result, cached)
            if with_dispersion:
                rows[functional].d3 = dispersion.d3bj_energy(molecule, functional)
        else:
            symbol = request["molecule"].atoms[0][0]
            count = sum(1 for s, _ in molecule.atoms if s == symbol)
            row = rows[functional]
            row.atoms_energy = (row.atoms_energy or 0.0) + count * result.energy
            row.atoms_converged = row.atoms_converged and result.converged
    return list(rows.values())


def compare_functionals(
    molecule: Molecule,
    functionals: list[str],
    store,
    *,
    grid: GridSpec | None = None,
    with_dispersion: bool = False,
    with_atomization: bool = False,
    progress: Callable[[dict], None] | None = None,
    runner: Callable | None = None,
) -> list[Row]:
    """Runs every functional on ``molecule`` (and, with ``with_atomization``, on its free atoms in
    their ground spin states, same basis and grid) through ``store``. ``progress`` receives the SCF
    iteration dicts of run_scf with an added "task" label (e.g. "DM21: free atom O"). ``runner``
    (requests, progress) -> [(Result, cached)] runs the calculations, e.g. explorer.runs.tasks.run_scf_tasks
    on a cluster; default: one after the other in this process (the numbers are the same)."""
    requests = comparison_requests(molecule, functionals, grid=grid, with_atomization=with_atomization)
    if runner is None:
        outcomes = run_in_turn(store, requests, progress)
    else:
        outcomes = runner(requests, progress)
    return assemble_rows(molecule, requests, outcomes, with_dispersion)


def comparison_table(rows: list[Row], baseline: str | None = None, unit: str = "kcal/mol") -> list[dict]:
    """Display rows: total energy and E_xc (Hartree), difference to ``baseline`` (default: the
    first row) and atomization energies in ``unit``, HOMO/LUMO/gap in eV, |dipole| in Debye,
    <S^2>, SCF cycles, basis functions, time (s), whether it converged and whether it came from the
    store (split_table cuts it into parts that fit a screen). The
    numbers of a row whose SCF did not converge (or whose baseline did not) are None: an
    unconverged energy must not be read as a result."""
    if not rows:
        return []
    names = [r.functional for r in rows]
    base = next((r for r in rows if r.functional.lower() == (baseline or names[0]).lower()), None)
    if base is None:
        raise InputError(f"baseline {baseline!r} is not among the functionals run ({', '.join(names)})")
    has_d3 = any(r.d3 is not None for r in rows)
    table = []
    for r in rows:
        res = r.result
        line = {"functional": r.functional, "E (Ha)": res.energy}
        if has_d3:
            line["D3(BJ) (Ha)"] = r.d3
            line["E + D3(BJ) (Ha)"] = r.energy
        line[f"ΔE vs {base.functional} ({unit})"] = units.from_hartree(r.energy - base.energy, unit)
        line["E_xc (Ha)"] = res.e_xc
        line["HOMO (eV)"] = units.from_hartree(res.homo, "eV")
        line["LUMO (eV)"] = units.from_hartree(res.lumo, "eV")
        line["gap (eV)"] = units.from_hartree(res.gap, "eV")
        line["|dipole| (D)"] = float(np.linalg.norm(res.dipole))
        line["<S²>"] = res.s2
        if r.atoms_energy is not None:
            line[f"atomization ({unit})"] = units.from_hartree(r.atomization, unit)
        if not r.converged:
            line = dict.fromkeys(line)
            line["functional"] = r.functional
        elif not base.converged:
            line[f"ΔE vs {base.functional} ({unit})"] = None
        line["SCF cycles"] = res.cycles
        line["basis functions"] = res.n_basis
        line["time (s)"] = res.scf_seconds
        line["converged"] = r.converged
        line["from store"] = r.cached
        table.append(line)
    return table


def atomization_reference(rows: list[Row], molecule: Molecule, unit: str) -> dict | None:
    """The experimental atomization energy in ``unit`` with its source, and each functional's
    error (computed minus experiment), when the library has a value for ``molecule``."""
    reference = experimental_atomization(molecule)
    if reference is None or not any(r.atoms_energy is not None for r in rows):
        return None
    value, source = reference
    errors = {
        r.functional: units.from_hartree(r.atomization - value, unit)
        for r in rows
        if r.atomization is not None and r.converged
    }
    return {"value": units.from_hartree(value, unit), "unit": unit, "source": source, "errors": errors}


def ionization_reference(rows: list[Row], molecule: Molecule) -> dict | None:
    """The experimental first ionization energy (eV) with its source, and each converged
    functional's error -HOMO minus experiment (eV; zero for an exact functional, whose HOMO is minus
    the ionization energy), when the library has a value for ``molecule``."""
    reference = experimental_ionization(molecule)
    if reference is None:
        return None
    value, source = reference
    errors = {
        r.functional: -units.from_hartree(r.result.homo, "eV") - value
        for r in rows
        if r.converged and r.result.homo is not None
    }
    return {"value": value, "unit": "eV", "source": source, "errors": errors}


#: Columns of comparison_table about how a calculation ran rather than about the chemistry.
RUN_COLUMNS = ("SCF cycles", "basis functions", "time (s)", "converged", "from store")


def _is_total_energy(column: str) -> bool:
    # Total energies, their parts and their differences between functionals.
    return column.startswith(("E ", "E_xc", "D3(BJ)", "ΔE"))


def split_table(table: list[dict]) -> dict[str, list[dict]]:
    """comparison_table's rows cut into three tables that each fit a screen, every one keyed by
    "functional": "chemistry" (orbital energies, gap, dipole, <S^2>, atomization energies),
    "energies" (total energies, D3(BJ), E_xc, differences to the baseline) and "run" (RUN_COLUMNS)."""
    parts = {"chemistry": [], "energies": [], "run": []}
    for line in table:
        rest = {k: v for k, v in line.items() if k != "functional"}
        run = {k: v for k, v in rest.items() if k in RUN_COLUMNS}
        energies = {k: v for k, v in rest.items() if k not in run and _is_total_energy(k)}
        chemistry = {k: v for k, v in rest.items() if k not in run and k not in energies}
        for name, columns in (("chemistry", chemistry), ("energies", energies), ("run", run)):
            parts[name].append({"functional": line["functional"], **columns})
    return parts


def error_panels(
    ionization: dict | None, atomization: dict | None, functionals: list[str], unit: str
) -> list[dict]:
    """Per-functional errors against experiment, each {"title" (with unit), "values"} in the order
    of ``functionals`` (None where there is no converged value): -HOMO minus the ionization energy
    (eV) and the atomization energy minus the reference (``unit``), each only when one exists
    (ionization_reference, atomization_reference)."""
    panels = []
    if ionization is not None:
        values = [ionization["errors"].get(f) for f in functionals]
        panels.append({"title": "−HOMO − experimental IE (eV)", "values": values})
    if atomization is not None:
        values = [atomization["errors"].get(f) for f in functionals]
        panels.append({"title": f"atomization − reference ({unit})", "values": values})
    return panels
