"""DM21's inputs on grid points: spin densities, their gradients, kinetic energy densities and the
local Hartree-Fock exchange energy densities (the expensive part). Atomic units throughout.

Local HF exchange (Kirkpatrick et al. 2021, supplementary material). For a spin density matrix D
and a two-electron kernel v (1/r for omega = 0, erf(omega r)/r otherwise), with AOs chi,

    nu_bd(r)  = integral chi_b(r') v(r, r') chi_d(r') dr'
    E_b(r)    = sum_a D_ab chi_a(r)
    F_b(r)    = sum_d nu_bd(r) E_d(r)
    e_x(r)    = -1/2 sum_b E_b(r) F_b(r)          (integrates to -1/2 tr(D K[D]))

and its derivative, needed for the potential, is d e_x(r) / d D_ab = -chi_a(r) F_b(r) (for a
symmetric D). The nu integrals do not depend on the density, so they can be kept between SCF
iterations (ExchangeIntegralCache).
"""

from __future__ import annotations

import threading

import numpy as np
from pyscf import lib
from pyscf.dft import numint

from explorer.network import HFX_OMEGAS


def spin_densities(mol, ao: np.ndarray, dm: np.ndarray, mask) -> np.ndarray:
    """Density of one spin channel on a block of points: rows rho, d/dx, d/dy, d/dz, tau.

    ``ao`` is (4, N, nao) (values and first derivatives), ``dm`` the (nao, nao) spin density
    matrix. tau is 1/2 sum_i n_i |grad phi_i|^2. Units: electrons/bohr^3, /bohr^4, Hartree/bohr^3.
    """
    # with_lapl=False: otherwise PySCF 2.14 returns six rows, a (zero) Laplacian before tau.
    return numint.eval_rho(mol, ao, dm, mask, xctype="MGGA", hermi=1, with_lapl=False)


def exchange_integrals(mol, coords: np.ndarray, omega: float) -> np.ndarray:
    """nu_bd(r) for each point r of ``coords`` (N, 3) in bohr: an (N, nao, nao) array, 1/bohr.

    omega = 0 is the Coulomb kernel 1/r; omega > 0 the long-range kernel erf(omega r)/r.
    """
    with mol.with_range_coulomb(omega):
        return mol.intor("int1e_grids", hermi=1, grids=coords)


def local_exchange(nu: np.ndarray, ao_values: np.ndarray, dm: np.ndarray):
    """Local HF exchange energy density e_x (N,) in Hartree/bohr^3 and F (N, nao), see module doc.

    ``nu`` is (N, nao, nao) from exchange_integrals, ``ao_values`` (N, nao), ``dm`` a spin density
    matrix (nao, nao).
    """
    e = lib.dot(ao_values, dm)
    f = np.matmul(nu, e[:, :, None])[:, :, 0]
    exx = -0.5 * np.einsum("gb,gb->g", e, f)
    return exx, f


def network_features(rho_a: np.ndarray, rho_b: np.ndarray, exx_a: np.ndarray, exx_b: np.ndarray):
    """Assembles the network's input dictionary from spin densities (5, N) and exchange (N, 2)."""
    grad_a, grad_b = rho_a[1:4], rho_b[1:4]
    grad = grad_a + grad_b
    return {
        "rho_a": rho_a[0],
        "rho_b": rho_b[0],
        "tau_a": rho_a[4],
        "tau_b": rho_b[4],
        "norm_grad_rho_a": np.einsum("xg,xg->g", grad_a, grad_a),
        "norm_grad_rho_b": np.einsum("xg,xg->g", grad_b, grad_b),
        "norm_grad_rho": np.einsum("xg,xg->g", grad, grad),
        "hfxa": exx_a,
        "hfxb": exx_b,
    }


class ExchangeIntegralCache:
    """Keeps the nu integrals of each grid block for one molecule and grid, within a byte budget.

    Blocks that do not fit are recomputed at each use. Safe to share between threads.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._owner = None
        self._blocks: dict[int, list[np.ndarray]] = {}
        self._bytes = 0

    def get(self, mol, grids, block: int, coords: np.ndarray) -> list[np.ndarray]:
        """The nu integrals at ``coords`` for every omega of HFX_OMEGAS, from the cache if held."""
        owner = (mol, grids, grids.coords)
        with self._lock:
            if not self._owned_by(owner):
                self._owner, self._blocks, self._bytes = owner, {}, 0
            if block in self._blocks:
                return self._blocks[block]
        nus = [exchange_integrals(mol, coords, omega) for omega in HFX_OMEGAS]
        size = sum(nu.nbytes for nu in nus)
        with self._lock:
            if self._owned_by(owner) and self._bytes + size <= self.max_bytes:
                self._blocks[block] = nus
                self._bytes += size
        return nus

    def _owned_by(self, owner) -> bool:
        # Identity, not equality: a new molecule or grid object starts a new cache.
        return self._owner is not None and all(a is b for a, b in zip(owner, self._owner, strict=True))
