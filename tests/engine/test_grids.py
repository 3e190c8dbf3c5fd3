"""The DM21 reference grid spec."""

import numpy as np
import pytest
from pyscf import dft, gto, scf
from pyscf.dft import radi

from explorer.engine.grids import GridSpec, build_grids, grid_from_arrays
from explorer.errors import InputError


def test_radial_switch_is_restored(water_631g):
    before = radi.ATOM_SPECIFIC_TREUTLER_GRIDS
    build_grids(water_631g, GridSpec(prune=False))
    assert radi.ATOM_SPECIFIC_TREUTLER_GRIDS == before


def test_reference_grid_differs_from_pyscf_default(water_631g):
    ref = build_grids(water_631g, GridSpec(prune=False))
    default = dft.Grids(water_631g).build()
    # Element-independent radii move the radial points (and with them the angular pruning).
    assert ref.weights.size != default.weights.size
    # Both integrate an SCF density to the electron count.
    dm = scf.RHF(water_631g).run().make_rdm1()
    for grids in (ref, default):
        rho = dft.numint.NumInt().get_rho(water_631g, dm, grids)
        assert grids.weights @ rho == pytest.approx(10.0, abs=1e-4)
    pyscf_spec = build_grids(water_631g, GridSpec(spec="pyscf"))
    assert np.allclose(pyscf_spec.coords, default.coords)


def test_pruning_drops_points_for_neutral_but_not_for_ions():
    neutral = gto.M(atom="O 0 0 0; H 0 0 0.97", basis="6-31g", spin=1, verbose=0)
    anion = gto.M(atom="O 0 0 0; H 0 0 0.97", basis="6-31g", charge=-1, verbose=0)
    for mol, should_prune in ((neutral, True), (anion, False)):
        full = build_grids(mol, GridSpec(prune=False)).weights
        pruned = build_grids(mol, GridSpec()).weights
        assert (pruned.size < full.size) is should_prune
        # Dropped points carry almost no density: the integration weight barely changes.
        assert pruned.sum() <= full.sum()


def test_bad_specs_and_arrays_are_input_errors(water_631g):
    with pytest.raises(InputError, match="grid level"):
        GridSpec(level=12)
    with pytest.raises(InputError, match="grid spec"):
        GridSpec(spec="fine")
    with pytest.raises(InputError, match="coords"):
        grid_from_arrays(water_631g, np.zeros((4, 2)), np.ones(4))
