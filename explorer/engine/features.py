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

import mmap
import os
import tempfile
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


def _write_at(fd: int, arrays: list[np.ndarray], offsets: list[int]) -> None:
    """Writes each array's bytes at its offset of the file ``fd`` (os.pwrite: no shared position)."""
    for array, offset in zip(arrays, offsets, strict=True):
        view = memoryview(array).cast("B")
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written


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


class ExchangeIntegralCache:
    """Keeps the nu integrals of each grid block for one molecule and grid, packed and float32
    (packed_exchange_integrals).

    Blocks are held in memory up to ``max_bytes``; the rest go to a temporary file (unless
    ``spill`` is False, when they are recomputed at each use), mapped back block by block, so the
    process stays within its memory budget while the operating system's page cache keeps repeated
    reads fast. A background thread writes the file while the next block's integrals are computed
    (one block in flight at most).

    Memory is mapped ahead (prefaulted_float32): one buffer per kept block and two scratch buffers,
    used in turn, for the blocks bound for the file (benzene/cc-pVDZ: packing 7.2 -> 2.6 s). The
    kept blocks are the last ones of the grid, so that their buffers are mapped by a background
    thread while the first blocks are computed and spilled (fresh memory costs 1-2 s per GB on this
    virtual machine; mapping 2.2 GB in the foreground held benzene's first iteration up by 2.7-4.5 s).
    Blocks are taken to be of one size but the last, as the numerical integrator's loop gives them;
    the first call for a molecule and grid fixes that size. The arrays get returns for a spilled block are
    overwritten two spilled blocks later: use them before the next call but one. release_scratch
    frees the buffers once a pass over the grid is done. One SCF at a time.
    """

    def __init__(self, max_bytes: int, spill: bool = True):
        self.max_bytes = max_bytes
        self.spill = spill
        self._lock = threading.Lock()
        self._owner = None
        self._writer = None  # one thread, made on the first spill
        self._pending = None  # the write in flight, if any
        self._mapper = None  # one thread that maps the kept blocks' memory ahead
        self._kept_memory = {}  # block -> future of its flat float32 buffer (mapped by the thread)
        self._scratch = []  # two lists of flat float32 buffers, one per omega
        self._turn = 0  # the scratch buffer the next spilled block is computed into
        self._reset()

    def _reset(self, owner=None) -> None:
        self._finish_writing()
        self._owner = owner
        self._blocks: dict[int, list[np.ndarray]] = {}
        self._spilled: dict[int, list[tuple[int, tuple]]] = {}
        self._bytes = 0
        self._file = None  # closed (and deleted) when dropped
        self._end = 0  # bytes of the file reserved so far
        wait(self._kept_memory.values())  # mappings still being made finish before they are dropped
        self._kept_memory = {}
        self._first_kept = None  # index of the first kept block, fixed by the first call
        self._block_floats = 0  # float32 elements of one whole block's integrals (all omegas)
        self.release_scratch()

    def get(self, mol, grids, block: int, coords: np.ndarray) -> list[np.ndarray]:
        """The packed nu integrals at ``coords`` for every omega of HFX_OMEGAS, from the cache if held."""
        owner = (mol, grids, grids.coords)
        with self._lock:
            if not self._owned_by(owner):
                self._reset(owner)
            if block in self._blocks:
                return self._blocks[block]
            if block in self._spilled:
                self._finish_writing()
                return [self._read(offset, shape) for offset, shape in self._spilled[block]]
        nao = mol.nao_nr()
        shape = (nao * (nao + 1) // 2, len(coords))
        size = 4 * shape[0] * shape[1] * len(HFX_OMEGAS)
        if self._first_kept is None:
            self._plan_kept_blocks(grids.weights.size, shape)
        kept = block >= self._first_kept and size <= 4 * self._block_floats
        if kept:
            flat = self._kept_memory[block].result()[: size // 4]
            out = list(flat.reshape(len(HFX_OMEGAS), *shape))
        else:
            out = self._scratch_arrays(shape) if self.spill else None
        nus = packed_exchange_integrals(mol, coords, HFX_OMEGAS, out=out)
        with self._lock:
            if not self._owned_by(owner):
                return nus
            if kept:
                self._blocks[block] = nus
                self._bytes += size
            elif self.spill:
                self._spilled[block] = self._write(nus)
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

    def release_scratch(self) -> None:
        """Frees the scratch buffers of spilled blocks (after the write in flight)."""
        self._finish_writing()
        self._scratch = []

    def _scratch_arrays(self, shape: tuple[int, int]) -> list[np.ndarray]:
        """Arrays of ``shape``, one per omega, in the scratch buffer whose turn it is (the other one may
        still be being written); the buffers grow to the largest block seen."""
        if not self._scratch:
            self._scratch = [[np.empty(0, np.float32) for _ in HFX_OMEGAS] for _ in range(2)]
        turn, self._turn = self._turn, 1 - self._turn
        buffers = self._scratch[turn]
        count = shape[0] * shape[1]
        for i, flat in enumerate(buffers):
            if flat.size < count:
                buffers[i] = prefaulted_float32(count)
        return [flat[:count].reshape(shape) for flat in buffers]

    @property
    def bytes_in_memory(self) -> int:
        """Bytes of integrals held in memory."""
        return self._bytes

    @property
    def bytes_on_disk(self) -> int:
        """Bytes of integrals written to the temporary file."""
        return sum(4 * int(np.prod(shape)) for parts in self._spilled.values() for _, shape in parts)

    def _write(self, nus: list[np.ndarray]) -> list[tuple[int, tuple]]:
        """Reserves room for ``nus`` in the file, each part at a mappable offset, and hands the
        writing to the background thread once the previous write is done; returns (offset, shape)s."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="dm21-nu-")
        parts = []
        for nu in nus:
            offset = -(-self._end // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY
            parts.append((offset, nu.shape))
            self._end = offset + nu.nbytes
        self._finish_writing()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="dm21-spill")
        self._pending = self._writer.submit(_write_at, self._file.fileno(), nus, [o for o, _ in parts])
        return parts

    def _finish_writing(self) -> None:
        """Waits for the write in flight (raising its error, if any)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _read(self, offset: int, shape: tuple) -> np.ndarray:
        # Mapped, not copied: the array reads the operating system's cached pages of the file, and
        # the mapping goes when the array does.
        size = int(np.prod(shape)) * 4
        mapped = mmap.mmap(self._file.fileno(), size, offset=offset, access=mmap.ACCESS_READ)
        return np.frombuffer(mapped, dtype=np.float32).reshape(shape)

    def _owned_by(self, owner) -> bool:
        # Identity, not equality: a new molecule or grid object starts a new cache.
        return self._owner is not None and all(a is b for a, b in zip(owner, self._owner, strict=True))
