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
iterations (ExchangeIntegralCache) as long as they fit the memory budget; blocks of points beyond it
are evaluated directly at each pass (direct_local_exchange), the integrals contracted as they are
computed and never stored.
"""

from __future__ import annotations

import mmap
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from pyscf import lib

from explorer.engine.network import HFX_OMEGAS


def density_terms(ao: np.ndarray, dm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One spin channel on a block of points: its density rows rho, d/dx, d/dy, d/dz, tau (5, N),
    and E = D chi, E_a(r) = sum_b D_ab chi_b(r) (nao, N), which the local exchange reuses.

    ``ao`` is (4, N, nao) (values and first derivatives, as PySCF's eval_ao returns them: points
    fastest in memory), ``dm`` the symmetric (nao, nao) spin density matrix. tau is
    1/2 sum_i n_i |grad phi_i|^2. Units: electrons/bohr^3, /bohr^4, Hartree/bohr^3.
    """
    ao_t = ao.transpose(0, 2, 1)  # (4, nao, N), contiguous
    e = np.matmul(dm, ao_t)  # D chi and D grad chi
    rho = np.empty((5, ao.shape[1]))
    rho[0] = np.einsum("bg,bg->g", ao_t[0], e[0])
    rho[1:4] = 2 * np.einsum("xbg,bg->xg", ao_t[1:4], e[0])
    rho[4] = 0.5 * np.einsum("xbg,xbg->g", ao_t[1:4], e[1:4])
    return rho, e[0]


def spin_densities(ao: np.ndarray, dm: np.ndarray) -> np.ndarray:
    """The (5, N) density rows of density_terms: rho, d/dx, d/dy, d/dz, tau."""
    return density_terms(ao, dm)[0]


def exchange_integrals(mol, coords: np.ndarray, omega: float) -> np.ndarray:
    """nu_bd(r) for each point r of ``coords`` (N, 3) in bohr: an (N, nao, nao) array, 1/bohr.

    omega = 0 is the Coulomb kernel 1/r; omega > 0 the long-range kernel erf(omega r)/r. The whole
    matrix, for the reference evaluation and for maps; SCF runs keep them packed (packed_exchange_integrals).
    """
    with mol.with_range_coulomb(omega):
        return mol.intor("int1e_grids", hermi=1, grids=coords)


#: Bytes of the float64 scratch buffer libcint writes one chunk of points into (packed_exchange_integrals).
INTEGRAL_CHUNK_BYTES = 64e6
#: libcint skips pairs of primitive Gaussians whose product prefactor is below this (its default is
#: e^-60): the kept integrals change by < 1e-14 of the largest, far below their float32 storage, and
#: cost 15-17% less (benzene and water, cc-pVDZ).
INTEGRAL_SCREEN = 1e-13


def packed_exchange_integrals(mol, coords: np.ndarray, omegas, out=None) -> list[np.ndarray]:
    """nu_bd(r) at ``coords`` (N, 3, bohr) for each omega of ``omegas``, packed: one (n_pairs, N) float32
    array per omega whose row p holds the pair (b, d) = kernels.lower_pairs(nao)[p], b >= d, 1/bohr.
    ``out``: arrays of those shapes to fill (default: new ones).

    libcint fills a reused float64 buffer a chunk of points at a time on all OpenMP threads (its output
    runs over points fastest, so packing copies contiguous runs); float32 keeps half the memory and its
    rounding (relative 6e-8) stays below the network's own float32 precision.
    """
    from explorer.engine import kernels

    nao = mol.nao_nr()
    n = len(coords)
    pair_b, pair_d = kernels.lower_pairs(nao)
    chunk = max(1, min(n, int(INTEGRAL_CHUNK_BYTES // (8 * nao * nao))))
    buffer = np.empty(chunk * nao * nao)
    if out is None:
        out = [np.empty((pair_b.size, n), dtype=np.float32) for _ in omegas]
    _use_threads()
    for packed, omega in zip(out, omegas, strict=True):
        with mol.with_range_coulomb(omega), mol.with_integral_screen(INTEGRAL_SCREEN):
            for start in range(0, n, chunk):
                full = mol.intor("int1e_grids", hermi=1, grids=coords[start : start + chunk], out=buffer)
                kernels.pack_pairs(full, pair_b, pair_d, packed, start)
    return out


def packed_local_exchange(nus: list[np.ndarray], e: np.ndarray):
    """Local HF exchange from packed integrals (packed_exchange_integrals) for a stack of k spin
    densities given as E = D chi (k, nao, N) (density_terms).

    Returns e_x, (N, k, n_omega) in Hartree/bohr^3, and F, (n_omega, k, nao, N): F_b(r) of the module
    doc (1/bohr^3). One pass over each omega's integrals serves all k densities.
    """
    from explorer.engine import kernels

    f = np.zeros((len(nus), *e.shape))
    _use_threads()
    for fo, nu in zip(f, nus, strict=True):
        kernels.contract_pairs(nu, e, fo)
    exx = -0.5 * np.einsum("kag,okag->gko", e, f)
    return exx, f


def _use_threads() -> None:
    """Runs numba's parallel loops on as many threads as PySCF's OpenMP code (one in a 1-thread worker)."""
    import numba

    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, lib.num_threads())))


