"""Geometries and vibrations: optimisation, harmonic frequencies with IR intensities, bond and angle
tables, and their comparison with experiment.

Units: energies in Hartree, gradients in Hartree/bohr, coordinates in Angstrom, angles in degrees,
frequencies in cm-1, IR intensities in km/mol.

- ``optimize``: geomeTRIC (TRIC internal coordinates) drives the geometry; every energy and gradient it
  asks for is an SCF with explorer.engine.gradients.scf_gradient, warm-started from the previous
  step's density. Converged when geomeTRIC's criteria (CONVERGENCE) hold and the largest atomic
  gradient is below MAX_GRADIENT.
- ``frequencies``: the Hessian by central differences of analytic gradients (every displaced point
  on the central geometry's grid moved with the atoms, so the energy is smooth along the stencil),
  dipole derivatives from the same points, PySCF's harmonic analysis (pyscf.hessian.thermo) for
  frequencies, modes and the zero-point energy.
- ``geometry_table`` and ``compare_to_experiment``: bonds and angles, against the library's
  experimental structures (their source given).
- Stored runs and tasks: ``optimize_stored`` / ``frequencies_stored`` go through the results store
  (explorer.runs.geometry); ``submit_optimization`` / ``submit_frequencies`` put them on the Dask
  cluster (the frequency stencil's gradients fan out as one task each).

Note: "B3LYP" is PySCF's VWN-RPA flavour (VWN3, as in Gaussian) since PySCF 2.3, not VWN5.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from types import SimpleNamespace

import numpy as np
from pyscf.lib import param

from explorer import functionals
from explorer.chem import molecules as chem
from explorer.chem.molecules import Molecule
from explorer.chem.units import from_hartree
from explorer.engine.gradients import displaced, scf_gradient
from explorer.engine.grids import GridSpec
from explorer.errors import ConvergenceError, InputError
from explorer.functionals import Functional

#: Largest atomic gradient (norm of one atom's 3-vector, Hartree/bohr) of a converged geometry.
MAX_GRADIENT = 3e-4
#: geomeTRIC's convergence criteria: its defaults (energy change 1e-6 Ha, RMS displacement 1.2e-3 and
#: largest 1.8e-3 Angstrom) with the gradient ones tightened from 3e-4 (RMS) and 4.5e-4 (largest) so
#: that every converged geometry meets MAX_GRADIENT with a margin.
CONVERGENCE = {
    "convergence_energy": 1e-6,
    "convergence_grms": 1e-4,
    "convergence_gmax": 2e-4,
    "convergence_drms": 1.2e-3,
    "convergence_dmax": 1.8e-3,
}
#: Most optimisation steps allowed.
MAX_STEPS = 200
#: Default finite-difference step of the frequency stencil, bohr.
FREQUENCY_STEP = 0.005
#: Bonds are pairs of atoms closer than this factor times the sum of their covalent radii.
BOND_FACTOR = 1.3
#: The ten molecules of the geometry benchmark (library names; experimental structures with sources).
BENCH_MOLECULES = (
    "H2",
    "N2",
    "CO",
    "HF",
    "water",
    "ammonia",
    "methane",
    "acetylene",
    "ethylene",
    "formaldehyde",
)

_BOHR = param.BOHR  # Angstrom per bohr


# --- results ------------------------------------------------------------------------------------


@dataclass
class OptimizationStep:
    """One energy and gradient evaluation of an optimisation: energy (Ha), largest and RMS atomic
    gradient norms (Ha/bohr), and the geometry (Angstrom) it was taken at."""

    step: int
    energy: float
    max_gradient: float
    rms_gradient: float
    atoms: list

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Optimization:
    """A geometry optimisation: converged (geomeTRIC's criteria and max_gradient < MAX_GRADIENT),
    the energy (Ha) and largest atomic gradient norm (Ha/bohr) at the final geometry, the final
    atoms [[symbol, x, y, z], ...] in Angstrom, the number of energy+gradient evaluations (steps),
    every evaluation in order (trajectory; steps geomeTRIC rejected included), the grid spec and
    the wall time (s)."""

    functional: str
    basis: str
    charge: int
    spin: int
    converged: bool
    energy: float
    atoms: list
    steps: int
    max_gradient: float
    trajectory: list[OptimizationStep]
    grid: dict
    seconds: float
    name: str = ""

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Optimization:
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        data["trajectory"] = [OptimizationStep(**s) for s in data.get("trajectory", [])]
        return cls(**data)

    def molecule(self) -> Molecule:
        """The Molecule at the final geometry (same charge, 2S, basis and name)."""
        return _molecule_from(self.atoms, self.charge, self.spin, self.basis, self.name)


@dataclass
class Vibrations:
    """Harmonic vibrational analysis at one geometry (``atoms``, Angstrom).

    frequencies_cm1: vibrational modes only (3N-6, or 3N-5 for linear molecules), ascending, in
    cm-1; an imaginary frequency is given as a negative number. ir_intensities: km/mol, one per
    mode. imaginary: the imaginary frequencies among them, as negative numbers (cm-1). zpe: zero-point
    energy of the real modes, Hartree (zpe_kcal: kcal/mol). modes: per mode, the Cartesian
    displacement of each atom, (n_atoms, 3), normalised to unit length over all atoms (dimensionless
    direction; multiply by an amplitude in Angstrom to animate). reduced_masses: amu.
    all_frequencies_cm1: the 3N frequencies of the full Hessian, translations and rotations not
    projected out (near zero for a converged, rotationally invariant calculation). step: the
    finite-difference step (bohr). energy: the SCF energy (Ha) at the geometry, the mean of the
    stencil's displaced energies (error of order step^2)."""

    functional: str
    basis: str
    charge: int
    spin: int
    atoms: list
    frequencies_cm1: list[float]
    ir_intensities: list[float]
    zpe: float
    zpe_kcal: float
    imaginary: list[float]
    modes: list
    reduced_masses: list[float]
    all_frequencies_cm1: list[float]
    step: float
    grid: dict
    energy: float
    seconds: float
    name: str = ""

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Vibrations:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def molecule(self) -> Molecule:
        """The Molecule at the geometry analysed."""
        return _molecule_from(self.atoms, self.charge, self.spin, self.basis, self.name)


def _molecule_from(atoms, charge: int, spin: int, basis: str, name: str) -> Molecule:
    return Molecule(
        tuple((s, (float(x), float(y), float(z))) for s, x, y, z in atoms), charge, spin, basis, name
    )


def atom_rows(molecule: Molecule) -> list:
    """The atoms of ``molecule`` as [[symbol, x, y, z], ...] (Angstrom)."""
    return [[s, float(x), float(y), float(z)] for s, (x, y, z) in molecule.atoms]


def _with_coordinates(molecule: Molecule, coords_angstrom: np.ndarray) -> Molecule:
    atoms = tuple(
        (s, tuple(float(c) for c in xyz)) for (s, _), xyz in zip(molecule.atoms, coords_angstrom, strict=True)
    )
    return Molecule(atoms, molecule.charge, molecule.spin, molecule.basis, molecule.name, molecule.source)


def _gradient_norms(gradient: np.ndarray) -> tuple[float, float]:
    """(largest, RMS) of the atoms' gradient norms, Hartree/bohr."""
    norms = np.linalg.norm(np.asarray(gradient).reshape(-1, 3), axis=1)
    return float(norms.max()), float(np.sqrt(np.mean(norms**2)))


def _check_molecule(molecule: Molecule, what: str) -> None:
    if len(molecule.atoms) < 2:
        raise InputError(f"{what} needs at least two atoms, got {len(molecule.atoms)}")
    molecule.to_pyscf()  # a bad basis or charge/spin is reported before anything runs


# --- optimisation -------------------------------------------------------------------------------


def _geometric_engine(molecule: Molecule, evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]]):
    """A geomeTRIC Engine whose single points are ``evaluate(coords in bohr, (n_atoms, 3))`` ->
    (energy Ha, gradient (n_atoms, 3) Ha/bohr)."""
    import geometric.engine
    import geometric.molecule

    class _Engine(geometric.engine.Engine):
        def calc_new(self, coords, dirname):
            energy, gradient = evaluate(np.asarray(coords, dtype=float).reshape(-1, 3))
            return {"energy": energy, "gradient": np.asarray(gradient, dtype=float).ravel()}

    start = geometric.molecule.Molecule()
    start.elem = [s for s, _ in molecule.atoms]
    start.xyzs = [np.array([xyz for _, xyz in molecule.atoms], dtype=float)]
    return _Engine(start)


