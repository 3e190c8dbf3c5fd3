"""DM21NumInt: the potential matrix is the derivative of E_xc (central finite differences)."""

import numpy as np
import pytest
from pyscf import dft

from explorer.engine import features
from explorer.engine.grids import GridSpec, build_grids
from explorer.engine.numint import DM21NumInt
from explorer.engine.scf import FLOAT32_ENERGY_NOISE_PER_ELECTRON, make_ks


def _light_grid_and_b3lyp_dm(mol, kind):
    """A level-1 reference grid and the B3LYP density matrix on it: a realistic test density."""
    grids = build_grids(mol, GridSpec(level=1))
    mf = (dft.UKS if kind == "UKS" else dft.RKS)(mol)
    mf.xc = "b3lyp"
    mf.grids = grids
    return grids, mf.run().make_rdm1()


def _fd_check(energy, dm, vmat, seed):
    # dE/dh of E(D + h P) at h=0 must equal tr(V P). Step 2e-3 on a P of norm ~0.05: the
    # truncation error (~1e-8) is far below the float32 noise of E_xc (~1e-7 Ha), which sets
    # the tolerance 1e-4 + 2e-3 |tr(V P)| (measured differences: up to 1.6e-5).
    rng = np.random.default_rng(seed)
    p = rng.normal(size=vmat.shape)
    p = 0.025 * (p + p.T)
    h = 2e-3
    fd = (energy(dm + h * p) - energy(dm - h * p)) / (2 * h)
    analytic = np.sum(vmat * p)
    assert abs(fd - analytic) < 1e-4 + 2e-3 * abs(analytic), (fd, analytic)
    return analytic


def test_rks_potential_is_energy_derivative(water_631g):
    mol = water_631g
    grids, dm = _light_grid_and_b3lyp_dm(mol, "RKS")
    ni = DM21NumInt("DM21")
    _, _, v = ni.nr_rks(mol, grids, "", dm)
    assert np.allclose(v, v.T)
    for seed in range(2):
        assert abs(_fd_check(lambda d: ni.nr_rks(mol, grids, "", d)[1], dm, v, seed)) > 1e-3


@pytest.mark.parametrize("spin", [0, 1])
def test_uks_potential_is_energy_derivative(carbon_triplet, spin):
    mol = carbon_triplet
    grids, dm = _light_grid_and_b3lyp_dm(mol, "UKS")
    ni = DM21NumInt("DM21")
    _, _, v = ni.nr_uks(mol, grids, "", dm)

    def energy(d_spin):
        d = dm.copy()
        d[spin] = d_spin
        return ni.nr_uks(mol, grids, "", d)[1]

    assert abs(_fd_check(energy, dm[spin], v[spin], seed=spin)) > 1e-3


def test_restricted_is_unrestricted_with_equal_spins(water_631g):
    mol = water_631g
    grids, dm = _light_grid_and_b3lyp_dm(mol, "RKS")
    ni = DM21NumInt("DM21mc")
    n_r, e_r, v_r = ni.nr_rks(mol, grids, "", dm)
    n_u, e_u, v_u = ni.nr_uks(mol, grids, "", np.array([dm / 2, dm / 2]))
    assert n_r == pytest.approx(10.0, abs=1e-3) and np.allclose(n_u, 5.0, atol=1e-3)
    # Equal up to float32 rounding: the exchange integrals are kept as float32, and one spin or two
    # stacked take different rounding paths through the product with them (measured: 3e-8 Ha).
    assert e_r == pytest.approx(e_u, abs=2e-7)
    assert np.allclose(v_r, (v_u[0] + v_u[1]) / 2, atol=1e-7)


def test_roks_runs(carbon_triplet):
    mf = make_ks(carbon_triplet, "DM21", "ROKS", build_grids(carbon_triplet, GridSpec(level=1)))
    # PySCF's default energy test (1e-9 Ha) lies below DM21's float32 noise (energies jitter by
    # ~5e-8 Ha here), so it is set to the floor run_scf uses.
    mf.conv_tol = FLOAT32_ENERGY_NOISE_PER_ELECTRON * carbon_triplet.nelectron
    e = mf.kernel()
    assert mf.converged and np.isfinite(e)
    # ROKS is a constrained UKS: its energy cannot be below the UKS minimum on the same grid.
    uks = make_ks(carbon_triplet, "DM21", "UKS", mf.grids)
    assert uks.kernel(dm0=mf.make_rdm1()) <= e + 1e-6


def test_energy_density_integrates_to_exc(water_631g):
    mol = water_631g
    grids, dm = _light_grid_and_b3lyp_dm(mol, "RKS")
    ni = DM21NumInt("DM21")
    density = np.full(grids.weights.size, np.nan)
    _, e_xc, _ = ni.integrate(mol, grids, dm / 2, dm / 2, restricted=True, energy_density_out=density)
    assert np.isfinite(density).all() and (density[grids.weights > 0] <= 0).all()
    assert grids.weights @ density == pytest.approx(e_xc, abs=1e-10)
    assert e_xc == pytest.approx(ni.nr_rks(mol, grids, "", dm)[1], abs=1e-12)


@pytest.mark.parametrize(("molecule", "kind"), [("water_631g", "RKS"), ("carbon_triplet", "UKS")])
def test_direct_exchange_equals_kept_integrals(molecule, kind, request, monkeypatch):
    # With no memory left for kept integrals every block is evaluated directly (DirectExchange: float64
    # integrals contracted as computed, pairs screened by the density): E_xc and its potential equal the
    # kept float32 integrals' within the float32 noise of the network's inputs and outputs: the
    # energy within 1e-8 Ha per electron, the potential within 2e-6 of its largest element (measured:
    # water 1e-9 Ha; triplet carbon 5e-7 of 0.4). Switching the pair screen off changes them by < 1e-9.
    mol = request.getfixturevalue(molecule)
    grids, dm = _light_grid_and_b3lyp_dm(mol, kind)
    bound = FLOAT32_ENERGY_NOISE_PER_ELECTRON * mol.nelectron

    def xc(memory_mb):
        ni = DM21NumInt("DM21", memory_mb=memory_mb)
        out = ni.nr_rks(mol, grids, "", dm) if kind == "RKS" else ni.nr_uks(mol, grids, "", dm)
        return out[1], np.asarray(out[2]), ni.integral_cache

    e_kept, v_kept, kept = xc(memory_mb=1e5)
    e_direct, v_direct, direct = xc(memory_mb=0)
    assert kept.bytes_in_memory > 0 and direct.bytes_in_memory == 0
    assert direct.direct(mol, grids).groups > 0  # the direct path ran
    assert abs(e_direct - e_kept) < bound
    assert np.abs(v_direct - v_kept).max() < 2e-6 * np.abs(v_kept).max()
    monkeypatch.setattr(features, "PAIR_SCREEN", 0.0)
    e_unscreened, v_unscreened, _ = xc(memory_mb=0)
    assert abs(e_unscreened - e_direct) < 1e-9
    assert np.abs(v_unscreened - v_direct).max() < 1e-9
