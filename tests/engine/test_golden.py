"""Official DM21 golden values (neural_numint_test.py of google-deepmind/deepmind-research,
computed with the PySCF of the DM21 paper). Those tests switch grid pruning off
(small_rho_cutoff = 1e-20), so these runs use the reference grid unpruned. Bar: 2e-5 Ha.

Measured here: Ne within 6e-7 Ha for all four; the C triplet within 1.9e-5 Ha. The C atom's half
-filled p shell can orient its plane at no cost but for the grid's anisotropy, to which DM21 is
sensitive (1e-5 to 6e-5 Ha): the energy depends on the SCF path. The driver's default path, a
B3LYP warm start (which settles in a coordinate plane), is the one checked here.
"""

import pytest

from explorer.chem.molecules import parse_atoms
from explorer.engine.grids import GridSpec
from explorer.engine.scf import run_scf

pytestmark = pytest.mark.slow

NE_RKS = {"DM21": -126.898521, "DM21m": -126.907332, "DM21mc": -126.922127, "DM21mu": -126.898178}
C_UKS = {"DM21": -37.34184876, "DM21m": -37.3377766, "DM21mc": -37.33489173, "DM21mu": -37.34015315}
UNPRUNED = GridSpec(level=3, prune=False)


@pytest.mark.parametrize("functional, expected", NE_RKS.items())
def test_neon_rks(functional, expected):
    result = run_scf(parse_atoms("Ne 0 0 0", basis="sto-3g"), functional, grid=UNPRUNED)
    assert result.converged and result.kind == "RKS"
    assert result.energy == pytest.approx(expected, abs=2e-5)


@pytest.mark.parametrize("functional, expected", C_UKS.items())
def test_carbon_triplet_uks(functional, expected):
    result = run_scf(parse_atoms("C 0 0 0", spin=2, basis="sto-3g"), functional, grid=UNPRUNED)
    assert result.converged and result.kind == "UKS"
    assert result.s2 == pytest.approx(2.0, abs=1e-3)
    assert result.energy == pytest.approx(expected, abs=2e-5)