def optimize(
    molecule: Molecule,
    functional: Functional | str,
    *,
    grid: GridSpec | None = None,
    max_steps: int = 50,
    callback: Callable[[dict], None] | None = None,
    iteration_callback: Callable[[dict], None] | None = None,
) -> Optimization:
    """Optimises ``molecule``'s geometry with ``functional`` (geomeTRIC, TRIC coordinates, criteria
    CONVERGENCE) on the grid spec ``grid``; at most ``max_steps`` energy+gradient evaluations.

    ``callback`` receives after every evaluation {"stage": "step", "step": n (from 1), "energy" (Ha),
    "max_gradient", "rms_gradient" (Ha/bohr), "atoms" ([[symbol, x, y, z]], Angstrom)};
    ``iteration_callback`` every SCF iteration (run_scf's dicts, their "stage" prefixed "step n: ").
    Each SCF starts from the previous step's density. Returns the Optimization (converged False if
    the steps ran out or the final gradient is not below MAX_GRADIENT); raises ConvergenceError if an
    SCF does not converge."""
    import geometric.optimize
    from geometric.errors import Error as GeometricError
    from geometric.errors import GeomOptNotConvergedError
    from geometric.internal import DelocalizedInternalCoordinates
    from geometric.params import OptParams

    functional = functionals.resolve(functional)
    grid = grid or GridSpec()
    _check_molecule(molecule, "a geometry optimisation")
    if not (isinstance(max_steps, int) and 1 <= max_steps <= MAX_STEPS):
        raise InputError(f"the number of optimisation steps must be 1 to {MAX_STEPS}, got {max_steps!r}")
    t0 = time.perf_counter()
    evaluations: list[dict] = []
    previous: dict = {}

    def evaluate(coords_bohr: np.ndarray) -> tuple[float, np.ndarray]:
        # The factor that made these coordinates from Angstrom (geomeTRIC's own, or PySCF's once its
        # interface to geomeTRIC was imported: it replaces geomeTRIC's unit constants).
        at = _with_coordinates(molecule, coords_bohr / geometric.optimize.ang2bohr)
        n = len(evaluations) + 1

        def relay(message: dict) -> None:
            if iteration_callback is not None:
                iteration_callback({**message, "stage": f"step {n}: {message.get('stage', '')}"})

        dm0 = previous.get("dm")
        result, gradient = scf_gradient(at, functional, grid=grid, dm0=dm0, callback=relay)
        previous["dm"] = result.dm
        largest, rms = _gradient_norms(gradient)
        step = OptimizationStep(n, float(result.energy), largest, rms, atom_rows(at))
        evaluations.append({"coords": coords_bohr.copy(), "step": step, "result": result})
        if callback is not None:
            callback({"stage": "step", **step.to_dict()})
        return float(result.energy), gradient

    # geomeTRIC reports every step through its loggers at INFO (its molecule logger straight to
    # stdout, which would break the CLI's JSON; the others once a logging setup exists, as PySCF's
    # interface to it makes one): warnings only.
    for name in ("geometric", "geometric.nifty", "MoleculeLogger"):
        logging.getLogger(name).setLevel(logging.WARNING)
    engine = _geometric_engine(molecule, evaluate)
    start = engine.M
    start.build_topology()
    coords = start.xyzs[0].flatten() * geometric.optimize.ang2bohr
    internal = DelocalizedInternalCoordinates(start, build=True, connect=False, addcart=False)
    with tempfile.TemporaryDirectory(prefix="dm21-geomopt-") as folder:
        params = OptParams(maxiter=max_steps, xyzout=os.path.join(folder, "optim.xyz"), **CONVERGENCE)
        try:
            progress = geometric.optimize.Optimize(coords, start, internal, engine, folder, params)
            final = np.asarray(progress.xyzs[-1], dtype=float) * geometric.optimize.ang2bohr
            done = True
        except GeomOptNotConvergedError:
            final, done = evaluations[-1]["coords"], False
        except GeometricError as err:  # e.g. a structure its coordinates cannot describe
            raise ConvergenceError(
                f"the optimiser (geomeTRIC) stopped: {str(err) or type(err).__name__}"
            ) from None
    # The evaluation at geomeTRIC's final geometry (the last one, unless a step was rejected).
    last = min(evaluations, key=lambda e: float(np.abs(e["coords"] - final.reshape(-1, 3)).max()))
    step = last["step"]
    return Optimization(
        functional=functional.name,
        basis=molecule.basis,
        charge=molecule.charge,
        spin=molecule.spin,
        converged=bool(done and step.max_gradient < MAX_GRADIENT),
        energy=step.energy,
        atoms=step.atoms,
        steps=len(evaluations),
        max_gradient=step.max_gradient,
        trajectory=[e["step"] for e in evaluations],
        grid=grid.as_dict(),
        seconds=time.perf_counter() - t0,
        name=molecule.name,
    )


