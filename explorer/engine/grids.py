"""The integration grid: one spec shared by every functional in a comparison.

DM21 is far more sensitive to the grid than classical functionals: its SCF energy moves by up to
4e-4 Ha between PySCF 2.4's and 2.14's default level-3 grids, where B3LYP moves by 1e-9. The
reference spec ("dm21") rebuilds the grid DM21's published numbers were computed on:

- PySCF's level-L Treutler-Ahlrichs/Becke grid with the radial grids PySCF used before it made the
  Treutler-Ahlrichs parameters element-specific (``radi.ATOM_SPECIFIC_TREUTLER_GRIDS = False``);
- pruned once, as PySCF 2.4 did by default: points where the total (alpha + beta) density of the
  minao initial guess, times the weight, is below 1e-7 / N_points are dropped. PySCF skips the
  pruning when that density does not integrate to the electron count (ions).

The "pyscf" spec is PySCF 2.14's own default grid, unpruned, for comparison.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
from pyscf import dft, scf
from pyscf.dft import radi

from explorer.errors import InputError

GRID_SPECS = ("dm21", "pyscf")
#: Density threshold of PySCF 2.4's default pruning (``small_rho_cutoff``).
PRUNE_THRESHOLD = 1e-7

# The radial-grid switch is a module global of PySCF: hold this lock while it is changed.
_radial_switch_lock = threading.Lock()


@dataclass(frozen=True)
class GridSpec:
    """How to build a grid: PySCF grid level (0-9), spec name, and whether to prune by density."""

    level: int = 3
    spec: str = "dm21"
    prune: bool = True

    def __post_init__(self):
        if self.spec not in GRID_SPECS:
            raise InputError(f"unknown grid spec {self.spec!r}: choose one of {', '.join(GRID_SPECS)}")
        if not (isinstance(self.level, int) and 0 <= self.level <= 9):
            raise InputError(f"grid level must be an integer from 0 to 9, got {self.level!r}")

    def as_dict(self) -> dict:
        """The spec as plain data (for result records and cache keys)."""
        return {"level": self.level, "spec": self.spec, "prune": self.prune}


@contextlib.contextmanager
def _element_independent_treutler_radii():
    """Sets PySCF's radial grids to the pre-2.5 Treutler-Ahlrichs form, restoring them after."""
    with _radial_switch_lock:
        saved = radi.ATOM_SPECIFIC_TREUTLER_GRIDS
        radi.ATOM_SPECIFIC_TREUTLER_GRIDS = False
        try:
            yield
        finally:
            radi.ATOM_SPECIFIC_TREUTLER_GRIDS = saved


def build_grids(mol, spec: GridSpec | None = None) -> dft.Grids:
    """Builds the integration grid of ``spec`` for ``mol`` (coordinates in bohr, weights in bohr^3).

    The grid is complete (coordinates, weights and screening mask set), so a KS object given it
    never rebuilds or re-prunes it.
    """
    spec = spec or GridSpec()
    grids = dft.Grids(mol)
    grids.level = spec.level
    if spec.spec == "dm21":
        with _element_independent_treutler_radii():
            grids.build(with_non0tab=True)
        if spec.prune:
            dm = scf.hf.init_guess_by_minao(mol)
            rho = dft.numint.NumInt().get_rho(mol, dm, grids)
            grids.prune_by_density_(rho, PRUNE_THRESHOLD)
    else:
        grids.build(with_non0tab=True)
    return grids


def grid_from_arrays(mol, coords: np.ndarray, weights: np.ndarray) -> dft.Grids:
    """Wraps given points (N, 3) in bohr and weights (N,) in bohr^3 as a PySCF grid, unpruned."""
    coords = np.ascontiguousarray(coords, dtype=float)
    weights = np.ascontiguousarray(weights, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 3 or weights.shape != (coords.shape[0],):
        raise InputError(
            f"grid arrays must be coords (N, 3) and weights (N,), got {coords.shape} and {weights.shape}"
        )
    if not (np.isfinite(coords).all() and np.isfinite(weights).all()):
        raise InputError("grid coordinates and weights must be finite numbers")
    grids = dft.Grids(mol)
    grids.coords = coords
    grids.weights = weights
    grids.non0tab = grids.make_mask(mol, coords)
    grids.screen_index = grids.non0tab
    return grids
