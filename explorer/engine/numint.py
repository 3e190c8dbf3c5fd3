"""PySCF integration of DM21: a NumInt that returns E_xc and its potential matrix, and a KS factory.

PySCF 2.14 evaluates meta-GGAs through ``eval_xc_eff`` inside its own ``nr_rks``/``nr_uks``, which
have no room for DM21's extra inputs (local HF exchange). So DM21NumInt replaces ``nr_rks`` and
``nr_uks`` whole: per block of grid points it builds the features, runs the network, and adds
w * dE/dfeature * dfeature/dD to the potential matrix, the local-HF term included.

For a spin density matrix D^s, with weighted derivatives v_x = w dexc/dx at each point:

    V^s = M + M^T + 1/2 sum_k grad_k chi^T v_tau grad_k chi,   M_ab = sum_r chi_a(r) u_b(r),
    u_b = 1/2 v_rho chi_b + g . grad chi_b - 1/2 sum_omega v_hfx(omega) F_b(omega),
    g   = 2 v_|grad rho_s|^2 grad rho_s + 2 v_|grad rho|^2 grad rho.

For restricted runs (D^a = D^b = D/2) the potential with respect to the total D is the average
of the two spin potentials.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from pyscf.dft import numint

from explorer import functionals, settings
from explorer.engine import features, interrupt, network
from explorer.errors import ConvergenceError

#: Memory for one block's exchange integrals (two omegas), in bytes.
BLOCK_INTEGRAL_BYTES = 256e6
#: Largest block of grid points (small molecules): a few network batches per thread.
MAX_POINTS_PER_BLOCK = 16384
#: Share of the budget left for everything but the kept exchange integrals (one block's work
#: arrays, the network's activations, PySCF's own arrays, the interpreter). Measured peaks beyond the
#: kept integrals: benzene/cc-pVDZ 240-390 MB. (1800 while blocks beyond the budget went to a spill
#: file, whose buffers took the rest.)
WORKING_MEMORY_MB = 1000


class DM21NumInt(numint.NumInt):
    """Numerical integrator for one DM21 functional (DM21, DM21m, DM21mc or DM21mu).

    The functional includes its own exact-exchange-like terms, so PySCF must add none: it reports
    itself as a pure meta-GGA with no hybrid or range-separated exchange.
    """

    def __init__(self, functional: str = "DM21", memory_mb: float | None = None, exact: bool = False):
        """``memory_mb`` is the budget (default: memory_budget_mb()); exchange integrals beyond
        what it leaves are evaluated directly at each pass, never stored. ``exact`` evaluates as
        the reference implementation does: the checkpoint's graph with automatic differentiation, and
        float64 exchange integrals recomputed at every call (slow; for benchmarks and tests of the
        fast path)."""
        super().__init__()
        self.functional = functionals.dm21(functional).name
        self.network = network.load_network(self.functional)
        self.exact = exact
        budget = settings.memory_budget_mb() if memory_mb is None else memory_mb
        kept = 0 if exact else max(0.0, budget - WORKING_MEMORY_MB)
        self.integral_cache = features.ExchangeIntegralCache(int(kept * 1e6))

    def reserve(self, nbytes: int) -> None:
        """Leaves ``nbytes`` of the memory budget to other arrays (PySCF's in-core two-electron
        integrals): fewer blocks of exchange integrals are kept. Before the first evaluation."""
        self.integral_cache.max_bytes = max(0, self.integral_cache.max_bytes - nbytes)

    def _xc_type(self, *args, **kwargs):
        return "MGGA"

    def hybrid_coeff(self, *args, **kwargs):
        return 0.0

    def rsh_coeff(self, *args, **kwargs):
        return 0.0, 0.0, 0.0

    def rsh_and_hybrid_coeff(self, *args, **kwargs):
        return 0.0, 0.0, 0.0

    def eval_xc_eff(self, *args, **kwargs):
        raise NotImplementedError(
            "DM21 provides ground-state energies and potentials only (no response kernels)"
        )

    def nr_rks(self, mol, grids, xc_code, dms, relativity=0, hermi=1, max_memory=2000, verbose=None):
        """Returns (electrons, E_xc in Hartree, V_xc = dE_xc/dD (nao, nao)) for a total density D."""
        dm = np.asarray(dms)
        if dm.ndim != 2:
            raise NotImplementedError("DM21NumInt evaluates one density matrix at a time")
        half = dm / 2
        nelec, exc, vmat = self.integrate(mol, grids, half, half, restricted=True)
        return nelec.sum(), exc, vmat

    def nr_uks(self, mol, grids, xc_code, dms, relativity=0, hermi=1, max_memory=2000, verbose=None):
        """Returns ([N_a, N_b], E_xc in Hartree, [dE_xc/dD_a, dE_xc/dD_b]) for spin densities."""
        dm = np.asarray(dms)
        if dm.ndim == 2:
            dm = np.array((dm / 2, dm / 2))
        if dm.ndim != 3 or dm.shape[0] != 2:
            raise NotImplementedError("DM21NumInt evaluates one pair of spin density matrices at a time")
        return self.integrate(mol, grids, dm[0], dm[1], restricted=False)

    def integrate(self, mol, grids, dm_a, dm_b, restricted: bool, energy_density_out=None):
        """Integrates DM21 on ``grids`` for spin density matrices ``dm_a``, ``dm_b``.

        Returns the electron count of each spin (2,), E_xc (Hartree) and the potential: one
        (nao, nao) matrix dE_xc/dD for ``restricted`` (dm_a = dm_b = D/2), else (2, nao, nao).
        If ``energy_density_out`` (an array of the grid's size) is given, it receives the XC
        energy density at each point, Hartree/bohr^3.
        """
        if mol.cart:
            raise NotImplementedError("DM21's local exchange needs spherical basis functions")
        nao = mol.nao_nr()
        nelec = np.zeros(2)
        exc_total = 0.0
        v_half = np.zeros((2, nao, nao))
        start = 0
        size = points_per_block(nao, packed=not self.exact)
        blocks = self.block_loop(mol, grids, nao, deriv=1, blksize=size)
        # BLAS runs on one thread in SCF runs (scf.run_scf), so the products over points are split
        # between threads here instead.
        with ThreadPoolExecutor(network.evaluation_threads()) as pool:
            for block, (ao, _, weight, coords) in enumerate(blocks):
                interrupt.check_now()  # a cancelled or timed-out job stops here, not after the iteration
                terms = [_density_terms(pool, ao, dm) for dm in ([dm_a] if restricted else [dm_a, dm_b])]
                rho = [t[0] for t in terms] * (2 if restricted else 1)
                if self.exact:
                    nus = [features.exchange_integrals(mol, coords, omega) for omega in network.HFX_OMEGAS]
                    exx, fxx = _whole_local_exchange(nus, ao[0], dm_a, dm_b, restricted)
                else:
                    e = np.stack([t[1] for t in terms])
                    nus = self.integral_cache.get(mol, grids, block, coords)
                    if nus is None:
                        exx, fxx = self.integral_cache.direct(mol, grids).local_exchange(coords, e)
                    else:
                        exx, fxx = features.packed_local_exchange(nus, e)
                    exx = [exx[:, s] for s in range(len(terms))] * (2 if restricted else 1)
                feats = features.network_features(rho[0], rho[1], exx[0], exx[1])
                out = self.network.evaluate(feats, exact=self.exact)
                exc, grads = _finite_on_weighted_points(out, weight)

                nelec += [weight @ rho[0][0], weight @ rho[1][0]]
                exc_total += weight @ exc
                if energy_density_out is not None:
                    energy_density_out[start : start + len(weight)] = exc
                start += len(weight)
                _add_potential(pool, ao, weight, rho, grads, fxx, restricted, v_half)
        vmat = v_half + v_half.transpose(0, 2, 1)
        return nelec, exc_total, (vmat[0] if restricted else vmat)


def _whole_local_exchange(nus, ao_values, dm_a, dm_b, restricted: bool):
    """Local HF exchange of both spins from whole integral matrices (the exact path): e_x as two
    (N, 2) arrays (one column per omega) and F as one (n_omega, k, nao, N) array, k = 1 spin for
    ``restricted`` else 2."""
    dms = np.array([dm_a] if restricted else [dm_a, dm_b])
    pairs = [features.local_exchange(nu, ao_values, dms) for nu in nus]  # per omega: (N, k), (N, nao, k)
    exx = np.stack([e for e, _ in pairs], axis=2)
    fxx = np.stack([f.transpose(2, 1, 0) for _, f in pairs])
    spins = [exx[:, s] for s in range(len(dms))]
    return spins * 2 if restricted else spins, fxx


def _point_slices(n: int) -> list[slice]:
    """range(n) cut into one slice per evaluation thread."""
    edges = np.linspace(0, n, network.evaluation_threads() + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _density_terms(pool: ThreadPoolExecutor, ao: np.ndarray, dm: np.ndarray):
    """features.density_terms on one block, its points split between the threads of ``pool``."""
    n = ao.shape[1]
    rho, e = np.empty((5, n)), np.empty((ao.shape[2], n))

    def part(points: slice) -> None:
        rho[:, points], e[:, points] = features.density_terms(ao[:, points], dm)

    list(pool.map(part, _point_slices(n)))
    return rho, e


def _add_potential(pool: ThreadPoolExecutor, ao, weight, rho, grads, fxx, restricted: bool, v_half) -> None:
    """Adds one block's share of dE_xc/dD to ``v_half``, per spin (index 0 only when ``restricted``):
    the M + 1/2 T of V = (M + 1/2 T) + (M + 1/2 T)^T (module docstring; T, the tau term, is symmetric),
    its points split between the threads of ``pool``."""
    grad_total = rho[0][1:4] + rho[1][1:4]
    per_spin = []
    for s, tag in enumerate("ab"):
        g = 2 * grads[f"norm_grad_rho_{tag}"] * rho[s][1:4] + 2 * grads["norm_grad_rho"] * grad_total
        per_spin.append((grads[f"rho_{tag}"], g, grads[f"tau_{tag}"], grads[f"hfx{tag}"]))
    if restricted:
        # dE/dD for D_a = D_b = D/2 is the mean of the two spin derivatives (F is the same).
        per_spin = [tuple((x + y) / 2 for x, y in zip(*per_spin, strict=True))]
    ao_t = ao.transpose(0, 2, 1)  # (4, nao, N), contiguous
    slices = _point_slices(len(weight))
    for s, (v_rho, g, v_tau, v_hfx) in enumerate(per_spin):
        # Weighted derivatives: rows 0-3 (v_rho, g) make u (module docstring), row 4 is 1/2 T's factor.
        factors = weight * np.vstack([0.5 * v_rho, g, 0.25 * v_tau])
        f_terms = [(f[s], 0.5 * weight * v_hfx[:, k]) for k, f in enumerate(fxx)]
        shares = pool.map(partial(_potential_share, ao_t, factors, f_terms), slices)
        v_half[s] += sum(shares)


def _potential_share(ao_t: np.ndarray, factors: np.ndarray, f_terms, p: slice) -> np.ndarray:
    """sum_k grad_k chi^T b_k over the points ``p``: b_0 = u^T (module docstring) from the weighted
    derivatives ``factors`` rows 0-3 and the local-exchange terms (F, 1/2 w v_hfx), b_k = factors[4]
    grad_k chi for the tau term."""
    b = ao_t[:, :, p] * factors[4, p]
    b[0] = ao_t[0, :, p] * factors[0, p] + np.einsum("xbg,xg->bg", ao_t[1:4, :, p], factors[1:4, p])
    for f, c in f_terms:
        b[0] -= f[:, p] * c[p]
    return np.matmul(ao_t[:, :, p], b.transpose(0, 2, 1)).sum(axis=0)


def points_per_block(nao: int, packed: bool = True) -> int:
    """Grid points per block for ``nao`` basis functions: large blocks keep TensorFlow's per-call
    overhead small; the exchange integrals of one block (``packed`` float32 pairs, else whole float64
    matrices) stay within BLOCK_INTEGRAL_BYTES. Always a multiple of PySCF's screening block, and the
    same at every call (the integral cache is keyed by block)."""
    per_point = 2 * (4 * nao * (nao + 1) / 2 if packed else 8 * nao * nao)
    size = int(BLOCK_INTEGRAL_BYTES / per_point) // numint.BLKSIZE * numint.BLKSIZE
    return max(numint.BLKSIZE, min(MAX_POINTS_PER_BLOCK // numint.BLKSIZE * numint.BLKSIZE, size))


def _finite_on_weighted_points(out: network.NetworkOutput, weight: np.ndarray):
    """The network's values and gradients with zero-weight points zeroed; raises if any weighted
    point is not finite (a wrong number must never pass as a result)."""
    used = weight != 0
    exc = np.where(used, out.exc, 0.0)
    if not np.isfinite(exc).all():
        bad = int((~np.isfinite(exc)).sum())
        raise ConvergenceError(f"the DM21 network returned non-finite values at {bad} grid points")
    grads = {}
    for name, g in out.grads.items():
        mask = used if g.ndim == 1 else used[:, None]
        g = np.where(mask, g, 0.0)
        if not np.isfinite(g).all():
            raise ConvergenceError(f"the DM21 network returned non-finite derivatives ({name})")
        grads[name] = g
    return exc, grads