def local_exchange(nu: np.ndarray, ao_values: np.ndarray, dm: np.ndarray):
    """Local HF exchange energy density e_x in Hartree/bohr^3 and F, see module doc.

    ``nu`` is (N, nao, nao) from exchange_integrals, ``ao_values`` (N, nao), ``dm`` one spin density
    matrix (nao, nao), giving e_x (N,) and F (N, nao), or a stack (k, nao, nao), giving e_x (N, k)
    and F (N, nao, k): the stack shares one pass over ``nu``. The product with ``nu`` runs in ``nu``'s
    precision. Whole matrices, for the exact path and maps; SCF runs use packed_local_exchange.
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


def prefaulted_float32(count: int) -> np.ndarray:
    """A new float32 array of ``count`` elements whose pages are mapped at once (MAP_POPULATE).

    Touching fresh memory page by page from the packing threads measured ~0.5 s per 256 MB here
    (a virtual machine; page faults are costly); mapping it in one call costs ~0.06 s."""
    if count == 0:
        return np.empty(0, np.float32)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
    return np.frombuffer(mmap.mmap(-1, 4 * count, flags=flags), np.float32)


#: The direct path's static prescreen (PySCF's seminumerical exchange): a pair of shells whose largest
#: overlap element is below this is never evaluated (at 1e-11 aspirin/def2-SVP's local exchange moved
#: by 1e-13 Ha, at 1e-7 by 1e-8 Ha: it is not where the time goes).
DIRECT_SCREEN = 1e-13
#: Per group of DIRECT_POINTS points, a pair of shells (b, d) is skipped where its largest overlap element
#: times the larger of max|E_b| and max|E_d| over the group is below this: its share of F_b = sum nu_bd E_d
#: and F_d cannot matter. Aspirin/def2-SVP, 12 groups of 1024 points, SCF density: 66% of the pairs
#: are evaluated instead of 88%, the local exchange integrates to within 1e-8 Ha of the unscreened
#: value over the whole grid, the potential matrix within 5e-8 per group (2e-9 Ha and 6e-9 at 1e-8).
PAIR_SCREEN = 1e-7
#: Points per screening group of the direct path (1024 or 256 screen alike; larger groups cut the
#: per-call overhead).
DIRECT_POINTS = 1024


class DirectExchange:
    """F_b(r) = sum_d nu_bd(r) E_d(r) for the kernel set on ``mol`` (with_range_coulomb), each shell
    pair's integrals contracted with E as libcint computes them, on PySCF's OpenMP threads, without
    storing any (PySCF's seminumerical-exchange driver, pyscf.sgx, computes exactly this product for
    its K matrix, and is used as it is). Pairs are screened per group of points (PAIR_SCREEN) by the
    density at hand, through the driver's pair table. One caller at a time (the table is shared).

    Not incremental: an SCF's later passes could add F of the density's change to a kept F, as a direct
    SCF builds its Fock matrix, but every pass's screened-out share then stays in F (benzene/cc-pVDZ
    ended 6e-7 Ha off), and with the threshold 100x tighter that keeps it at 1e-8 Ha, no pass was
    faster (13-14 s each, as without).
    """

    def __init__(self, mol):
        from pyscf.sgx import sgx, sgx_jk

        self.mol = mol
        self._opt = sgx._make_opt(mol, False, DIRECT_SCREEN)
        self._overlap_bound = self._opt.q_cond.copy()  # largest |S| element of each pair of shells
        self._contract = sgx_jk._gen_jk_direct(mol, "s2", False, True, DIRECT_SCREEN, self._opt)
        self._shell_starts = mol.ao_loc_nr()[:-1]
        self.pairs_evaluated = 0.0  # share of all pairs evaluated, summed over groups (diagnostics)
        self.groups = 0

    def local_exchange(self, coords: np.ndarray, e: np.ndarray, omegas=HFX_OMEGAS):
        """Local HF exchange as packed_local_exchange returns it (e_x (N, k, n_omega) Hartree/bohr^3 and
        F (n_omega, k, nao, N)) at ``coords`` (N, 3, bohr) for E = D chi (k, nao, N) of density_terms."""
        e = np.ascontiguousarray(e, dtype=np.float64)
        f = np.empty((len(omegas), *e.shape))
        for start in range(0, len(coords), DIRECT_POINTS):
            part = slice(start, start + DIRECT_POINTS)
            self._screen(e[:, :, part])
            group = np.ascontiguousarray(e[:, :, part])
            ones = np.ones(group.shape[2])
            for fo, omega in zip(f, omegas, strict=True):
                with self.mol.with_range_coulomb(omega):
                    fo[:, :, part] = self._contract(self.mol, coords[part], None, group, ones)[1]
        exx = -0.5 * np.einsum("kag,okag->gko", e, f)
        return exx, f

    def _screen(self, e: np.ndarray) -> None:
        """Sets the driver's pair table for one group: pairs that cannot matter to E's F are zeroed."""
        largest = np.maximum.reduceat(np.abs(e).max(axis=(0, 2)), self._shell_starts)  # per shell
        kept = self._overlap_bound * np.maximum.outer(largest, largest) >= PAIR_SCREEN
        self._opt.q_cond = np.where(kept, self._overlap_bound, 0.0)
        self.pairs_evaluated += float(kept.mean())
        self.groups += 1


class ExchangeIntegralCache:
    """Keeps the nu integrals of grid blocks for one molecule and grid, packed and float32
    (packed_exchange_integrals), as many blocks as fit in ``max_bytes``; get returns None for the
    others, which the caller evaluates directly at each pass (direct_local_exchange): no file, and
    memory that does not grow with the square of the basis beyond the budget.

    The kept blocks are the last ones of the grid, so that their buffers (prefaulted_float32: fresh
    memory costs 1-2 s per GB on this virtual machine, mapped in one call ~0.06 s) are mapped by a
    background thread while the first blocks are computed. Blocks are taken to be of one size but the
    last, as the numerical integrator's loop gives them; the first call for a molecule and grid fixes
    that size. One SCF at a time.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._owner = None
        self._mapper = None  # one thread that maps the kept blocks' memory ahead
        self._kept_memory = {}  # block -> future of its flat float32 buffer (mapped by the thread)
        self._reset()

    def _reset(self, owner=None) -> None:
        self._owner = owner
        self._blocks: dict[int, list[np.ndarray]] = {}
        self._bytes = 0
        wait(self._kept_memory.values())  # mappings still being made finish before they are dropped
        self._kept_memory = {}
        self._first_kept = None  # index of the first kept block, fixed by the first call
        self._block_floats = 0  # float32 elements of one whole block's integrals (all omegas)
        self._direct = None

    def direct(self, mol, grids) -> DirectExchange:
        """The DirectExchange of ``mol`` for the blocks not kept, made once per molecule and grid."""
        with self._lock:
            if not self._owned_by((mol, grids, grids.coords)):
                self._reset((mol, grids, grids.coords))
            if self._direct is None:
                self._direct = DirectExchange(mol)
            return self._direct

    def get(self, mol, grids, block: int, coords: np.ndarray) -> list[np.ndarray] | None:
        """The packed nu integrals at ``coords`` for every omega of HFX_OMEGAS if the block is kept
        (computed at its first use), else None."""
        owner = (mol, grids, grids.coords)
        with self._lock:
            if not self._owned_by(owner):
                self._reset(owner)
            if block in self._blocks:
                return self._blocks[block]
        nao = mol.nao_nr()
        shape = (nao * (nao + 1) // 2, len(coords))
        size = 4 * shape[0] * shape[1] * len(HFX_OMEGAS)
        if self._first_kept is None:
            self._plan_kept_blocks(grids.weights.size, shape)
        if block < self._first_kept or size > 4 * self._block_floats:
            return None
        flat = self._kept_memory[block].result()[: size // 4]
        nus = packed_exchange_integrals(
            mol, coords, HFX_OMEGAS, out=list(flat.reshape(len(HFX_OMEGAS), *shape))
        )
        with self._lock:
            if self._owned_by(owner):
                self._blocks[block] = nus
                self._bytes += size
        return nus

    def _plan_kept_blocks(self, n_points: int, shape: tuple[int, int]) -> None:
        """Fixes which blocks are kept (the last ones that fit in max_bytes, blocks of shape[1]
        points but the last) and starts mapping their memory in the background, a block at a time
        in the order they will be needed."""
        self._block_floats = shape[0] * shape[1] * len(HFX_OMEGAS)
        n_blocks = -(-n_points // shape[1])
        n_kept = min(n_blocks, self.max_bytes // (4 * self._block_floats))
        self._first_kept = n_blocks - n_kept
        if n_kept and self._mapper is None:
            self._mapper = ThreadPoolExecutor(1, thread_name_prefix="dm21-map")
        for block in range(self._first_kept, n_blocks):
            self._kept_memory[block] = self._mapper.submit(prefaulted_float32, self._block_floats)

    @property
    def bytes_in_memory(self) -> int:
        """Bytes of integrals held in memory."""
        return self._bytes

    def _owned_by(self, owner) -> bool:
        # Identity, not equality: a new molecule or grid object starts a new cache.
        return self._owner is not None and all(a is b for a, b in zip(owner, self._owner, strict=True))