# --- frequencies --------------------------------------------------------------------------------


def _ir_factor() -> float:
    """IR intensity (km/mol) of a mode whose dipole derivative along its mass-weighted normal
    coordinate is 1 e/sqrt(amu): N_A / (12 eps0 c^2) (e^2/amu) (the double-harmonic absorption
    intensity integrated over the band), from CODATA constants (scipy)."""
    from scipy import constants as c

    per_amu = c.e**2 / c.physical_constants["atomic mass constant"][0]
    return c.Avogadro / (12 * c.epsilon_0 * c.c**2) * per_amu / 1000.0


#: km/mol per (e^2/amu) of squared dipole derivative (974.88).
IR_KM_PER_MOL = _ir_factor()


def stencil(molecule: Molecule, step: float = FREQUENCY_STEP) -> list[Molecule]:
    """The 6N displaced geometries of the central-difference stencil, in the order atom, axis (x, y,
    z), sign (+, -); ``step`` in bohr."""
    return [
        displaced(molecule, atom, axis, sign * step)
        for atom in range(len(molecule.atoms))
        for axis in range(3)
        for sign in (1.0, -1.0)
    ]


def _stencil_label(molecule: Molecule, index: int) -> str:
    atom, rest = divmod(index, 6)
    axis, sign = divmod(rest, 2)
    return f"{'+-'[sign]}{'xyz'[axis]} {molecule.atoms[atom][0]}{atom + 1}"


