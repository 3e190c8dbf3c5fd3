"""Local Hartree-Fock exchange densities against PySCF's exchange matrices."""

import numpy as np
import pytest
from pyscf import scf
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
    tiny = features.ExchangeIntegralCache(max_bytes=1)
    assert tiny.get(mol, grids, 0, coords) is not tiny.get(mol, grids, 0, coords)
