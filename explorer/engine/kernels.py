"""Compiled loops (numba) for the local-exchange integrals kept in packed, pair-major form.

The exchange integrals nu_bd(r) are symmetric in (b, d), so only pairs b >= d are kept, as rows of an
(n_pairs, n_points) float32 array: each row runs over grid points, the layout libcint writes them in.
These loops convert libcint's output to that form and contract it with a density-dependent vector
field, reading every integral once per SCF iteration (the step is bound by memory bandwidth).

Imported on first use (numba's start-up costs about half a second).
"""

from __future__ import annotations

import threading

import numba
import numpy as np

# numba's own thread pool ("workqueue") sleeps between calls. Its OpenMP layer would bring a second
# OpenMP runtime beside PySCF's bundled one, and each spins after its parallel regions, slowing the
# other (measured: packing 5 ms alone, 28 ms within an SCF). The workqueue pool does not take
# concurrent calls, so calls from several threads (the app's server, tests) take turns.
numba.config.THREADING_LAYER = "workqueue"
_turn = threading.Lock()

#: Grid points per parallel work item in contract_pairs: the item's rows of E and F (one spin at a
#: time, float64) stay in the core's L2 cache while every pair's integrals stream past.
POINTS_PER_ITEM = 256


def lower_pairs(nao: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (b, d) of the pairs b >= d of ``nao`` functions, row by row: (0,0), (1,0), (1,1), ..."""
    b, d = np.tril_indices(nao)
    return b.astype(np.int64), d.astype(np.int64)


def pack_pairs(full, pair_b, pair_d, out, offset) -> None:
    """out[p, offset + g] = full[g, b_p, d_p] (float32), for libcint's (points, nao, nao) output."""
    with _turn:
        _pack_pairs(full, pair_b, pair_d, out, offset)


def contract_pairs(nu, e, f) -> None:
    """f[k, b, g] += sum_d nu_bd(g) e[k, d, g] for packed ``nu`` (n_pairs, G), rows in lower_pairs
    order, and e, f (K, nao, G) float64."""
    with _turn:
        _contract_pairs(nu, e, f)


@numba.njit(parallel=True, cache=True)
def _pack_pairs(full, pair_b, pair_d, out, offset):  # pragma: no cover - compiled
    n = full.shape[0]
    for p in numba.prange(pair_b.size):
        b = pair_b[p]
        d = pair_d[p]
        for g in range(n):
            out[p, offset + g] = full[g, b, d]


#: Rows b of the packed triangle that contract_pairs takes together: each pass over a column d reads
#: E_d and F_d once for all of them (1.5x faster than one row at a time: the loop is bound by its
#: loads and stores of E and F, not by reading the integrals). The loop is written out for four rows
#: (r0..r3, a0..a3 in _contract_pairs): this names the number, it is not a setting.
ROWS_PER_PASS = 4


@numba.njit(parallel=True, fastmath={"contract"}, cache=True)
def _contract_pairs(nu, e, f):  # pragma: no cover - compiled
    """contract_pairs, compiled. Parallel over blocks of POINTS_PER_ITEM points, each worked on in
    local copies. Rows b of the packed triangle come ROWS_PER_PASS (4) at a time: their integrals
    with d below the group feed F_b (gathered in ``acc``) and F_d (scattered) in one pass over d;
    the pairs within the group, and a last group of fewer rows, go one row at a time. Every inner
    loop runs over contiguous points and vectorises. Sums in float64 over float32 integrals.
    """
    n_pairs, n = nu.shape
    n_vec, nao, _ = e.shape
    for item in numba.prange((n + POINTS_PER_ITEM - 1) // POINTS_PER_ITEM):
        start = item * POINTS_PER_ITEM
        stop = min(n, start + POINTS_PER_ITEM)
        m = stop - start
        e_item = np.empty((nao, m))
        f_item = np.empty((nao, m))
        acc = np.empty((ROWS_PER_PASS, m))
        for k in range(n_vec):
            for a in range(nao):
                e_item[a, :] = e[k, a, start:stop]
            f_item[:, :] = 0.0
            for b0 in range(0, nao, ROWS_PER_PASS):
                rows = min(ROWS_PER_PASS, nao - b0)
                acc[:, :] = 0.0
                single_from = 0  # the one-row loop covers d from here to b
                if rows == ROWS_PER_PASS:
                    single_from = b0
                    r0 = b0 * (b0 + 1) // 2  # index of pair (b0, 0); row b starts at b(b+1)/2
                    r1 = r0 + b0 + 1
                    r2 = r1 + b0 + 2
                    r3 = r2 + b0 + 3
                    e0, e1, e2, e3 = e_item[b0], e_item[b0 + 1], e_item[b0 + 2], e_item[b0 + 3]
                    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
                    for d in range(b0):
                        x0 = nu[r0 + d, start:stop]
                        x1 = nu[r1 + d, start:stop]
                        x2 = nu[r2 + d, start:stop]
                        x3 = nu[r3 + d, start:stop]
                        e_d = e_item[d]
                        f_d = f_item[d]
                        for g in range(m):
                            v0 = np.float64(x0[g])
                            v1 = np.float64(x1[g])
                            v2 = np.float64(x2[g])
                            v3 = np.float64(x3[g])
                            a0[g] += v0 * e_d[g]
                            a1[g] += v1 * e_d[g]
                            a2[g] += v2 * e_d[g]
                            a3[g] += v3 * e_d[g]
                            f_d[g] += v0 * e0[g] + v1 * e1[g] + v2 * e2[g] + v3 * e3[g]
                for i in range(rows):
                    b = b0 + i
                    row = b * (b + 1) // 2
                    a_b = acc[i]
                    e_b = e_item[b]
                    for d in range(single_from, b):
                        nu_bd = nu[row + d, start:stop]
                        e_d = e_item[d]
                        f_d = f_item[d]
                        for g in range(m):
                            v = np.float64(nu_bd[g])
                            a_b[g] += v * e_d[g]
                            f_d[g] += v * e_b[g]
                    nu_bb = nu[row + b, start:stop]
                    f_b = f_item[b]
                    for g in range(m):
                        f_b[g] += a_b[g] + np.float64(nu_bb[g]) * e_b[g]
            for a in range(nao):
                f[k, a, start:stop] += f_item[a, :]