def _serial_gradients(functional, grid, reference, callback):
    def gradients(points: list[Molecule]) -> list[tuple]:
        out, dm0 = [], None
        for i, point in enumerate(points):
            if callback is not None:
                callback({"stage": "displacement", "point": i + 1, "points": len(points)})
            result, gradient = scf_gradient(point, functional, grid=grid, grid_reference=reference, dm0=dm0)
            dm0 = result.dm
            out.append((result, gradient))
        return out

    return gradients


def frequencies(
    molecule: Molecule,
    functional: Functional | str,
    *,
    grid: GridSpec | None = None,
    step: float = FREQUENCY_STEP,
    callback: Callable[[dict], None] | None = None,
    gradients: Callable[[list[Molecule]], list[tuple]] | None = None,
) -> Vibrations:
    """Harmonic frequencies, normal modes, IR intensities and zero-point energy of ``molecule`` (at its
    geometry as given: optimise it first) with ``functional``.

    The Hessian is the central difference of analytic gradients at the 6N points of ``stencil``
    (``step`` bohr), symmetrised; every point uses the central geometry's grid moved with the atoms
    (scf_gradient's grid_reference). Dipole derivatives come from the same points' SCF dipoles.
    ``gradients(points)`` -> [(Result, gradient (n_atoms, 3) Ha/bohr)] computes the points (default:
    one after the other here, ``callback`` told {"stage": "displacement", "point", "points"} before
    each; explorer.runs injects a Dask fan-out). Frequencies and modes: PySCF's harmonic_analysis with
    isotope-averaged masses; the ZPE: PySCF's thermo over the real modes. IR intensity of mode k:
    IR_KM_PER_MOL * |dmu/dQ_k|^2 (dmu in e*bohr, Q the mass-weighted normal coordinate in
    bohr*sqrt(amu))."""
    from pyscf.data import nist
    from pyscf.hessian import thermo

    functional = functionals.resolve(functional)
    grid = grid or GridSpec()
    _check_molecule(molecule, "a frequency calculation")
    if not (isinstance(step, (int, float)) and 1e-4 <= step <= 0.05):
        raise InputError(f"the finite-difference step must be 1e-4 to 0.05 bohr, got {step!r}")
    t0 = time.perf_counter()
    points = stencil(molecule, step)
    compute = gradients or _serial_gradients(functional, grid, molecule, callback)
    computed = compute(points)
    n = len(molecule.atoms)
    grads = np.array([np.asarray(g, dtype=float).reshape(n, 3) for _, g in computed])
    dipoles = np.array([r.dipole for r, _ in computed], dtype=float) / nist.AU2DEBYE  # e*bohr
    energy = float(np.mean([r.energy for r, _ in computed]))
    plus, minus = grads[0::2], grads[1::2]  # (3N, n, 3): d/dR_(atom, axis) of each gradient
    hessian = ((plus - minus) / (2 * step)).reshape(3 * n, 3 * n)
    hessian = 0.5 * (hessian + hessian.T)
    dmu = ((dipoles[0::2] - dipoles[1::2]) / (2 * step)).reshape(n, 3, 3)  # [atom, axis, component]
    hess4 = hessian.reshape(n, 3, n, 3).transpose(0, 2, 1, 3)  # PySCF's (atom, atom, axis, axis)

    mol = molecule.to_pyscf()
    vib = thermo.harmonic_analysis(mol, hess4, imaginary_freq=False)
    full = thermo.harmonic_analysis(mol, hess4, exclude_trans=False, exclude_rot=False, imaginary_freq=False)
    freqs = np.asarray(vib["freq_wavenumber"], dtype=float)
    norm_mode = np.asarray(vib["norm_mode"], dtype=float)  # (modes, atoms, 3), amu^-1/2
    dmu_dq = np.einsum("axc,kax->kc", dmu, norm_mode)  # e / sqrt(amu)
    intensities = IR_KM_PER_MOL * np.sum(dmu_dq**2, axis=1)
    zpe = float(thermo.thermo(SimpleNamespace(mol=mol, e_tot=energy), np.asarray(vib["freq_au"]))["ZPE"][0])
    directions = norm_mode / np.linalg.norm(norm_mode.reshape(len(freqs), -1), axis=1)[:, None, None]
    return Vibrations(
        functional=functional.name,
        basis=molecule.basis,
        charge=molecule.charge,
        spin=molecule.spin,
        atoms=atom_rows(molecule),
        frequencies_cm1=freqs.tolist(),
        ir_intensities=intensities.tolist(),
        zpe=zpe,
        zpe_kcal=float(from_hartree(zpe, "kcal/mol")),
        imaginary=[float(f) for f in freqs if f < 0],
        modes=directions.tolist(),
        reduced_masses=np.asarray(vib["reduced_mass"], dtype=float).tolist(),
        all_frequencies_cm1=np.sort(np.asarray(full["freq_wavenumber"], dtype=float)).tolist(),
        step=float(step),
        grid=grid.as_dict(),
        energy=energy,
        seconds=time.perf_counter() - t0,
        name=molecule.name,
    )


# --- bonds, angles and experiment ----------------------------------------------------------------


