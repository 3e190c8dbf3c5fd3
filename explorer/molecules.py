"""Molecules: parsing (atom strings, XYZ, SMILES), validation, and a small library of named systems.

A Molecule holds atoms in Angstrom, the total charge, the spin as 2S (number of unpaired
electrons, as in PySCF) and the basis set name. It never runs a calculation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from explorer.errors import InputError

#: Atoms closer than this (Angstrom) are rejected as a typing error.
MIN_DISTANCE = 0.3


@dataclass(frozen=True)
class Molecule:
    """Atoms as (symbol, (x, y, z)) in Angstrom, total charge, 2S, basis set name and a label."""

    atoms: tuple[tuple[str, tuple[float, float, float]], ...]
    charge: int = 0
    spin: int = 0
    basis: str = "cc-pvdz"
    name: str = ""
    source: str = field(default="", compare=False)

    @property
    def n_electrons(self) -> int:
        """Number of electrons: sum of atomic numbers minus the charge."""
        return sum(_atomic_number(symbol) for symbol, _ in self.atoms) - self.charge

    def atom_string(self) -> str:
        """The geometry as a PySCF atom string ("O 0 0 0; H 0 0.76 0.59"), Angstrom."""
        return "; ".join(f"{s} {x:.10g} {y:.10g} {z:.10g}" for s, (x, y, z) in self.atoms)

    def xyz(self) -> str:
        """The geometry as an XYZ file (Angstrom)."""
        lines = [str(len(self.atoms)), f"{self.name} charge={self.charge} 2S={self.spin}".strip()]
        lines += [f"{s:<2} {x:14.8f} {y:14.8f} {z:14.8f}" for s, (x, y, z) in self.atoms]
        return "\n".join(lines) + "\n"

    def to_pyscf(self, verbose: int = 0):
        """Builds the PySCF Mole (spherical basis functions), raising InputError for a bad basis
        or an impossible charge/spin combination."""
        from pyscf import gto

        _check_spin(self.n_electrons, self.spin)
        mol = gto.Mole()
        mol.atom = [[s, xyz] for s, xyz in self.atoms]
        mol.unit = "Angstrom"
        mol.charge = self.charge
        mol.spin = self.spin
        mol.basis = self.basis
        mol.verbose = verbose
        try:
            with warnings.catch_warnings():
                # PySCF suggests installing basis-set-exchange for unknown names: not for us.
                warnings.simplefilter("ignore")
                mol.build(dump_input=False, parse_arg=False)
        except (KeyError, RuntimeError, ValueError, OSError, IndexError):
            raise InputError(
                f"unknown basis set {self.basis!r} (or it has no functions for {self.formula()})"
            ) from None
        if mol.nao_nr() == 0:
            raise InputError(f"basis set {self.basis!r} has no functions for {self.formula()}")
        return mol

    def formula(self) -> str:
        """Hill-order formula, e.g. CH4, H2O."""
        counts: dict[str, int] = {}
        for s, _ in self.atoms:
            counts[s] = counts.get(s, 0) + 1
        order = ["C", "H"] if "C" in counts else []
        order += sorted(k for k in counts if k not in order)
        return "".join(k + (str(counts[k]) if counts[k] > 1 else "") for k in order if k in counts)


def _atomic_number(symbol: str) -> int:
    from pyscf.data import elements

    return elements.charge(symbol)


def _normalise_symbol(token: str) -> str:
    """Returns the element symbol for ``token`` (any case, or an atomic number), else InputError."""
    from pyscf.data import elements

    if token.isdigit():
        z = int(token)
        if 1 <= z < len(elements.ELEMENTS):
            return elements.ELEMENTS[z]
    else:
        symbol = token[:1].upper() + token[1:].lower()
        if symbol in elements.ELEMENTS[1:]:
            return symbol
    raise InputError(f"unknown element {token!r}")


def _check_spin(n_electrons: int, spin: int) -> None:
    if n_electrons < 0:
        raise InputError(f"the charge leaves {n_electrons} electrons: too few for this molecule")
    if spin < 0 or spin > n_electrons:
        raise InputError(f"spin 2S={spin} is impossible with {n_electrons} electrons")
    if (n_electrons - spin) % 2:
        raise InputError(
            f"spin 2S={spin} does not match the parity of {n_electrons} electrons "
            "(2S must be even for an even electron count, odd for an odd one)"
        )


def validate(molecule: Molecule) -> Molecule:
    """Checks elements, distances, charge and spin; returns the molecule or raises InputError."""
    if not molecule.atoms:
        raise InputError("the molecule has no atoms")
    coords = np.array([xyz for _, xyz in molecule.atoms], dtype=float)
    if not np.isfinite(coords).all():
        raise InputError("atom coordinates must be finite numbers")
    for i in range(len(coords)):
        d = np.linalg.norm(coords[i + 1 :] - coords[i], axis=1)
        if d.size and d.min() < MIN_DISTANCE:
            j = i + 1 + int(d.argmin())
            raise InputError(f"atoms {i + 1} and {j + 1} are too close ({d.min():.3f} A < {MIN_DISTANCE} A)")
    _check_spin(molecule.n_electrons, molecule.spin)
    return molecule


def parse_atoms(
    text: str, charge: int = 0, spin: int | None = None, basis: str = "cc-pvdz", name: str = ""
) -> Molecule:
    """Parses "O 0 0 0; H 0 0.76 0.59" (atoms separated by ';' or new lines, Angstrom).

    ``spin`` None means the lowest spin consistent with the electron count (0 or 1).
    """
    atoms = []
    for raw in text.replace("\n", ";").split(";"):
        parts = raw.replace(",", " ").split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InputError(f"cannot parse atom {raw.strip()!r}: expected 'Element x y z'")
        symbol = _normalise_symbol(parts[0])
        try:
            xyz = tuple(float(p) for p in parts[1:])
        except ValueError:
            raise InputError(f"cannot parse coordinates of atom {raw.strip()!r}") from None
        atoms.append((symbol, xyz))
    return _finish(atoms, charge, spin, basis, name)


def parse_xyz(
    text: str, charge: int = 0, spin: int | None = None, basis: str = "cc-pvdz", name: str = ""
) -> Molecule:
    """Parses an XYZ file: atom count, comment line, then 'Element x y z' lines in Angstrom.

    A bare list of atom lines (no count and comment) is accepted too.
    """
    lines = [line for line in text.strip().splitlines()]
    if lines and lines[0].strip().isdigit():
        count = int(lines[0].strip())
        body = [line for line in lines[2:] if line.strip()]
        if len(body) != count:
            raise InputError(f"XYZ header says {count} atoms but {len(body)} atom lines follow")
        lines = body
    return parse_atoms("\n".join(lines), charge, spin, basis, name)


def from_smiles(
    smiles: str, charge: int | None = None, spin: int | None = None, basis: str = "cc-pvdz", seed: int = 42
) -> Molecule:
    """3D structure from SMILES with RDKit: explicit hydrogens, ETKDG embedding (seeded), MMFF
    optimisation with UFF as fallback. Charge and 2S default to the formal charges and the
    radical electrons of the SMILES."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem, Descriptors

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles.strip()) if smiles and smiles.strip() else None
    if mol is None:
        raise InputError(f"invalid SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            raise InputError(f"RDKit could not build 3D coordinates for SMILES {smiles!r}")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    elif AllChem.UFFHasAllMoleculeParams(mol):
        AllChem.UFFOptimizeMolecule(mol, maxIters=2000)
    conf = mol.GetConformer()
    atoms = [
        (a.GetSymbol(), tuple(float(v) for v in conf.GetAtomPosition(a.GetIdx()))) for a in mol.GetAtoms()
    ]
    if charge is None:
        charge = Chem.GetFormalCharge(mol)
    if spin is None:
        spin = Descriptors.NumRadicalElectrons(mol)
    return _finish(atoms, charge, spin, basis, smiles.strip(), source="RDKit ETKDG + MMFF/UFF")


def _finish(atoms, charge, spin, basis, name, source="") -> Molecule:
    atoms = tuple(atoms)
    electrons = sum(_atomic_number(s) for s, _ in atoms) - charge
    if spin is None:
        spin = electrons % 2
    return validate(Molecule(atoms, int(charge), int(spin), basis, name, source))


# --- the library -------------------------------------------------------------------------------
# Experimental equilibrium geometries from the NIST Computational Chemistry Comparison and
# Benchmark Database (CCCBDB, release 22), built here from bond lengths (A) and angles (degrees).

_CCCBDB = "NIST CCCBDB experimental geometry"


def _diatomic(a: str, b: str, r: float):
    return ((a, (0.0, 0.0, 0.0)), (b, (0.0, 0.0, r)))


def _bent(center: str, ligand: str, r: float, angle: float):
    half = math.radians(angle) / 2
    return (
        (center, (0.0, 0.0, 0.0)),
        (ligand, (0.0, r * math.sin(half), r * math.cos(half))),
        (ligand, (0.0, -r * math.sin(half), r * math.cos(half))),
    )


def _pyramidal(center: str, ligand: str, r: float, angle: float):
    # Three ligands at distance r with equal angles ``angle`` between them, C3v about z.
    cos_t = math.cos(math.radians(angle))
    sin_alpha = math.sqrt(2 * (1 - cos_t) / 3)
    cos_alpha = math.sqrt(1 - sin_alpha**2)
    atoms = [(center, (0.0, 0.0, 0.0))]
    for k in range(3):
        phi = 2 * math.pi * k / 3
        atoms.append((ligand, (r * sin_alpha * math.cos(phi), r * sin_alpha * math.sin(phi), -r * cos_alpha)))
    return tuple(atoms)


def _tetrahedral(center: str, ligand: str, r: float):
    s = r / math.sqrt(3)
    corners = [(s, s, s), (-s, -s, s), (-s, s, -s), (s, -s, -s)]
    return ((center, (0.0, 0.0, 0.0)),) + tuple((ligand, c) for c in corners)


def _atom(symbol: str):
    return ((symbol, (0.0, 0.0, 0.0)),)


# name -> (atoms, charge, 2S, source)
LIBRARY: dict[str, tuple] = {
    "H": (_atom("H"), 0, 1, "atom"),
    "He": (_atom("He"), 0, 0, "atom"),
    "Li": (_atom("Li"), 0, 1, "atom"),
    "C": (_atom("C"), 0, 2, "atom, 3P ground state"),
    "N": (_atom("N"), 0, 3, "atom, 4S ground state"),
    "O": (_atom("O"), 0, 2, "atom, 3P ground state"),
    "F": (_atom("F"), 0, 1, "atom"),
    "Ne": (_atom("Ne"), 0, 0, "atom"),
    "H2": (_diatomic("H", "H", 0.7414), 0, 0, _CCCBDB),
    "H2+": (_diatomic("H", "H", 1.052), 1, 1, "H2+ equilibrium bond length 1.052 A (Huber & Herzberg)"),
    "LiH": (_diatomic("Li", "H", 1.5949), 0, 0, _CCCBDB),
    "HF": (_diatomic("H", "F", 0.9168), 0, 0, _CCCBDB),
    "N2": (_diatomic("N", "N", 1.0977), 0, 0, _CCCBDB),
    "CO": (_diatomic("C", "O", 1.1283), 0, 0, _CCCBDB),
    "O2": (_diatomic("O", "O", 1.2075), 0, 2, _CCCBDB + ", triplet ground state"),
    "water": (_bent("O", "H", 0.9572, 104.52), 0, 0, _CCCBDB),
    "ammonia": (_pyramidal("N", "H", 1.012, 106.7), 0, 0, _CCCBDB),
    "methane": (_tetrahedral("C", "H", 1.087), 0, 0, _CCCBDB),
    "OH-": (_diatomic("O", "H", 0.9643), -1, 0, "OH- bond length 0.9643 A (CCCBDB)"),
}


def from_library(name: str, basis: str = "cc-pvdz") -> Molecule:
    """A named system from LIBRARY (case-insensitive), with its geometry's source."""
    for key, (atoms, charge, spin, source) in LIBRARY.items():
        if key.lower() == name.strip().lower():
            return validate(Molecule(atoms, charge, spin, basis, key, source))
    raise InputError(f"unknown molecule name {name!r}: choose one of {', '.join(LIBRARY)}")
