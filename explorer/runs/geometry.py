"""Geometry jobs through the results store: optimisations, frequency calculations and the gradients
of a frequency stencil, each computed once and kept as a record (explorer.runs.store, records table).

``run_stored`` is the one path: it keys the request (explorer.runs.request.geometry_request), answers
from the store when it can, and otherwise claims the key, computes and stores a successful result
(an unconverged optimisation is never stored). ``displaced_gradient`` is one point of a frequency
stencil as a task function (explorer.runs.tasks.fan_out runs it on a worker); the optimisation and
frequency jobs themselves are in explorer.analyses.geometry, which uses both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explorer.chem.molecules import Molecule
from explorer.engine.gradients import scf_gradient
from explorer.engine.grids import GridSpec
from explorer.engine.scf import Result
from explorer.runs.cached import WAITING
from explorer.runs.request import geometry_request


def run_stored(
    job: str,
    molecule: Molecule,
    functional: str,
    store,
    compute: Callable[[], tuple[dict, bool]],
    *,
    grid: GridSpec | None = None,
    options: dict | None = None,
    progress: Callable[[dict], None] | None = None,
    task: str = "",
) -> tuple[dict, bool]:
    """(record, cached) of a geometry ``job`` on ``molecule``: the stored record of the same request
    (geometry_request(job, molecule, functional, grid, options)) if there is one, else ``compute()``
    run once under the store's claim on the key; it returns (JSON-ready record, keep), and only
    records with ``keep`` true are stored. ``progress`` (if given) is told when this waits for
    another session computing the same request; its ``check()``, if it has one, is called while
    waiting, so that the wait can be cancelled like a computation."""
    request, key = geometry_request(job, molecule, functional, grid=grid, options=options)
    stored = store.get_record(key)
    if stored is not None:
        return stored, True

    def waiting(holder: dict) -> None:
        if progress is not None:
            progress({"stage": WAITING, "task": task})

    with store.exclusive(key, on_wait=waiting, check=getattr(progress, "check", None)):
        stored = store.get_record(key)  # computed by whoever held the claim before us
        if stored is not None:
            return stored, True
        record, keep = compute()
        if keep:
            store.put_record(key, request, record, molecule.formula(), name=molecule.name)
    return record, False


def displaced_gradient(
    *,
    store,
    progress: Callable[[dict], None] | None = None,
    molecule: Molecule,
    functional: str,
    grid: GridSpec | None = None,
    reference: Molecule | None = None,
    task: str = "",
) -> dict:
    """One point of a finite-difference stencil, through ``store``: the SCF and nuclear gradient of
    ``molecule`` (explorer.engine.gradients.scf_gradient) on the grid of ``reference`` (the stencil's
    centre) moved with the atoms. Returns {"result": the SCF Result's dict (energy Ha, dipole Debye,
    ...), "gradient": (n_atoms, 3) list in Hartree/bohr, "cached": bool}. ``progress`` receives the
    SCF iterations labelled {"task": task}. A task function for explorer.runs.tasks.fan_out."""

    def tell(message: dict) -> None:
        if progress is not None:
            progress({**message, "task": task})

    def compute() -> tuple[dict, bool]:
        result, gradient = scf_gradient(
            molecule, functional, grid=grid, grid_reference=reference, callback=tell
        )
        return {"result": result.to_dict(), "gradient": np.asarray(gradient).tolist()}, True

    options = {"reference": None if reference is None else _atoms(reference)}
    record, cached = run_stored(
        "gradient",
        molecule,
        functional,
        store,
        compute,
        grid=grid,
        options=options,
        progress=progress,
        task=task,
    )
    return record | {"cached": cached}


def gradient_pair(record: dict) -> tuple[Result, np.ndarray]:
    """(Result, gradient array) of a displaced_gradient record."""
    return Result.from_dict(record["result"]), np.asarray(record["gradient"], dtype=float)


def _atoms(molecule: Molecule) -> list:
    return [[s, [round(float(c), 8) + 0.0 for c in xyz]] for s, xyz in molecule.atoms]
