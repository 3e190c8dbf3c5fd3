"""Speed benchmark: DM21 against B3LYP on the same molecule, basis and grid, in one process.

For each case the SCF times (``Result.scf_seconds``: grid, warm start and SCF, not the one-off
loading of TensorFlow and the network), their ratio, SCF cycles and the peak resident memory of each
run are measured; optionally DM21's exact path (the reference evaluation: the checkpoint's graph,
exchange integrals recomputed at every iteration, PySCF's default convergence test) is run too and
its energy compared with the fast path's.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from explorer import settings
from explorer.chem.molecules import Molecule, from_library, from_smiles
from explorer.engine import network
from explorer.engine.scf import run_scf
from explorer.errors import InputError


@dataclass(frozen=True)
class Case:
    """One benchmark system: a library name or SMILES, a basis, and a one-line description."""

    name: str
    basis: str
    library: str | None = None
    smiles: str | None = None
    note: str = ""

    def molecule(self) -> Molecule:
        if self.library:
            return from_library(self.library, self.basis)
        return from_smiles(self.smiles, basis=self.basis)


#: The issue's cases (15): drug-sized molecules in def2-SVP. Estradiol (20 heavy atoms, 400 basis
#: functions, 412,400 grid points) needs 3.3e10 exchange integrals per omega and pass (265 GB packed,
#: so evaluated directly at every iteration): long on 2 cores, so run it deliberately.
CASES = {
    "water": Case("water", "cc-pvdz", library="water", note="H2O, 24 basis functions"),
    "benzene": Case("benzene", "cc-pvdz", library="benzene", note="C6H6, 114 basis functions"),
    "caffeine": Case(
        "caffeine", "def2-svp", smiles="CN1C=NC2=C1C(=O)N(C(=O)N2C)C", note="C8H10N4O2, 14 heavy atoms"
    ),
    "aspirin": Case("aspirin", "def2-svp", smiles="CC(=O)OC1=CC=CC=C1C(=O)O", note="C9H8O4, 13 heavy atoms"),
    "estradiol": Case(
        "estradiol",
        "def2-svp",
        smiles="C[C@]12CC[C@H]3[C@@H](CCc4cc(O)ccc34)[C@@H]1CC[C@@H]2O",
        note="C18H24O2, 20 heavy atoms (long)",
    ),
}
#: Small systems for a time-against-basis-size curve (water in growing bases).
SCALING = [Case(f"water/{b}", b, library="water") for b in ("sto-3g", "6-31g", "cc-pvdz", "aug-cc-pvdz")]
#: A size series for the scaling exponent: linear alkanes in 6-31G* (C2 to C16).
ALKANES = [
    Case(f"C{n}H{2 * n + 2}", "6-31g*", smiles="C" * n, note=f"n-alkane, {n} carbons")
    for n in (2, 4, 8, 12, 16)
]


def fitted_exponent(sizes, seconds) -> float:
    """The exponent p of seconds ~ c * size^p, fitted by least squares to the logarithms (the slope of
    log t against log size); needs two or more distinct sizes."""
    import numpy as np

    x, y = np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(seconds, dtype=float))
    if len(set(x.tolist())) < 2:
        raise InputError("a scaling exponent needs at least two different sizes")
    return float(np.polyfit(x, y, 1)[0])


def series_exponents(rows: list[dict]) -> dict:
    """Fitted exponents of SCF time against the number of basis functions for DM21 and B3LYP over the
    rows of one series (run_case rows)."""
    sizes = [r["n_basis"] for r in rows]
    return {
        "size": "basis functions",
        "dm21": fitted_exponent(sizes, [r["dm21"]["scf_seconds"] for r in rows]),
        "b3lyp": fitted_exponent(sizes, [r["b3lyp"]["scf_seconds"] for r in rows]),
    }


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_memory(interval: float = 0.02):
    """Samples the resident set size while the block runs; yields a dict whose "peak_mb" (MB) is
    filled in at exit."""
    out = {"peak_mb": 0.0}
    done = threading.Event()

    def sample():
        peak = _rss_bytes()
        while not done.wait(interval):
            peak = max(peak, _rss_bytes())
        out["peak_mb"] = max(peak, _rss_bytes()) / 1e6

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()


def _timed(molecule: Molecule, functional: str, repeat: int = 1, **options) -> dict:
    """One SCF, run ``repeat`` times: the median time, the last run's other figures."""
    times = []
    for _ in range(repeat):
        with peak_memory() as memory:
            result = run_scf(molecule, functional, **options)
        times.append(result.scf_seconds)
    return {
        "energy": result.energy,
        "converged": result.converged,
        "scf_seconds": statistics.median(times),
        "all_seconds": times,
        "cycles": result.cycles,
        "peak_rss_mb": memory["peak_mb"],
    }


def _warm_up(functional: str) -> None:
    """One-off costs (loading the network, PySCF's and libxc's first calls) kept out of timings."""
    network.load_network(functional)
    tiny = from_library("H2", "sto-3g")
    run_scf(tiny, "B3LYP")
    run_scf(tiny, functional)


