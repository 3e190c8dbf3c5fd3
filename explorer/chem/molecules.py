"""Molecules: parsing (atom strings, XYZ, SMILES), validation, and a small library of named systems.

A Molecule holds atoms in Angstrom, the total charge, the spin as 2S (number of unpaired
electrons, as in PySCF) and the basis set name. It never runs a calculation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.spatial import cKDTree

from explorer import settings
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
        _check_fits(self.n_electrons, self.spin, mol.nao_nr(), self.basis)
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


def _is_count(text: str) -> bool:
    """True for a plain ASCII whole number ("12"); str.isdigit alone accepts '²' and other digits
    that int() refuses."""
    return text.isascii() and text.isdigit()


def _normalise_symbol(token: str) -> str:
    """Returns the element symbol for ``token`` (any case, or an atomic number), else InputError."""
    from pyscf.data import elements

    if _is_count(token):
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


def _check_atom_count(n_atoms: int, what: str) -> None:
    """InputError if ``n_atoms`` is above the hard ceiling (explorer.settings.atom_ceiling)."""
    ceiling = settings.atom_ceiling()
    if n_atoms > ceiling:
        raise InputError(
            f"{what} has {n_atoms} atoms, above the ceiling of {ceiling} atoms for any calculation here "
            f"({settings.ATOM_CEILING_ENV})"
        )


def _check_characters(text: str, what: str, per_atom: int) -> None:
    """InputError for a text longer than ``per_atom`` characters per atom of the ceiling: refused
    before it is even split (an upload can be 200 MB)."""
    most = per_atom * settings.atom_ceiling()
    if len(text) > most:
        raise InputError(
            f"the {what} has {len(text)} characters, more than {most} for {settings.atom_ceiling()} atoms "
            f"(the ceiling for any calculation here, {settings.ATOM_CEILING_ENV})"
        )


def _check_fits(n_electrons: int, spin: int, n_orbitals: int, basis: str) -> None:
    """InputError unless the (N + 2S)/2 alpha and (N - 2S)/2 beta electrons fit the basis's
    ``n_orbitals`` spatial orbitals (PySCF would silently leave the extra ones out)."""
    n_alpha, n_beta = (n_electrons + spin) // 2, (n_electrons - spin) // 2
    if n_alpha > n_orbitals:
        raise InputError(
            f"{n_electrons} electrons with 2S={spin} need {n_alpha} alpha and {n_beta} beta orbitals, but "
            f"basis {basis!r} has only {n_orbitals} orbitals per spin: choose a larger basis, or a "
            "charge or spin that fits"
        )


def validate(molecule: Molecule) -> Molecule:
    """Checks elements, distances, charge and spin; returns the molecule or raises InputError."""
    if not molecule.atoms:
        raise InputError("the molecule has no atoms")
    coords = np.array([xyz for _, xyz in molecule.atoms], dtype=float)
    if not np.isfinite(coords).all():
        raise InputError("atom coordinates must be finite numbers")
    _check_atom_count(len(coords), "the molecule")
    close = cKDTree(coords).query_pairs(MIN_DISTANCE, output_type="ndarray")
    if len(close):
        # As a scan from the first atom would report it: the lowest first atom, its nearest partner.
        i = int(close.min())
        partners = close[(close == i).any(axis=1)].max(axis=1)
        d = np.linalg.norm(coords[partners] - coords[i], axis=1)
        j = int(partners[d.argmin()])
        raise InputError(f"atoms {i + 1} and {j + 1} are too close ({d.min():.3f} A < {MIN_DISTANCE} A)")
    _check_spin(molecule.n_electrons, molecule.spin)
    return molecule


def parse_atoms(
    text: str, charge: int = 0, spin: int | None = None, basis: str = "cc-pvdz", name: str = ""
) -> Molecule:
    """Parses "O 0 0 0; H 0 0.76 0.59" (atoms separated by ';' or new lines, Angstrom).

    ``spin`` None means the lowest spin consistent with the electron count (0 or 1).
    """
    _check_characters(text, "atom list", 80)
    entries = [raw for raw in text.replace("\n", ";").split(";") if raw.strip()]
    _check_atom_count(len(entries), "the atom list")
    atoms = []
    for raw in entries:
        parts = raw.replace(",", " ").split()
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
    _check_characters(text, "XYZ file", 80)
    lines = [line for line in text.strip().splitlines()]
    if lines and _is_count(lines[0].strip()):
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
    _check_characters(smiles or "", "SMILES", 10)
    mol = Chem.MolFromSmiles(smiles.strip()) if smiles and smiles.strip() else None
    if mol is None:
        raise InputError(f"invalid SMILES {smiles!r}")
    _check_atom_count(mol.GetNumAtoms() + sum(a.GetTotalNumHs() for a in mol.GetAtoms()), "the SMILES")
    wildcards = sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() == 0)
    if wildcards:
        raise InputError(
            f"SMILES {smiles.strip()!r} has {wildcards} wildcard atom(s) '*': give real elements"
        )
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
# Every entry says where its geometry comes from, with the parameters used. Diatomic bond lengths
# are the experimental equilibrium values r_e of Huber & Herzberg (Constants of Diatomic Molecules,
# 1979, as tabulated in the NIST Chemistry WebBook); polyatomic geometries are the experimental
# geometries listed in the NIST Computational Chemistry Comparison and Benchmark Database (CCCBDB).
# Coordinates are built here from bond lengths (Angstrom) and angles (degrees).

#: The categories of LibraryEntry, in the order the library lists them.
CATEGORIES = ("atom", "molecule", "radical", "ion", "stretched bond")


@dataclass(frozen=True)
class LibraryEntry:
    """A named system: geometry (Angstrom), charge, 2S, where the geometry comes from, a category
    and, where a reliable value exists, the total atomization energy without zero-point energy
    (kcal/mol, the quantity a single-point calculation at this geometry can be compared with) and
    the experimental first vertical ionization energy (eV, what -HOMO of an exact Kohn-Sham
    functional equals), each with its source."""

    atoms: tuple[tuple[str, tuple[float, float, float]], ...]
    charge: int
    spin: int
    source: str
    category: str
    atomization_kcal: float | None = None
    atomization_source: str = ""
    ionization_ev: float | None = None
    ionization_source: str = ""

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}: choose one of {', '.join(CATEGORIES)}")
        if self.atomization_kcal is not None and not self.atomization_source:
            raise ValueError("an atomization energy needs its source")
        if self.ionization_ev is not None and not self.ionization_source:
            raise ValueError("an ionization energy needs its source")


#: Ground-state term of each free atom H..Ar (NIST Atomic Spectra Database).
ATOM_GROUND_TERM: dict[str, str] = {
    "H": "2S", "He": "1S", "Li": "2S", "Be": "1S", "B": "2P", "C": "3P", "N": "4S", "O": "3P", "F": "2P",
    "Ne": "1S", "Na": "2S", "Mg": "1S", "Al": "2P", "Si": "3P", "P": "4S", "S": "3P", "Cl": "2P", "Ar": "1S",
}  # fmt: skip

#: 2S (number of unpaired electrons, PySCF's ``spin``) of each free atom's ground state, H..Ar.
ATOM_GROUND_STATE_SPIN: dict[str, int] = {s: int(term[0]) - 1 for s, term in ATOM_GROUND_TERM.items()}


def _atom_source(symbol: str) -> str:
    return f"free atom, ground term {ATOM_GROUND_TERM[symbol]} (NIST ASD)"


def atom_molecule(symbol: str, basis: str = "cc-pvdz") -> Molecule:
    """The free atom ``symbol`` (H..Ar) at its ground-state spin, e.g. for atomization energies."""
    sym = _normalise_symbol(symbol.strip())
    if sym not in ATOM_GROUND_STATE_SPIN:
        raise InputError(f"no ground state tabulated for {sym} (the library covers H to Ar)")
    return validate(Molecule(_atom(sym), 0, ATOM_GROUND_STATE_SPIN[sym], basis, sym, _atom_source(sym)))


# --- geometry builders (Angstrom, degrees) ---


def _atom(symbol: str):
    return ((symbol, (0.0, 0.0, 0.0)),)


def _diatomic(a: str, b: str, r: float):
    return ((a, (0.0, 0.0, 0.0)), (b, (0.0, 0.0, r)))


def _linear(symbols: tuple[str, ...], bonds: tuple[float, ...]):
    # Atoms along z with the given successive bond lengths, centred on the middle of the chain.
    z = [0.0]
    for r in bonds:
        z.append(z[-1] + r)
    mid = z[-1] / 2
    return tuple((s, (0.0, 0.0, zi - mid)) for s, zi in zip(symbols, z, strict=True))


def _bent(center: str, ligand: str, r: float, angle: float):
    half = math.radians(angle) / 2
    return (
        (center, (0.0, 0.0, 0.0)),
        (ligand, (0.0, r * math.sin(half), r * math.cos(half))),
        (ligand, (0.0, -r * math.sin(half), r * math.cos(half))),
    )


def _planar_x2y(center: str, x: str, y: str, r_cx: float, r_cy: float, angle_xcx: float):
    # Planar C2v X2C=Y (formaldehyde-like): Y on +z, the two X in the yz plane on the -z side.
    half = math.radians(angle_xcx) / 2
    return (
        (center, (0.0, 0.0, 0.0)),
        (y, (0.0, 0.0, r_cy)),
        (x, (0.0, r_cx * math.sin(half), -r_cx * math.cos(half))),
        (x, (0.0, -r_cx * math.sin(half), -r_cx * math.cos(half))),
    )


def _ethylene(r_cc: float, r_ch: float, angle_hch: float):
    # Planar D2h H2C=CH2 in the yz plane, C=C along z.
    half = math.radians(angle_hch) / 2
    y, dz = r_ch * math.sin(half), r_ch * math.cos(half)
    c = r_cc / 2
    return (
        ("C", (0.0, 0.0, c)),
        ("C", (0.0, 0.0, -c)),
        ("H", (0.0, y, c + dz)),
        ("H", (0.0, -y, c + dz)),
        ("H", (0.0, y, -c - dz)),
        ("H", (0.0, -y, -c - dz)),
    )


def _trigonal_planar(center: str, ligand: str, r: float):
    atoms = [(center, (0.0, 0.0, 0.0))]
    for k in range(3):
        phi = 2 * math.pi * k / 3
        atoms.append((ligand, (r * math.cos(phi), r * math.sin(phi), 0.0)))
    return tuple(atoms)


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


def _benzene(r_cc: float, r_ch: float):
    # Planar D6h ring in the xy plane: a regular hexagon's side equals its circumradius.
    carbons, hydrogens = [], []
    for k in range(6):
        phi = math.pi * k / 3
        cos_p, sin_p = math.cos(phi), math.sin(phi)
        carbons.append(("C", (r_cc * cos_p, r_cc * sin_p, 0.0)))
        hydrogens.append(("H", ((r_cc + r_ch) * cos_p, (r_cc + r_ch) * sin_p, 0.0)))
    return tuple(carbons + hydrogens)


# --- sources ---

_HH = "Huber & Herzberg, Constants of Diatomic Molecules (1979), NIST WebBook"
_CCCBDB = "NIST CCCBDB experimental geometry"
_STRETCHED = "stretched geometry for dissociation curves"
_W4_11 = (
    "W4-11 benchmark TAE_e (Karton, Daon & Martin, Chem. Phys. Lett. 510, 165 (2011); reference values "
    "of GMTKN55): high-level theoretical (W4) total atomization energy, nonrelativistic, clamped nuclei, "
    "without zero-point energy; W4 agrees with ATcT experiment to ~0.2 kcal/mol once scalar-relativistic "
    "and spin-orbit terms (omitted here, as in a nonrelativistic DFT calculation) are added back"
)


def _re(a: str, b: str, r: float, extra: str = "") -> str:
    return f"experimental r_e({a}{b})={r} A ({_HH}){extra}"


def _diatomic_entry(a, b, r, category, spin=0, charge=0, tae=None, extra=""):
    return LibraryEntry(
        _diatomic(a, b, r),
        charge,
        spin,
        _re(a, b, r, extra),
        category,
        tae,
        _W4_11 if tae is not None else "",
    )


def _w4(atoms, spin, source, category, tae, charge=0):
    return LibraryEntry(atoms, charge, spin, source, category, tae, _W4_11)


# name -> LibraryEntry, in display order: atoms, molecules, radicals, ions, stretched bonds.
LIBRARY: dict[str, LibraryEntry] = {
    s: LibraryEntry(_atom(s), 0, ATOM_GROUND_STATE_SPIN[s], _atom_source(s), "atom") for s in ATOM_GROUND_TERM
}

LIBRARY.update(
    {
        # --- closed-shell (and triplet O2) molecules ---
        "H2": _diatomic_entry("H", "H", 0.74144, "molecule", tae=109.493),
        "LiH": LibraryEntry(
            _diatomic("Li", "H", 1.5949),
            0,
            0,
            f"experimental r_e(LiH)=1.5949 A ({_HH}; NIST CCCBDB lists 1.595 A)",
            "molecule",
            58.00,
            "experimental De = D0 + ZPE: D0=2.4287 eV and ZPE=we/2-wexe/4 with we=1405.65, wexe=23.20 cm-1 "
            "(Huber & Herzberg 1979), De=2.5151 eV",
        ),
        "HF": _diatomic_entry("H", "F", 0.91681, "molecule", tae=141.640),
        "HCl": _diatomic_entry("H", "Cl", 1.27455, "molecule", tae=107.499),
        "F2": _diatomic_entry("F", "F", 1.41193, "molecule", tae=39.042),
        "Cl2": _diatomic_entry("Cl", "Cl", 1.9879, "molecule", tae=59.750),
        "N2": _diatomic_entry("N", "N", 1.09768, "molecule", tae=228.485),
        "CO": _diatomic_entry("C", "O", 1.12832, "molecule", tae=259.727),
        "O2": _diatomic_entry(
            "O", "O", 1.20752, "molecule", spin=2, tae=120.824, extra=", triplet ground state"
        ),
        "C2": _diatomic_entry("C", "C", 1.24253, "molecule", tae=147.023, extra=", singlet ground state"),
        "BH": _diatomic_entry("B", "H", 1.2324, "molecule", tae=84.995),
        "P2": _diatomic_entry("P", "P", 1.8934, "molecule", tae=117.593),
        "SiO": _diatomic_entry("Si", "O", 1.50974, "molecule", tae=193.052),
        "CS": _diatomic_entry("C", "S", 1.53494, "molecule", tae=172.218),
        "water": _w4(
            _bent("O", "H", 0.9578, 104.48),
            0,
            f"{_CCCBDB}: r(OH)=0.9578 A, HOH=104.48 deg",
            "molecule",
            232.974,
        ),
        "ammonia": _w4(
            _pyramidal("N", "H", 1.012, 106.67),
            0,
            f"{_CCCBDB}: r(NH)=1.012 A, HNH=106.67 deg",
            "molecule",
            298.018,
        ),
        "methane": _w4(
            _tetrahedral("C", "H", 1.087), 0, f"{_CCCBDB}: r(CH)=1.087 A, tetrahedral", "molecule", 420.420
        ),
        "silane": _w4(
            _tetrahedral("Si", "H", 1.480), 0, f"{_CCCBDB}: r(SiH)=1.480 A, tetrahedral", "molecule", 324.945
        ),
        "CO2": _w4(
            _linear(("O", "C", "O"), (1.1600, 1.1600)),
            0,
            "experimental r_e(CO)=1.1600 A, linear (NIST CCCBDB lists the vibrationally averaged 1.1621 A)",
            "molecule",
            390.141,
        ),
        "acetylene": _w4(
            _linear(("H", "C", "C", "H"), (1.063, 1.203, 1.063)),
            0,
            f"{_CCCBDB}: r(CC)=1.203 A, r(CH)=1.063 A, linear",
            "molecule",
            405.525,
        ),
        "ethylene": _w4(
            _ethylene(1.339, 1.086, 117.6),
            0,
            f"{_CCCBDB}: r(CC)=1.339 A, r(CH)=1.086 A, HCH=117.6 deg, planar",
            "molecule",
            564.095,
        ),
        "formaldehyde": _w4(
            _planar_x2y("C", "H", "O", 1.111, 1.205, 116.133),
            0,
            f"{_CCCBDB} (Gurvich): r(CO)=1.205 A, r(CH)=1.111 A, HCH=116.133 deg, planar",
            "molecule",
            374.658,
        ),
        "benzene": LibraryEntry(
            _benzene(1.397, 1.084),
            0,
            0,
            "experimental r(CC)=1.397 A, r(CH)=1.084 A, planar D6h (classic vibrationally averaged values; "
            "the equilibrium structure is shorter, CC 1.3914 A and CH 1.0802 A: Gauss & Stanton, "
            "J. Phys. Chem. A 104, 2865 (2000))",
            "molecule",
        ),
        # --- radicals (open-shell doublets and triplets) ---
        "OH": _diatomic_entry("O", "H", 0.96966, "radical", spin=1, tae=107.208, extra=", 2Pi"),
        "NO": _diatomic_entry("N", "O", 1.15077, "radical", spin=1, tae=152.745, extra=", 2Pi"),
        "CN": _diatomic_entry("C", "N", 1.17182, "radical", spin=1, tae=181.350, extra=", 2Sigma+"),
        "CH": _diatomic_entry("C", "H", 1.1199, "radical", spin=1, tae=84.221, extra=", 2Pi"),
        "NH": _diatomic_entry("N", "H", 1.03621, "radical", spin=2, tae=83.096, extra=", 3Sigma-"),
        "SH": _diatomic_entry("S", "H", 1.3409, "radical", spin=1, tae=87.731, extra=", 2Pi"),
        "CH3": _w4(
            _trigonal_planar("C", "H", 1.079),
            1,
            "experimental r(CH)=1.079 A, planar D3h (as tabulated in NIST CCCBDB)",
            "radical",
            307.870,
        ),
        "CH2 (triplet)": _w4(
            _bent("C", "H", 1.085, 135.5),
            2,
            f"{_CCCBDB}: r(CH)=1.085 A, HCH=135.5 deg, 3B1 ground state (older and less precise than "
            "the other geometries here)",
            "radical",
            190.745,
        ),
        # --- ions ---
        "H2+": LibraryEntry(_diatomic("H", "H", 1.052), 1, 1, f"experimental r_e(HH)=1.052 A ({_HH})", "ion"),
        "OH-": LibraryEntry(
            _diatomic("O", "H", 0.9643),
            -1,
            0,
            "experimental r(OH)=0.9643 A (NIST CCCBDB lists 0.964 A)",
            "ion",
        ),
        "NH4+": LibraryEntry(
            _tetrahedral("N", "H", 1.029), 1, 0, f"{_CCCBDB}: r(NH)=1.029 A, tetrahedral", "ion"
        ),
        "Li+": LibraryEntry(_atom("Li"), 1, 0, "free ion, closed shell 1S (NIST ASD)", "ion"),
        "F-": LibraryEntry(_atom("F"), -1, 0, "free ion, closed shell 1S (NIST ASD)", "ion"),
    }
)

# Experimental first ionization energies (eV). For atoms vertical and adiabatic are the same; for the
# molecules below the 0-0 transition is the strongest peak of the first photoelectron band (the ion's
# geometry hardly changes), so the evaluated adiabatic value is also the vertical one to ~0.01 eV.
_NIST_ASD_IE = (
    "NIST Atomic Spectra Database, Ground Levels and Ionization Energies for the Neutral Atoms "
    "(NIST SRD 111, Martin, Musgrove, Kotochigova & Sansonetti, doi:10.18434/T42P4C)"
)
_WEBBOOK_IE = (
    "NIST Chemistry WebBook, gas phase ion energetics, evaluated IE (S. G. Lias); adiabatic, equal to "
    "the vertical IE here to ~0.01 eV (the 0-0 band is the strongest of the first photoelectron band)"
)
ATOM_IONIZATION_EV: dict[str, float] = {
    "H": 13.5984, "He": 24.5874, "Li": 5.3917, "Be": 9.3227, "B": 8.2980, "C": 11.2603, "N": 14.5341,
    "O": 13.6181, "F": 17.4228, "Ne": 21.5645, "Na": 5.1391, "Mg": 7.6462, "Al": 5.9858, "Si": 8.1517,
    "P": 10.4867, "S": 10.3600, "Cl": 12.9676, "Ar": 15.7596,
}  # fmt: skip
MOLECULE_IONIZATION_EV: dict[str, float] = {"water": 12.621, "CO": 14.014, "N2": 15.581}

LIBRARY.update(
    {
        n: replace(LIBRARY[n], ionization_ev=ie, ionization_source=_NIST_ASD_IE)
        for n, ie in ATOM_IONIZATION_EV.items()
    }
)
LIBRARY.update(
    {
        n: replace(LIBRARY[n], ionization_ev=ie, ionization_source=_WEBBOOK_IE)
        for n, ie in MOLECULE_IONIZATION_EV.items()
    }
)

LIBRARY.update(
    {
        f"H2 (R={r} A)": LibraryEntry(_diatomic("H", "H", r), 0, 0, _STRETCHED, "stretched bond")
        for r in (0.5, 1.0, 1.5, 2.0, 3.0)
    }
)
LIBRARY.update(
    {
        f"H2+ (R={r} A)": LibraryEntry(_diatomic("H", "H", r), 1, 1, _STRETCHED, "stretched bond")
        for r in (1.5, 2.0, 3.0, 5.0)
    }
)


def library_names(category: str | None = None) -> list[str]:
    """Names in LIBRARY, in order; only those of ``category`` (one of CATEGORIES) if given."""
    if category is None:
        return list(LIBRARY)
    if category not in CATEGORIES:
        raise InputError(f"unknown category {category!r}: choose one of {', '.join(CATEGORIES)}")
    return [name for name, entry in LIBRARY.items() if entry.category == category]


def _library_key(name: str) -> str:
    wanted = name.strip().lower()
    for key in LIBRARY:
        if key.lower() == wanted:
            return key
    raise InputError(f"unknown molecule name {name!r}: choose one of {', '.join(LIBRARY)}")


def library_entry(name: str) -> LibraryEntry:
    """The LibraryEntry called ``name`` (case-insensitive), else InputError listing the choices."""
    return LIBRARY[_library_key(name)]


def from_library(name: str, basis: str = "cc-pvdz") -> Molecule:
    """A named system from LIBRARY (case-insensitive), with its geometry's source."""
    key = _library_key(name)
    entry = LIBRARY[key]
    return validate(Molecule(entry.atoms, entry.charge, entry.spin, basis, key, entry.source))
