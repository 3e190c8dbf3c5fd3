"""Local Hartree-Fock exchange densities against PySCF's exchange matrices."""

import numpy as np
import pytest
from pyscf import gto, scf
from pyscf.dft import numint

from explorer.engine import features, kernels
from explorer.engine.grids import GridSpec, build_grids


@pytest.mark.parametrize("omega", [0.0, 0.4])
def test_local_exchange_integrates_to_hf_exchange(water_631g, omega):
    # Identity: sum_r w e_x(r) = -1/2 tr(D K[D]) for each spin density D (module docstring).
    # Measured on the level-3 reference grid: 8e-9 Ha (omega 0), 1e-10 Ha (omega 0.4).
    mol = water_631g
    dm = scf.RHF(mol).run().make_rdm1() / 2
    grids = build_grids(mol, GridSpec(level=3))
    ao = numint.eval_ao(mol, grids.coords)
    nu = features.exchange_integrals(mol, grids.coords, omega)
    exx, f = features.local_exchange(nu, ao, dm)
    with mol.with_range_coulomb(omega):
        k = scf.hf.get_jk(mol, dm)[1]
    assert grids.weights @ exx == pytest.approx(-0.5 * np.sum(dm * k), abs=1e-6)
    # F_b(r) = sum_d nu_bd E_d: with it, sum_r w chi_a F_b = K_ab (the potential's building block).
    assert np.allclose(ao.T @ (f * grids.weights[:, None]), k, atol=1e-5)


def test_spin_densities_have_five_rows_and_integrate(water_631g):
    mol = water_631g
    dm = scf.RHF(mol).run().make_rdm1() / 2
    grids = build_grids(mol, GridSpec(level=3))
    ao = numint.eval_ao(mol, grids.coords, deriv=1)
    rho = features.spin_densities(ao, dm)
    assert rho.shape == (5, grids.weights.size)  # rho, grad x/y/z, tau
    # The same rows as PySCF's eval_rho (with_lapl=False: else PySCF 2.14 adds a Laplacian row).
    reference = numint.eval_rho(mol, ao, dm, xctype="MGGA", hermi=1, with_lapl=False)
    assert np.allclose(rho, reference, rtol=1e-12, atol=1e-14)
    assert grids.weights @ rho[0] == pytest.approx(5.0, abs=1e-4)
    # Kinetic energy: sum_r w tau_a = 1/2 tr(D_a T) with T the kinetic-energy matrix.
    assert grids.weights @ rho[4] == pytest.approx(np.sum(dm * mol.intor("int1e_kin")), rel=1e-5)


def _unpacked(packed: np.ndarray, nao: int) -> np.ndarray:
    """(N, nao, nao) from a packed (n_pairs, N) array of packed_exchange_integrals."""
    b, d = kernels.lower_pairs(nao)
    full = np.empty((nao, nao, packed.shape[1]), dtype=packed.dtype)
    full[b, d] = packed
    full[d, b] = packed
    return full.transpose(2, 0, 1)


def test_exchange_integral_cache_reuses_blocks_within_budget(water_631g):
    mol = water_631g
    grids = build_grids(mol, GridSpec(level=1))
    coords = grids.coords[:64]
    cache = features.ExchangeIntegralCache(max_bytes=10**9)
    first = cache.get(mol, grids, 0, coords)
    assert cache.get(mol, grids, 0, coords) is first
    # Packed float32 pairs hold the whole matrices to float32 rounding (relative 6e-8).
    whole = features.exchange_integrals(mol, coords, 0.4)
    assert np.allclose(_unpacked(first[1], mol.nao_nr()), whole, rtol=1e-6, atol=1e-7)
    assert first[1].dtype == np.float32 and cache.bytes_in_memory == sum(nu.nbytes for nu in first)
    # Over budget nothing is kept (and nothing written anywhere): the caller evaluates directly.
    tiny = features.ExchangeIntegralCache(max_bytes=1)
    assert tiny.get(mol, grids, 0, coords) is None and tiny.bytes_in_memory == 0


def test_packed_integrals_in_chunks_match_whole_and_restore_omega(water_631g, monkeypatch):
    # Computed a few points at a time into one buffer (a chunk of 7 points here, so the last chunk is
    # partial); the Mole's range-separation setting must come back to 1/r afterwards (a race once
    # left it at 0.4 and broke every later Coulomb matrix), and its integral screen to libcint's default.
    # The screen (features.INTEGRAL_SCREEN) changes integrals by < 1e-14 of the largest (measured on
    # benzene/cc-pVDZ), so packed and whole agree to float32 storage.
    mol = water_631g
    nao = mol.nao_nr()
    coords = build_grids(mol, GridSpec(level=1)).coords[:300]
    monkeypatch.setattr(features, "INTEGRAL_CHUNK_BYTES", 7 * 8 * nao * nao)
    packed = features.packed_exchange_integrals(mol, coords, (0.0, 0.4))
    assert mol.omega == 0 and mol._env[gto.mole.PTR_EXPCUTOFF] == 0
    for nu, omega in zip(packed, (0.0, 0.4), strict=True):
        whole = features.exchange_integrals(mol, coords, omega)
        assert np.allclose(_unpacked(nu, nao), whole, rtol=1e-6, atol=1e-7)


