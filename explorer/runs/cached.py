"""SCF runs through the results store: computed once, by one process, and served after that.

``run_scf_stored`` keys the request (explorer.runs.request), answers from the store when it can, and
otherwise claims the key, computes and stores the converged result. ``run_scf_reporting`` is the one
path by which a run tells its progress: every SCF iteration, waiting for another session, and its
outcome, as dicts labelled with the task's name (the pages, the CLI and the Dask tasks all use it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explorer import functionals
from explorer.chem.molecules import Molecule
from explorer.engine.grids import GridSpec
from explorer.engine.scf import Result, run_scf
from explorer.functionals import Functional
from explorer.runs.request import scf_request

#: Progress message sent while another session computes the same request.
WAITING = "waiting for the same calculation in another session"
#: Stages of a run's last message.
OUTCOMES = ("from the store", "done", "NOT converged")


def run_scf_stored(
    molecule: Molecule,
    functional: Functional | str,
    store,
    *,
    kind: str | None = None,
    grid: GridSpec | None = None,
    warm_start: str | None = "B3LYP",
    occupations: tuple | None = None,
    dm0: np.ndarray | None = None,
    callback: Callable[[dict], None] | None = None,
    on_wait: Callable[[dict], None] | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[Result, bool]:
    """run_scf through a results store (explorer.runs.store.ResultsStore): returns (result, cached),
    ``cached`` True when an identical request was already stored or was computed meanwhile by
    another session or process (which this call then waited for; ``on_wait`` is told when waiting
    starts; ``check`` at every look at the claim while waiting: it raises to stop). Only converged
    results are stored. A start density ``dm0`` (e.g. a neighbouring point's, in scans) replaces the
    warm start; a digest of it goes into the key."""
    functional = functionals.resolve(functional)
    options = {"kind": kind, "grid": grid or GridSpec(), "warm_start": warm_start, "occupations": occupations}
    request, key = scf_request(molecule, functional, dm0=dm0, **options)
    stored = _stored_result(store, key)
    if stored is not None:
        return stored, True
    with store.exclusive(key, on_wait=on_wait, check=check):
        stored = _stored_result(store, key)  # computed by whoever held the claim before us
        if stored is not None:
            return stored, True
        result = run_scf(molecule, functional, dm0=dm0, callback=callback, **options)
        if result.converged:
            store.put(key, request, result.to_dict(), molecule.formula(), result.dm, name=molecule.name)
    return result, False


def run_scf_reporting(
    molecule: Molecule,
    functional: Functional | str,
    store,
    task: str,
    progress: Callable[[dict], None] | None,
    **options,
) -> tuple[Result, bool]:
    """run_scf_stored (``options`` are its keywords) telling ``progress`` what happens, each message
    a dict labelled {"task": task}: every SCF iteration (run_scf's callback dict), waiting for
    another session, and the outcome (its "stage" one of OUTCOMES). A ``progress`` with a ``check()``
    method (a task's reporter) has it called while waiting for another session, so that waiting can
    be cancelled or timed out like computing."""

    def tell(message: dict) -> None:
        if progress is not None:
            progress({**message, "task": task})

    def waiting(holder: dict) -> None:
        tell({"stage": WAITING})

    check = getattr(progress, "check", None)
    result, cached = run_scf_stored(
        molecule, functional, store, callback=tell, on_wait=waiting, check=check, **options
    )
    stage = "from the store" if cached else ("done" if result.converged else "NOT converged")
    tell({"stage": stage, "energy": result.energy})
    return result, cached


def _stored_result(store, key: str) -> Result | None:
    stored = store.get(key)
    return None if stored is None else Result.from_dict(stored)
