"""Analytic nuclear gradients against central finite differences (issue 18).

Tolerance 2e-5 Ha/bohr: DM21 energies carry float32 noise of ~1e-8 Ha per electron, so a central
difference with h = 0.005 bohr on a 10-electron molecule has ~1e-5 Ha/bohr of noise, plus an
h^2/6 E''' truncation error of a few 1e-6 Ha/bohr (measured: B3LYP, which has no float32 noise,
agrees to 1e-6 - 4e-6 with the same steps).
"""

import numpy as np
import pytest

from explorer.chem.molecules import from_library
from explorer.engine import gradients
from explorer.engine.grids import GridSpec
from explorer.engine.numint import DM21NumInt
from explorer.engine.scf import solve_scf

TOLERANCE = 2e-5


@pytest.fixture(scope="module")
def water():
    return from_library("water", basis="6-31g")


@pytest.fixture(scope="module")
def water_dm21_scf(water):
    return solve_scf(water, "DM21", conv_tol=gradients.GRADIENT_CONV_TOL)


@pytest.mark.parametrize("functional", ["DM21", "DM21m", "DM21mc", "DM21mu"])
def test_xc_term_matches_finite_differences_at_fixed_density(functional, water, water_dm21_scf):
    """The XC force alone: dE_xc/dR at a fixed density matrix (AO basis), one coordinate of each
    atom of water, against central differences of E_xc on the grid frame moved with the atoms."""
    _, mf = water_dm21_scf
    dm = mf.make_rdm1()
    ni = DM21NumInt(functional)
    frame = gradients.GridFrame(mf.mol, mf.grids, GridSpec())
    analytic = gradients.xc_gradient(ni, mf.mol, frame, dm / 2, dm / 2, restricted=True)
    h = gradients.CHECK_STEP
    for atom, axis in [(0, 2), (1, 1), (2, 2)]:
        e = []
        for sign in (1, -1):
            mol = gradients.displaced(water, atom, axis, sign * h).to_pyscf()
            e.append(ni.integrate(mol, frame.grid_at(mol), dm / 2, dm / 2, restricted=True)[1])
        numeric = (e[0] - e[1]) / (2 * h)
        assert abs(analytic[atom, axis] - numeric) < TOLERANCE, (atom, axis, analytic[atom, axis], numeric)
    # The XC forces are not small (~0.1-1 Ha/bohr), so the check can fail.
    assert np.abs(analytic).max() > 0.05


def _check_against_finite_differences(molecule, functional, coordinates):
    result, analytic = gradients.scf_gradient(molecule, functional)
    numeric = gradients.finite_difference_gradient(molecule, functional, coordinates)
    for (atom, axis), value in zip(coordinates, numeric, strict=True):
        assert abs(analytic[atom, axis] - value) < TOLERANCE, (atom, axis, analytic[atom, axis], value)
    # Translations and rotations do not change the energy (the grid moves and turns with the
    # molecule): forces and torques sum to zero. Without the turning, ammonia's torques summed to 7e-5.
    assert np.abs(analytic.sum(axis=0)).max() < 1e-6
    coords = molecule.to_pyscf().atom_coords()
    assert np.abs(np.cross(coords - coords.mean(axis=0), analytic).sum(axis=0)).max() < 1e-6
    return result, analytic


@pytest.mark.parametrize("functional", ["DM21", "DM21m", "DM21mc", "DM21mu"])
def test_scf_gradient_of_water_matches_finite_differences(functional, water):
    """RKS: a hydrogen along y (an O-H stretch and bend)."""
    _check_against_finite_differences(water, functional, [(1, 1)])


def test_scf_gradient_of_ammonia_matches_finite_differences():
    _check_against_finite_differences(from_library("ammonia", basis="6-31g"), "DM21", [(1, 0)])


def test_uks_gradient_of_triplet_methylene_matches_finite_differences():
    """UKS, a non-degenerate open shell (a radical with a degenerate pi hole, such as OH, has a family
    of SCF solutions a grid error apart, ~1e-5 Ha, and no well-defined finite difference)."""
    result, _ = _check_against_finite_differences(
        from_library("CH2 (triplet)", basis="6-31g"), "DM21", [(1, 1)]
    )
    assert result.kind == "UKS"


def test_grid_response_is_what_makes_forces_sum_to_zero(water_dm21_scf):
    """Without the grid response (points fixed in space, weights frozen) the forces of water do not
    sum to zero; the measured size of the term is stated in the README."""
    _, mf = water_dm21_scf
    dm = mf.make_rdm1()
    frame = gradients.GridFrame(mf.mol, mf.grids, GridSpec())
    fixed = gradients.xc_gradient(
        mf._numint, mf.mol, frame, dm / 2, dm / 2, restricted=True, grid_response=False
    )
    moving = gradients.xc_gradient(mf._numint, mf.mol, frame, dm / 2, dm / 2, restricted=True)
    assert np.abs(fixed.sum(axis=0)).max() > 1e-5
    assert np.abs(moving.sum(axis=0)).max() < 1e-6


def test_classical_gradient_matches_finite_differences(water):
    _check_against_finite_differences(water, "B3LYP", [(1, 1)])


def test_roks_is_refused(water):
    from explorer.errors import InputError

    with pytest.raises(InputError, match="ROKS"):
        gradients.scf_gradient(water, "B3LYP", kind="ROKS")