def test_packed_local_exchange_equals_whole(water_631g):
    # The compiled contraction over packed pairs against numpy on whole matrices, two spin densities
    # at once; both sum in float64, so they agree to the float32 storage of the integrals.
    mol = water_631g
    coords = build_grids(mol, GridSpec(level=1)).coords[:500]
    ao = numint.eval_ao(mol, coords)
    mf = scf.UHF(mol.copy().set(charge=1, spin=1).build()).run()
    dms = mf.make_rdm1()
    packed = features.packed_exchange_integrals(mol, coords, (0.0, 0.4))
    e = np.stack([dm @ ao.T for dm in dms])  # E = D chi (density_terms)
    exx, f = features.packed_local_exchange(packed, e)
    for o, omega in enumerate((0.0, 0.4)):
        nu = features.exchange_integrals(mol, coords, omega)
        ref_e, ref_f = features.local_exchange(nu, ao, dms)
        assert np.allclose(exx[:, :, o], ref_e, rtol=1e-6, atol=1e-9)
        assert np.allclose(f[o], ref_f.transpose(2, 1, 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("nao", [1, 4, 13, 23])
def test_contract_pairs_equals_float64_product(nao):
    # The compiled contraction takes rows four at a time (kernels.ROWS_PER_PASS) with the rest one at
    # a time: every size below, over and between multiples of four, and a partial block of points
    # (600 = 2 x 256 + 88), must give F_b = sum_d nu_bd E_d as the same float32 integrals summed in
    # float64 by numpy, to float64 rounding (only the order of the sums differs).
    rng = np.random.default_rng(nao)
    n = 600
    packed = rng.standard_normal((nao * (nao + 1) // 2, n)).astype(np.float32)
    e = rng.standard_normal((2, nao, n))
    f = np.full((2, nao, n), 0.5)  # contract_pairs adds to f
    kernels.contract_pairs(packed, e, f)
    whole = _unpacked(packed, nao).astype(np.float64)  # (N, nao, nao)
    expected = 0.5 + np.einsum("gbd,kdg->kbg", whole, e)
    assert np.allclose(f, expected, rtol=1e-13, atol=1e-13 * np.abs(expected).max())


def test_exchange_integral_cache_keeps_the_last_blocks_within_budget(water_631g):
    # A budget for two of four blocks: the last two are kept (their memory mapped ahead by a thread while
    # the first two are evaluated directly), bit for bit as computed directly, then and at the next pass.
    mol = water_631g
    grids = build_grids(mol, GridSpec(level=1))
    n = -(-grids.weights.size // 4)  # four blocks, the last one shorter
    blocks = [grids.coords[n * b : n * (b + 1)] for b in range(4)]
    nao = mol.nao_nr()
    cache = features.ExchangeIntegralCache(max_bytes=2 * 4 * (nao * (nao + 1) // 2) * n * 2)
    direct = [features.packed_exchange_integrals(mol, c, (0.0, 0.4)) for c in blocks]
    first = [cache.get(mol, grids, b, c) for b, c in enumerate(blocks)]
    assert first[0] is None and first[1] is None
    assert cache.bytes_in_memory == sum(nu.nbytes for nus in direct[2:] for nu in nus)
    again = [cache.get(mol, grids, b, c) for b, c in enumerate(blocks)]
    for got in (first, again):
        for nus, ref in zip(got[2:], direct[2:], strict=True):
            assert all(np.array_equal(x, y) for x, y in zip(nus, ref, strict=True))


def test_direct_local_exchange_equals_packed(water_631g):
    # Blocks beyond the budget: integrals evaluated and contracted at once (PySCF's seminumerical
    # exchange driver, shell pairs with overlap bound < DIRECT_SCREEN skipped) against the packed
    # float32 integrals summed in float64, two spin densities at once, both omegas: they agree to the
    # packed integrals' float32 rounding (relative 6e-8; 1e-6 allowed), and the Mole's kernel is 1/r after.
    mol = water_631g
    grids = build_grids(mol, GridSpec(level=1))
    near = np.linalg.norm(grids.coords - mol.atom_coord(0), axis=1) < 2.0  # where exchange is large
    coords = np.ascontiguousarray(grids.coords[near][:700])
    ao = numint.eval_ao(mol, coords)
    dms = scf.UHF(mol.copy().set(charge=1, spin=1).build()).run().make_rdm1()
    e = np.stack([dm @ ao.T for dm in dms])
    packed = features.packed_local_exchange(features.packed_exchange_integrals(mol, coords, (0.0, 0.4)), e)
    direct = features.DirectExchange(mol).local_exchange(coords, e, (0.0, 0.4))
    assert mol.omega == 0
    assert np.allclose(direct[0], packed[0], rtol=1e-6, atol=1e-9)
    assert np.allclose(direct[1], packed[1], rtol=1e-6, atol=1e-8)
    assert np.abs(direct[0]).max() > 0.1  # not a trivial match: e_x near the oxygen