def _atoms_of(structure) -> list:
    if isinstance(structure, Molecule):
        return atom_rows(structure)
    if isinstance(structure, (Optimization, Vibrations)):
        return structure.atoms
    return [[s, float(x), float(y), float(z)] for s, x, y, z in _flat(structure)]


def _flat(atoms):
    for atom in atoms:
        if len(atom) == 2:  # (symbol, (x, y, z)) as in Molecule.atoms
            yield atom[0], *atom[1]
        else:
            yield atom


def geometry_table(structure) -> dict:
    """Bonds and angles of ``structure`` (a Molecule, an Optimization or Vibrations, or atoms as
    [[symbol, x, y, z]] or (symbol, (x, y, z)) in Angstrom).

    Bonds: pairs closer than BOND_FACTOR times the sum of their covalent radii (PySCF's table);
    angles: A-B-C for every two bonds at B. Returns {"bonds": [{"atoms": [i, j] (0-based), "label":
    "O1-H2", "kind": "O-H" (heavier atom first), "value": Angstrom}], "angles": [{"atoms": [i, j, k],
    "label": "H2-O1-H3", "kind": "H-O-H" (lighter end first), "value": degrees}]}."""
    from pyscf.data import elements, radii

    atoms = _atoms_of(structure)
    symbols = [a[0] for a in atoms]
    xyz = np.array([a[1:] for a in atoms], dtype=float)
    covalent = [radii.COVALENT[elements.charge(s)] * _BOHR for s in symbols]
    names = [f"{s}{i + 1}" for i, s in enumerate(symbols)]
    bonds, neighbours = [], {i: [] for i in range(len(atoms))}
    for i in range(len(atoms)):
        for j in range(i + 1, len(atoms)):
            r = float(np.linalg.norm(xyz[i] - xyz[j]))
            if r < BOND_FACTOR * (covalent[i] + covalent[j]):
                a, b = sorted((symbols[i], symbols[j]), key=lambda e: (-elements.charge(e), e))
                bonds.append(
                    {"atoms": [i, j], "label": f"{names[i]}-{names[j]}", "kind": f"{a}-{b}", "value": r}
                )
                neighbours[i].append(j)
                neighbours[j].append(i)
    angles = []
    for b in range(len(atoms)):
        around = sorted(neighbours[b])
        for x in range(len(around)):
            for y in range(x + 1, len(around)):
                a, c = around[x], around[y]
                u, v = xyz[a] - xyz[b], xyz[c] - xyz[b]
                cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
                ends = sorted((symbols[a], symbols[c]), key=lambda e: (elements.charge(e), e))
                angles.append(
                    {
                        "atoms": [a, b, c],
                        "label": f"{names[a]}-{names[b]}-{names[c]}",
                        "kind": f"{ends[0]}-{symbols[b]}-{ends[1]}",
                        "value": math.degrees(math.acos(max(-1.0, min(1.0, cos)))),
                    }
                )
    return {"bonds": bonds, "angles": angles}


def _parameters(structure) -> list[dict]:
    """Bonds and angles of ``structure`` as one list, each with "type" ("bond"/"angle") and "unit"."""
    table = geometry_table(structure)
    return [p | {"type": "bond", "unit": "Angstrom"} for p in table["bonds"]] + [
        p | {"type": "angle", "unit": "degree"} for p in table["angles"]
    ]


def compare_to_experiment(optimizations, entry) -> dict:
    """Bonds and angles of optimised structures against an experimental one.

    ``optimizations``: {label (e.g. functional name): Optimization or atoms} (or a list of
    Optimizations, labelled by functional), all with the atoms in the order of ``entry``;
    ``entry``: a library name, a LibraryEntry, or a Molecule with experimental atoms (its
    ``source`` said). Parameters equal in the experimental structure by symmetry (same kind, same
    value to 1e-4) are one row, their computed values averaged; linear angles (180 degrees by
    symmetry) are left out. Returns {"rows": [{"parameter" (e.g. "r(C-H)", "angle(H-C-H)"), "type",
    "unit", "count" (how many equivalent parameters), "experiment", "values": {label: value},
    "deviations": {label: value - experiment}}], "mad": {label: {"bond" (Angstrom), "angle"
    (degrees)}} (mean absolute deviations over the rows; None where there is no row), "source"}."""
    if isinstance(entry, str):
        entry = chem.library_entry(entry)
    reference_atoms, source = entry.atoms, entry.source
    if not isinstance(optimizations, dict):
        optimizations = {o.functional: o for o in optimizations}
    reference = _parameters(reference_atoms)
    computed = {}
    for label, opt in optimizations.items():
        atoms = _atoms_of(opt)
        if [a[0] for a in atoms] != [s for s, _ in reference_atoms]:
            raise InputError(f"{label}: the atoms are not those of the experimental structure, in its order")
        xyz = np.array([a[1:] for a in atoms], dtype=float)
        computed[label] = xyz
    groups: dict[tuple, list[dict]] = {}
    for p in reference:
        if p["type"] == "angle" and p["value"] > 179.9:
            continue
        rounded = round(p["value"], 4 if p["type"] == "bond" else 2)
        groups.setdefault((p["type"], p["kind"], rounded), []).append(p)
    rows = []
    for (kind_type, kind, _), members in groups.items():
        experiment = float(np.mean([p["value"] for p in members]))
        values = {
            label: float(np.mean([_measure(xyz, p["atoms"]) for p in members]))
            for label, xyz in computed.items()
        }
        rows.append(
            {
                "parameter": f"r({kind})" if kind_type == "bond" else f"angle({kind})",
                "type": kind_type,
                "unit": members[0]["unit"],
                "count": len(members),
                "experiment": experiment,
                "values": values,
                "deviations": {label: v - experiment for label, v in values.items()},
            }
        )
    mad = {}
    for label in computed:
        mad[label] = {}
        for kind_type in ("bond", "angle"):
            devs = [abs(r["deviations"][label]) for r in rows if r["type"] == kind_type]
            mad[label][kind_type] = float(np.mean(devs)) if devs else None
    return {"rows": rows, "mad": mad, "source": source}