def run_case(
    case: Case, functional: str = "DM21", exact: bool = False, progress=None, repeat: int = 1
) -> dict:
    """Times B3LYP and ``functional`` (and its exact path if ``exact``) on ``case``, the median of
    ``repeat`` runs each; seconds, MB, Hartree. B3LYP is PySCF's VWN-RPA flavour."""
    molecule = case.molecule()
    mol = molecule.to_pyscf()
    _warm_up(functional)
    tell = progress or (lambda message: None)
    tell(f"{case.name}: B3LYP")
    b3lyp = _timed(molecule, "B3LYP", repeat)
    tell(f"{case.name}: {functional} (fast path)")
    fast = _timed(molecule, functional, repeat)
    out = {
        "case": case.name,
        "basis": case.basis,
        "n_atoms": len(molecule.atoms),
        "n_basis": mol.nao_nr(),
        "functional": functional,
        "b3lyp": b3lyp,
        "dm21": fast,
        "ratio": fast["scf_seconds"] / b3lyp["scf_seconds"],
        "memory_budget_mb": settings.memory_budget_mb(),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,  # KiB on Linux
    }
    if exact:
        tell(f"{case.name}: {functional} (exact path)")
        out["dm21_exact"] = _timed(molecule, functional, exact=True)
        out["fast_minus_exact"] = fast["energy"] - out["dm21_exact"]["energy"]
    return out


def blas_kernels() -> list[dict]:
    """The BLAS libraries loaded in this process (threadpoolctl): file, name, version and the kernel
    set each runs, with $OPENBLAS_CORETYPE (None where unset). It matters: the network's float32
    products run 1.8x faster with OpenBLAS's AVX-512 kernels (SkylakeX) than with the AVX2 ones
    (Haswell) that OPENBLAS_CORETYPE=Haswell imposes (210 against 118 GFLOP/s per core here)."""
    from threadpoolctl import threadpool_info

    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return [
        {
            "file": os.path.basename(lib["filepath"]),
            "library": lib.get("internal_api"),
            "version": lib.get("version"),
            "kernels": lib.get("architecture"),
            "OPENBLAS_CORETYPE": coretype,
        }
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def run(
    names: list[str],
    functional: str = "DM21",
    exact: bool = False,
    scaling: bool = False,
    progress=None,
    repeat: int = 1,
    alkanes: int = 0,
) -> dict:
    """Runs the named cases of CASES (and the basis-size series if ``scaling``, the first ``alkanes``
    members of ALKANES with the fitted exponents if that is two or more), ``repeat`` times each."""
    if repeat < 1:
        raise InputError(f"--repeat must be at least 1, got {repeat}")
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise InputError(f"unknown benchmark case {unknown[0]!r}: choose from {', '.join(CASES)}")
    t0 = time.perf_counter()
    cases = [run_case(CASES[n], functional, exact, progress, repeat) for n in names]
    series = [run_case(c, functional, False, progress, repeat) for c in SCALING] if scaling else []
    chain = [run_case(c, functional, False, progress, repeat) for c in ALKANES[:alkanes]]
    return {
        "cases": cases,
        "scaling": series,
        "alkanes": chain,
        "alkane_exponents": series_exponents(chain) if len(chain) >= 2 else None,
        "wall_seconds": time.perf_counter() - t0,
        "blas": blas_kernels(),
    }


#: The gradient check's molecules and coordinates (atom, axis): closed shells and a non-degenerate
#: open shell (a radical with a degenerate pi hole has SCF solutions a grid error apart).
GRADIENT_CASES = {
    "water": ((0, 2), (1, 1), (1, 2)),
    "ammonia": ((0, 2), (1, 0), (1, 2)),
    "CH2 (triplet)": ((0, 2), (1, 1), (1, 2)),
}


def gradient_check(networks, basis: str = "6-31g", progress=None) -> dict:
    """Analytic DM21 gradients against central differences of the SCF energy (engine.gradients:
    finite_difference_gradient, its step and grid treatment) for each network of ``networks`` and
    each molecule of GRADIENT_CASES in ``basis``. Each row: the largest |analytic - numeric| and the
    differences per coordinate (Hartree/bohr), the largest summed force and torque, seconds."""
    import numpy as np

    from explorer.engine import gradients

    rows = []
    for name in networks:
        for case, coordinates in GRADIENT_CASES.items():
            if progress:
                progress(f"{case}: {name} gradient and {2 * len(coordinates)} displaced SCFs")
            molecule = from_library(case, basis)
            t0 = time.perf_counter()
            result, analytic = gradients.scf_gradient(molecule, name)
            numeric = gradients.finite_difference_gradient(molecule, name, list(coordinates))
            diffs = [float(analytic[a, x] - v) for (a, x), v in zip(coordinates, numeric, strict=True)]
            coords = molecule.to_pyscf().atom_coords()
            torque = np.cross(coords - coords.mean(axis=0), analytic).sum(axis=0)
            rows.append(
                {
                    "network": name,
                    "molecule": case,
                    "kind": result.kind,
                    "coordinates": [list(c) for c in coordinates],
                    "differences": diffs,
                    "largest": max(abs(d) for d in diffs),
                    "force_sum": float(np.abs(analytic.sum(axis=0)).max()),
                    "torque_sum": float(np.abs(torque).max()),
                    "seconds": time.perf_counter() - t0,
                }
            )
    return {"basis": basis, "step_bohr": gradients.CHECK_STEP, "rows": rows}
