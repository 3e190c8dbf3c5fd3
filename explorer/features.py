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

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

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


def exchange_integrals(mol, coords: np.ndarray, omega: float, dtype=np.float64) -> np.ndarray:
    """nu_bd(r) for each point r of ``coords`` (N, 3) in bohr: an (N, nao, nao) array, 1/bohr.

    omega = 0 is the Coulomb kernel 1/r; omega > 0 the long-range kernel erf(omega r)/r. PySCF
    computes these integrals on one thread, so the points are split across lib.num_threads()
    threads (its C code releases the GIL). ``dtype`` float32 halves the memory of the result.
    """
    nao = mol.nao_nr()
    out = np.empty((len(coords), nao, nao), dtype=dtype)
    chunks = np.array_split(np.arange(len(coords)), max(1, min(lib.num_threads(), len(coords) // 64)))

    def fill(index):
        if index.size:
            out[index[0] : index[-1] + 1] = mol.intor("int1e_grids", hermi=1, grids=coords[index])

    # omega is set once around all threads: the context manager saves and restores mol's state,
    # and nested entries from several threads would leave it changed.
    with mol.with_range_coulomb(omega):
        if len(chunks) == 1:
            fill(chunks[0])
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                list(pool.map(fill, chunks))
    return out


def local_exchange(nu: np.ndarray, ao_values: np.ndarray, dm: np.ndarray):
    """Local HF exchange energy density e_x in Hartree/bohr^3 and F, see module doc.

    ``nu`` is (N, nao, nao) from exchange_integrals, ``ao_values`` (N, nao), ``dm`` one spin density
    matrix (nao, nao), giving e_x (N,) and F (N, nao), or a stack (k, nao, nao), giving e_x (N, k)
    and F (N, nao, k): the stack shares one pass over ``nu`` (the memory-bound step). The product with
    ``nu`` runs in ``nu``'s precision (float32 storage: relative error ~1e-7, below the network's).
    """
    single = dm.ndim == 2
    dms = dm[None] if single else dm
    e = np.stack([lib.dot(ao_values, d) for d in dms], axis=2)  # (N, nao, k)
    f = np.matmul(nu, e.astype(nu.dtype, copy=False)).astype(np.float64, copy=False)
    exx = -0.5 * np.einsum("gbk,gbk->gk", e, f)
    return (exx[:, 0], f[:, :, 0]) if single else (exx, f)


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
    """Keeps the nu integrals of each grid block for one molecule and grid, as float32.

    Blocks are held in memory up to ``max_bytes``; the rest go to a temporary file (unless
    ``spill`` is False, when they are recomputed at each use), read back block by block, so the
    process stays within its memory budget while the operating system's page cache keeps repeated
    reads fast. Safe to share between threads.
    """

    def __init__(self, max_bytes: int, spill: bool = True):
        self.max_bytes = max_bytes
        self.spill = spill
        self._lock = threading.Lock()
        self._owner = None
        self._reset()

    def _reset(self, owner=None) -> None:
        self._owner = owner
        self._blocks: dict[int, list[np.ndarray]] = {}
        self._spilled: dict[int, list[tuple[int, tuple]]] = {}
        self._bytes = 0
        self._file = None  # closed (and deleted) when dropped

    def get(self, mol, grids, block: int, coords: np.ndarray) -> list[np.ndarray]:
        """The nu integrals at ``coords`` for every omega of HFX_OMEGAS (float32), from the cache if held."""
        owner = (mol, grids, grids.coords)
        with self._lock:
            if not self._owned_by(owner):
                self._reset(owner)
            if block in self._blocks:
                return self._blocks[block]
            if block in self._spilled:
                return [self._read(offset, shape) for offset, shape in self._spilled[block]]
        nus = [exchange_integrals(mol, coords, omega, dtype=np.float32) for omega in HFX_OMEGAS]
        size = sum(nu.nbytes for nu in nus)
        with self._lock:
            if not self._owned_by(owner):
                return nus
            if self._bytes + size <= self.max_bytes:
                self._blocks[block] = nus
                self._bytes += size
            elif self.spill:
                self._spilled[block] = [self._write(nu) for nu in nus]
        return nus

    @property
    def bytes_in_memory(self) -> int:
        """Bytes of integrals held in memory."""
        return self._bytes

    @property
    def bytes_on_disk(self) -> int:
        """Bytes of integrals written to the temporary file."""
        return 0 if self._file is None else self._file.tell()

    def _write(self, nu: np.ndarray) -> tuple[int, tuple]:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="dm21-nu-")
        self._file.seek(0, os.SEEK_END)
        offset = self._file.tell()
        nu.tofile(self._file)
        return offset, nu.shape

    def _read(self, offset: int, shape: tuple) -> np.ndarray:
        out = np.empty(shape, dtype=np.float32)
        self._file.flush()
        read = os.preadv(self._file.fileno(), [memoryview(out).cast("B")], offset)
        if read != out.nbytes:
            raise OSError(f"short read from the exchange-integral file ({read} of {out.nbytes} bytes)")
        return out

    def _owned_by(self, owner) -> bool:
        # Identity, not equality: a new molecule or grid object starts a new cache.
        return self._owner is not None and all(a is b for a, b in zip(owner, self._owner, strict=True))