def _measure(xyz: np.ndarray, atoms: list[int]) -> float:
    if len(atoms) == 2:
        return float(np.linalg.norm(xyz[atoms[0]] - xyz[atoms[1]]))
    a, b, c = atoms
    u, v = xyz[a] - xyz[b], xyz[c] - xyz[b]
    cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


# --- through the results store, and as tasks ----------------------------------------------------


def optimize_stored(
    *,
    store,
    progress: Callable[[dict], None] | None = None,
    molecule: Molecule,
    functional: str,
    grid: GridSpec | None = None,
    max_steps: int = 50,
    task: str = "",
) -> tuple[Optimization, bool]:
    """optimize through ``store`` (keyed by the starting geometry, method, grid and max_steps):
    (Optimization, cached). Only converged optimisations are stored. ``progress`` receives every
    step ({"stage": "step", "step", "energy", "max_gradient", "rms_gradient", "atoms"}), every SCF
    iteration (with "cycle"; "stage" "step n: ...") and the outcome ({"stage": "from the store",
    "done" or "NOT converged", "energy"}), each labelled {"task": task}. A task function for
    explorer.runs.tasks.fan_out (see submit_optimization)."""
    from explorer.runs.geometry import run_stored

    functional = functionals.resolve(functional).name
    grid = grid or GridSpec()

    def tell(message: dict) -> None:
        if progress is not None:
            progress({**message, "task": task or functional})

    def compute() -> tuple[dict, bool]:
        done = optimize(
            molecule, functional, grid=grid, max_steps=max_steps, callback=tell, iteration_callback=tell
        )
        return done.to_dict(), done.converged

    record, cached = run_stored(
        "optimize",
        molecule,
        functional,
        store,
        compute,
        grid=grid,
        options={"max_steps": max_steps, "convergence": CONVERGENCE, "max_gradient": MAX_GRADIENT},
        progress=progress,
        task=task or functional,
    )
    done = Optimization.from_dict(record)
    stage = "from the store" if cached else ("done" if done.converged else "NOT converged")
    tell({"stage": stage, "energy": done.energy})
    return done, cached


def frequencies_stored(
    *,
    store,
    progress: Callable[[dict], None] | None = None,
    molecule: Molecule,
    functional: str,
    grid: GridSpec | None = None,
    step: float = FREQUENCY_STEP,
    task: str = "",
    gradients: Callable[[list[Molecule]], list[tuple]] | None = None,
) -> tuple[Vibrations, bool]:
    """frequencies through ``store`` (keyed by the geometry, method, grid and step): (Vibrations,
    cached). The stencil's points are computed by ``gradients`` (default: one after the other here,
    each through the store as a "gradient" record, so an interrupted job resumes). ``progress``
    receives {"stage": "displacement", "point", "points"} per point and the outcome, labelled
    {"task": task}."""
    from explorer.runs.geometry import displaced_gradient, gradient_pair, run_stored

    functional = functionals.resolve(functional).name
    grid = grid or GridSpec()
    label = task or functional

    def tell(message: dict) -> None:
        if progress is not None:
            progress({**message, "task": label})

    def stored_points(points: list[Molecule]) -> list[tuple]:
        out = []
        for i, point in enumerate(points):
            tell({"stage": "displacement", "point": i + 1, "points": len(points)})
            record = displaced_gradient(
                store=store,
                progress=None,
                molecule=point,
                functional=functional,
                grid=grid,
                reference=molecule,
            )
            out.append(gradient_pair(record))
        return out

    def compute() -> tuple[dict, bool]:
        vib = frequencies(molecule, functional, grid=grid, step=step, gradients=gradients or stored_points)
        return vib.to_dict(), True

    record, cached = run_stored(
        "frequencies",
        molecule,
        functional,
        store,
        compute,
        grid=grid,
        options={"step": step},
        progress=progress,
        task=label,
    )
    vib = Vibrations.from_dict(record)
    tell({"stage": "from the store" if cached else "done", "energy": vib.energy})
    return vib, cached


