"""D3(BJ) dispersion energies from the simple-dftd3 library (package ``dftd3``), in Hartree.

Becke-Johnson (rational) damping with the two-body terms only (s9 = 0), the form of Grimme,
Ehrlich and Goerigk, J. Comput. Chem. 32, 1456 (2011), with each functional's parameters from
dftd3's table. dftd3 gives the DM21 family B3LYP's parameters (s8 1.9889, a1 0.3981, a2 4.4211),
as the DM21 authors did (simple-dftd3 issue #39 and pull request #42; DM21's README says the
paper's results include D3 corrections).
"""

from __future__ import annotations

import numpy as np
from pyscf.data import elements
from pyscf.lib import param

from explorer.chem.molecules import Molecule
from explorer.errors import InputError

DM21_NOTE = "DM21 rows use B3LYP's D3(BJ) parameters, as the DM21 authors did."


def d3bj_energy(molecule: Molecule, functional: str) -> float:
    """D3(BJ) dispersion energy (Hartree) of ``molecule`` for ``functional``; InputError when
    dftd3 has no D3(BJ) parameters for it."""
    from dftd3.interface import DispersionModel, RationalDampingParam

    numbers = np.array([elements.charge(symbol) for symbol, _ in molecule.atoms])
    positions = np.array([xyz for _, xyz in molecule.atoms], dtype=float) / param.BOHR  # Angstrom -> Bohr
    try:
        damping = RationalDampingParam(method=functional.lower())  # two-body only: s9 = 0
    except RuntimeError:
        raise InputError(f"no D3(BJ) parameters for {functional!r}") from None
    model = DispersionModel(numbers, positions)
    return float(model.get_dispersion(damping, grad=False)["energy"])
