"""Local Hartree-Fock exchange densities against PySCF's exchange matrices."""

import numpy as np
import pytest
from pyscf import lib, scf
from pyscf.dft import numint

from explorer import features
from explorer.grids import GridSpec, build_grids


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
    rho = features.spin_densities(mol, ao, dm, None)
    assert rho.shape == (5, grids.weights.size)  # rho, grad x/y/z, tau: no Laplacian row
    assert grids.weights @ rho[0] == pytest.approx(5.0, abs=1e-4)
    # Kinetic energy: sum_r w tau_a = 1/2 tr(D_a T) with T the kinetic-energy matrix.
    assert grids.weights @ rho[4] == pytest.approx(np.sum(dm * mol.intor("int1e_kin")), rel=1e-5)


def test_exchange_integral_cache_reuses_blocks_within_budget(water_631g):
    mol = water_631g
    grids = build_grids(mol, GridSpec(level=1))
    coords = grids.coords[:64]
    cache = features.ExchangeIntegralCache(max_bytes=10**9)
    first = cache.get(mol, grids, 0, coords)
    assert cache.get(mol, grids, 0, coords) is first
    assert np.allclose(first[1], features.exchange_integrals(mol, coords, 0.4))
    assert first[1].dtype == np.float32 and cache.bytes_in_memory == sum(nu.nbytes for nu in first)
    # Over budget: blocks go to a temporary file and come back bit for bit.
    tiny = features.ExchangeIntegralCache(max_bytes=1)
    spilled = [tiny.get(mol, grids, b, grids.coords[64 * b : 64 * (b + 1)]) for b in range(3)]
    assert tiny.bytes_in_memory == 0 and tiny.bytes_on_disk == sum(nu.nbytes for s in spilled for nu in s)
    for b, nus in enumerate(spilled):
        again = tiny.get(mol, grids, b, grids.coords[64 * b : 64 * (b + 1)])
        assert all(np.array_equal(x, y) for x, y in zip(again, nus, strict=True))
    # Without spilling, over-budget blocks are recomputed at each use.
    none = features.ExchangeIntegralCache(max_bytes=1, spill=False)
    assert none.get(mol, grids, 0, coords) is not none.get(mol, grids, 0, coords)
    assert none.bytes_on_disk == 0


def test_threaded_integrals_equal_serial_and_restore_omega(water_631g):
    # The integrals are split across threads; the range-separation setting of the shared Mole must
    # come back to 1/r afterwards (a race once left it at 0.4 and broke every later Coulomb matrix).
    mol = water_631g
    coords = build_grids(mol, GridSpec(level=1)).coords[:300]
    threaded = features.exchange_integrals(mol, coords, 0.4)
    assert mol.omega == 0
    with lib.with_omp_threads(1):
        serial = features.exchange_integrals(mol, coords, 0.4)
    assert np.array_equal(threaded, serial)