def submit_optimization(
    molecule: Molecule,
    functional: str,
    *,
    grid: GridSpec | None = None,
    max_steps: int = 50,
    label: str = "",
):
    """Submits optimize_stored as one task on the cluster (explorer.runs.tasks.fan_out); returns its
    tasks.Job. Follow it with tasks.drain(job) (the progress messages of optimize_stored, labelled
    ``label``, default the functional's name) and read it with optimization_result(job)."""
    from explorer.runs import tasks

    name = functionals.resolve(functional).name
    kwargs = {"molecule": molecule, "functional": name, "grid": grid or GridSpec(), "max_steps": max_steps}
    return tasks.fan_out(optimize_stored, [kwargs], labels=[label or name])[0]


def optimization_result(job, timeout: float | None = None) -> tuple[Optimization, bool]:
    """(Optimization, cached) of a submit_optimization job once done; raises its ExplorerError
    (ConvergenceError if an SCF failed, JobCancelled, JobTimeout)."""
    from explorer.runs import tasks

    return tasks.result(job, timeout)


@dataclass
class FrequencyJob:
    """A submitted frequency calculation: the stored Vibrations if the store had them (no jobs),
    else one task per stencil point (``jobs``, tasks.Job, labelled "functional: +x O1")."""

    molecule: Molecule
    functional: str
    grid: GridSpec
    step: float
    label: str
    jobs: list = field(default_factory=list)
    stored: Vibrations | None = None

    def done(self) -> bool:
        """True once every point's task finished (or the result was stored)."""
        return all(job.done() for job in self.jobs)


def submit_frequencies(
    molecule: Molecule,
    functional: str,
    *,
    grid: GridSpec | None = None,
    step: float = FREQUENCY_STEP,
    label: str = "",
) -> FrequencyJob:
    """Submits a frequency calculation: answered from the store if it holds it, else the 6N stencil
    points fan out as tasks (explorer.runs.geometry.displaced_gradient, each through the store).
    Follow its ``jobs`` with tasks.drain / tasks.status (their messages are the points' SCF
    iterations) and read it with frequencies_result."""
    from explorer.runs import tasks
    from explorer.runs.geometry import displaced_gradient
    from explorer.runs.request import geometry_request
    from explorer.runs.store import ResultsStore

    name = functionals.resolve(functional).name
    grid = grid or GridSpec()
    _check_molecule(molecule, "a frequency calculation")
    job = FrequencyJob(molecule, name, grid, step, label or name)
    _, key = geometry_request("frequencies", molecule, name, grid=grid, options={"step": step})
    stored = ResultsStore().get_record(key)
    if stored is not None:
        job.stored = Vibrations.from_dict(stored)
        return job
    points = stencil(molecule, step)
    calls = [{"molecule": p, "functional": name, "grid": grid, "reference": molecule} for p in points]
    labels = [f"{job.label}: {_stencil_label(molecule, i)}" for i in range(len(points))]
    job.jobs = tasks.fan_out(displaced_gradient, calls, labels=labels)
    return job


def frequencies_result(job: FrequencyJob, timeout: float | None = None) -> tuple[Vibrations, bool]:
    """(Vibrations, cached) of a submit_frequencies job once its points are done: assembled here
    from the points (through the store, which then holds the whole result); raises the first
    failed point's error (the other points are let go)."""
    from explorer.runs import tasks
    from explorer.runs.geometry import gradient_pair
    from explorer.runs.store import ResultsStore

    if job.stored is not None:
        return job.stored, True
    try:
        records = [tasks.result(j, timeout) for j in job.jobs]
    except BaseException:
        tasks.forget(job.jobs)
        raise
    pairs = [gradient_pair(r) for r in records]
    return frequencies_stored(
        store=ResultsStore(),
        molecule=job.molecule,
        functional=job.functional,
        grid=job.grid,
        step=job.step,
        task=job.label,
        gradients=lambda points: pairs,
    )


# --- experimental vibrations -------------------------------------------------------------------

#: Experimental harmonic wavenumbers (cm-1, ascending: the modes in the order harmonic analysis gives
#: them) with their source: what computed harmonic frequencies compare with (fundamentals are lower,
#: by the anharmonicity).
EXPERIMENTAL_HARMONIC_CM1: dict[str, tuple[tuple[float, ...], str]] = {
    "water": (
        (1648.5, 3832.2, 3942.5),
        "experimental harmonic wavenumbers of H2O (bend, symmetric and antisymmetric stretch): Hoy, "
        "Mills & Strey, Mol. Phys. 24, 1265 (1972), as tabulated in NIST CCCBDB",
    ),
}


