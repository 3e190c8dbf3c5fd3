"""DM21 Explorer: DeepMind's DM21 exchange-correlation functionals beside classical ones.

DM21: J. Kirkpatrick et al., "Pushing the frontiers of density functionals by solving the
fractional electron problem", Science 374, 1385 (2021). Weights: CC BY 4.0, loaded at run time.

Public API (importing it loads neither TensorFlow nor Streamlit)::

    from explorer import parse_atoms, run_scf
    water = parse_atoms("O 0 0 0; H 0 0.757 0.587; H 0 -0.757 0.587", basis="cc-pvdz")
    result = run_scf(water, "DM21")
    print(result.energy)  # Hartree
"""

from explorer.analyses.compare import compare_functionals, comparison_table
from explorer.analyses.geometry import frequencies, optimize
from explorer.chem.molecules import Molecule, from_library, from_smiles, parse_atoms, parse_xyz
from explorer.engine.gradients import scf_gradient
from explorer.engine.grids import GridSpec, build_grids
from explorer.engine.scf import Result, evaluate_xc, run_scf
from explorer.errors import ConvergenceError, ExplorerError, InputError, WeightsError
from explorer.functionals import Functional, resolve
from explorer.runs.cached import run_scf_stored
from explorer.runs.store import ResultsStore

__version__ = "0.1.0"

__all__ = [
    "ConvergenceError",
    "ExplorerError",
    "Functional",
    "GridSpec",
    "InputError",
    "Molecule",
    "Result",
    "ResultsStore",
    "WeightsError",
    "build_grids",
    "compare_functionals",
    "comparison_table",
    "evaluate_xc",
    "from_library",
    "frequencies",
    "from_smiles",
    "optimize",
    "parse_atoms",
    "parse_xyz",
    "resolve",
    "run_scf",
    "run_scf_stored",
    "scf_gradient",
]
