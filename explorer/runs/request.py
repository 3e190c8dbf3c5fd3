"""What identifies a calculation: its canonical request and the key it is stored and shared under.

The key is the SHA-256 of the request as canonical JSON: geometry (Angstrom, rounded to 1e-8),
charge, 2S, basis, functional, SCF kind, grid spec, warm start (or a digest of the start density),
fixed occupations and the engine version. The results store, the Dask tasks and the CLI all key
requests here, so identical requests meet and different ones never do.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from explorer import functionals
from explorer.chem.molecules import Molecule
from explorer.engine.grids import GridSpec
from explorer.engine.scf import resolve_kind
from explorer.functionals import Functional

#: Bump when a change to the engine can change stored numbers: old entries then stop matching.
ENGINE_VERSION = "3"


def canonical_request(
    molecule: Molecule,
    functional: str,
    kind: str,
    grid: dict,
    warm_start: str | None,
    occupations=None,
) -> dict:
    """The inputs that determine a result, as plain JSON-ready data."""
    return {
        "atoms": [[s, [round(float(c), 8) + 0.0 for c in xyz]] for s, xyz in molecule.atoms],
        "charge": molecule.charge,
        "spin": molecule.spin,
        "basis": molecule.basis.lower(),
        "functional": functional,
        "kind": kind,
        "grid": grid,
        "warm_start": warm_start,
        "occupations": None if occupations is None else [np.asarray(o, float).tolist() for o in occupations],
        "engine": ENGINE_VERSION,
    }


def request_key(request: dict) -> str:
    """SHA-256 of the request's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def array_digest(array: np.ndarray) -> str:
    """A short SHA-256 digest of ``array`` rounded to 1e-8 (a start density's identity in a key)."""
    rounded = np.ascontiguousarray(np.round(np.asarray(array, dtype=float), 8))
    return hashlib.sha256(rounded.tobytes()).hexdigest()[:16]


def scf_request(
    molecule: Molecule,
    functional: Functional | str,
    *,
    kind: str | None = None,
    grid: GridSpec | None = None,
    warm_start: str | None = "B3LYP",
    occupations=None,
    dm0: np.ndarray | None = None,
) -> tuple[dict, str]:
    """(canonical request, store key) of run_scf(molecule, functional, ...) with these options.

    Only DM21 runs use a warm start; its canonical name keeps "b3lyp" and "B3LYP" one key. A start
    density ``dm0`` can decide which SCF solution is found (stretched bonds), so it replaces the warm
    start in the key: a scan repeated along the same path finds its points, another path does not.
    """
    functional = functionals.resolve(functional)
    kind = resolve_kind(molecule, kind, occupations)
    grid = grid or GridSpec()
    warm = functionals.resolve(warm_start).name if functional.is_dm21 and warm_start else None
    if dm0 is not None:
        warm = "start density " + array_digest(dm0)
    request = canonical_request(molecule, functional.name, kind, grid.as_dict(), warm, occupations)
    return request, request_key(request)


#: What a geometry job is: an optimisation, a frequency calculation, or one gradient of a stencil.
GEOMETRY_JOBS = ("optimize", "frequencies", "gradient")
#: Bump when the geometry jobs' procedure (optimiser settings, stencil, analysis) changes their numbers.
GEOMETRY_VERSION = "1"


def geometry_request(
    job: str,
    molecule: Molecule,
    functional: Functional | str,
    *,
    grid: GridSpec | None = None,
    options: dict | None = None,
) -> tuple[dict, str]:
    """(canonical request, store key) of a geometry ``job`` (one of GEOMETRY_JOBS) started from
    ``molecule``'s geometry: the SCF request's fields (geometry, charge, 2S, basis, functional, kind,
    grid, warm start, engine version) plus the job, its ``options`` (JSON-ready: steps, stencil
    step, reference geometry) and GEOMETRY_VERSION."""
    if job not in GEOMETRY_JOBS:
        raise ValueError(f"unknown geometry job {job!r}")
    request, _ = scf_request(molecule, functional, grid=grid)
    request = request | {"job": job, "options": options or {}, "geometry_version": GEOMETRY_VERSION}
    return request, request_key(request)