def compare_frequencies(vibrations, name: str = "water") -> dict:
    """Harmonic frequencies against experiment (EXPERIMENTAL_HARMONIC_CM1[name]).

    ``vibrations``: {label: Vibrations} (or a list, labelled by functional). Returns {"rows":
    [{"mode" (1-based), "experiment", "values": {label: cm-1}, "deviations": {label: value -
    experiment}}], "mad": {label: cm-1}, "source"}. InputError if a calculation has another number
    of modes than the reference."""
    if name not in EXPERIMENTAL_HARMONIC_CM1:
        raise InputError(
            f"no experimental harmonic frequencies for {name!r}: {', '.join(EXPERIMENTAL_HARMONIC_CM1)}"
        )
    reference, source = EXPERIMENTAL_HARMONIC_CM1[name]
    if not isinstance(vibrations, dict):
        vibrations = {v.functional: v for v in vibrations}
    for label, vib in vibrations.items():
        if len(vib.frequencies_cm1) != len(reference):
            raise InputError(f"{label}: {len(vib.frequencies_cm1)} modes, the reference has {len(reference)}")
    rows = [
        {
            "mode": i + 1,
            "experiment": exp,
            "values": {label: vib.frequencies_cm1[i] for label, vib in vibrations.items()},
            "deviations": {label: vib.frequencies_cm1[i] - exp for label, vib in vibrations.items()},
        }
        for i, exp in enumerate(reference)
    ]
    mad = {label: float(np.mean([abs(r["deviations"][label]) for r in rows])) for label in vibrations}
    return {"rows": rows, "mad": mad, "source": source}


# --- benchmark ---------------------------------------------------------------------------------


def geometry_benchmark(
    methods: tuple[str, ...] = ("DM21", "B3LYP"),
    names: tuple[str, ...] = BENCH_MOLECULES,
    *,
    basis: str = "cc-pvtz",
    grid: GridSpec | None = None,
    store=None,
    progress: Callable[[str], None] | None = None,
    with_frequencies: bool = False,
) -> dict:
    """Optimises each library molecule of ``names`` from its experimental structure with each
    functional (through ``store`` if given) and compares bonds and angles with experiment.

    Returns {"basis", "grid", "molecules": [{"name", "source", "rows", "mad", "optimizations":
    {functional: {"converged", "steps", "energy", "max_gradient"}}}], "mad": {functional: {"bond"
    (Angstrom), "angle" (degrees)}} over all rows of all molecules, "failed": [text]}. An
    optimisation that does not converge is left out of the comparison and listed in "failed".
    ``with_frequencies``: also water's harmonic frequencies per functional against experiment
    ("frequencies": compare_frequencies' dict, or None), at each functional's optimised geometry."""
    grid = grid or GridSpec()
    methods = tuple(dict.fromkeys(functionals.resolve(f).name for f in methods))
    molecules_out, failed, optimised = [], [], {}
    for name in names:
        molecule = chem.from_library(name, basis=basis)
        done = {}
        for functional in methods:
            if progress is not None:
                progress(f"{name}: optimising with {functional}")
            opt = _bench_optimized(molecule, functional, grid, store, failed)
            if opt is not None:
                done[functional] = opt
        optimised[molecule.name] = done
        summaries = {
            f: {
                "converged": o.converged,
                "steps": o.steps,
                "energy": o.energy,
                "max_gradient": o.max_gradient,
            }
            for f, o in done.items()
        }
        molecules_out.append(
            {"name": molecule.name, **compare_to_experiment(done, name), "optimizations": summaries}
        )
    mad = {}
    for functional in methods:
        rows = [r for m in molecules_out for r in m["rows"] if functional in r["deviations"]]
        if not rows:
            continue
        mad[functional] = {}
        for kind_type in ("bond", "angle"):
            devs = [abs(r["deviations"][functional]) for r in rows if r["type"] == kind_type]
            mad[functional][kind_type] = float(np.mean(devs)) if devs else None
    out = {"basis": basis, "grid": grid.as_dict(), "molecules": molecules_out, "mad": mad, "failed": failed}
    if with_frequencies:
        water = chem.from_library("water", basis=basis)
        done = optimised.get("water")
        if done is None:
            done = {
                f: o for f in methods if (o := _bench_optimized(water, f, grid, store, failed)) is not None
            }
        vibrations = {}
        for functional, opt in done.items():
            if progress is not None:
                progress(f"water: frequencies with {functional}")
            try:
                if store is not None:
                    vibrations[functional], _ = frequencies_stored(
                        store=store, molecule=opt.molecule(), functional=functional, grid=grid
                    )
                else:
                    vibrations[functional] = frequencies(opt.molecule(), functional, grid=grid)
            except ConvergenceError as err:
                failed.append(f"water frequencies {functional}: {err}")
        out["frequencies"] = compare_frequencies(vibrations, "water") if vibrations else None
    return out


def _bench_optimized(
    molecule: Molecule, functional: str, grid: GridSpec, store, failed: list
) -> Optimization | None:
    """The converged optimisation of ``molecule`` (through ``store`` if given), else None with the
    reason appended to ``failed``."""
    try:
        if store is not None:
            opt, _ = optimize_stored(store=store, molecule=molecule, functional=functional, grid=grid)
        else:
            opt = optimize(molecule, functional, grid=grid)
    except ConvergenceError as err:
        failed.append(f"{molecule.name} {functional}: {err}")
        return None
    if not opt.converged:
        failed.append(f"{molecule.name} {functional}: not converged in {opt.steps} steps")
        return None
    return opt
