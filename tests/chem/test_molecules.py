"""Molecule parsing and validation: every bad input is an InputError naming the problem."""

import math
import re

import numpy as np
import pytest

from explorer.chem import molecules
from explorer.errors import InputError


def test_atom_string_and_xyz_agree():
    a = molecules.parse_atoms("O 0 0 0; H 0 0.757 0.587; h 0 -0.757 0.587")
    b = molecules.parse_xyz("3\nwater\nO 0 0 0\nH 0 0.757 0.587\nH 0 -0.757 0.587\n")
    assert a.atoms == b.atoms
    assert a.n_electrons == 10 and a.spin == 0 and a.formula() == "H2O"
    assert molecules.parse_xyz(a.xyz()).atoms == a.atoms


def test_lowest_spin_is_default():
    assert molecules.parse_atoms("N 0 0 0").spin == 1
    assert molecules.parse_atoms("O 0 0 0; H 0 0 0.97", charge=-1).spin == 0


@pytest.mark.parametrize(
    "text, kwargs, word",
    [
        ("Qq 0 0 0", {}, "element"),
        ("H 0 0 0", {"spin": 0}, "spin"),
        ("H 0 0 0; H 0 0 0.2", {}, "close"),
        ("H 0 0 x", {}, "coordinates"),
        ("H 0 0", {}, "parse"),
        ("", {}, "no atoms"),
    ],
)
def test_bad_atoms(text, kwargs, word):
    with pytest.raises(InputError, match=word):
        molecules.parse_atoms(text, **kwargs)


def test_xyz_count_mismatch():
    with pytest.raises(InputError, match="2 atoms"):
        molecules.parse_xyz("2\n\nH 0 0 0\n")


def test_smiles_geometry_charge_and_radicals():
    ethanol = molecules.from_smiles("OCC")
    assert ethanol.formula() == "C2H6O" and ethanol.charge == 0 and ethanol.spin == 0
    acetate = molecules.from_smiles("CC(=O)[O-]")
    assert acetate.charge == -1 and acetate.spin == 0
    methyl = molecules.from_smiles("[CH3]")
    assert methyl.spin == 1
    # ETKDG + MMFF: the C-O bond of ethanol near 1.42 A.
    pos = {i: xyz for i, (s, xyz) in enumerate(ethanol.atoms)}
    o = next(i for i, (s, _) in enumerate(ethanol.atoms) if s == "O")
    c = min(
        (i for i, (s, _) in enumerate(ethanol.atoms) if s == "C"),
        key=lambda i: sum((pos[i][k] - pos[o][k]) ** 2 for k in range(3)),
    )
    d = sum((pos[c][k] - pos[o][k]) ** 2 for k in range(3)) ** 0.5
    assert d == pytest.approx(1.42, abs=0.03)


def test_invalid_smiles():
    with pytest.raises(InputError, match="SMILES"):
        molecules.from_smiles("C1CC(")


def test_library_and_basis():
    water = molecules.from_library("WATER", basis="sto-3g")
    assert water.source and water.to_pyscf().nao_nr() == 7
    assert molecules.from_library("O2").spin == 2
    with pytest.raises(InputError, match="basis"):
        molecules.from_library("water", basis="no-such-basis").to_pyscf()
    with pytest.raises(InputError, match="unknown molecule"):
        molecules.from_library("unobtainium")


# --- the library -------------------------------------------------------------------------------

_SYMBOL = re.compile(r"[A-Z][a-z]?")


def _coords(name):
    mol = molecules.from_library(name)
    return [s for s, _ in mol.atoms], np.array([xyz for _, xyz in mol.atoms])


def _angle(a, b, c):
    u, v = a - b, c - b
    return math.degrees(math.acos(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))))


def test_library_size_categories_and_sources():
    assert len(molecules.LIBRARY) >= 45
    names_lower = [n.lower() for n in molecules.LIBRARY]
    assert len(set(names_lower)) == len(names_lower)  # lookup is case-insensitive
    for name, entry in molecules.LIBRARY.items():
        assert isinstance(entry, molecules.LibraryEntry)
        assert entry.category in molecules.CATEGORIES, name
        assert entry.source.strip(), name
        mol = molecules.from_library(name)  # validates
        assert (mol.charge, mol.spin, mol.source) == (entry.charge, entry.spin, entry.source)
    assert molecules.library_names() == list(molecules.LIBRARY)
    assert sum(len(molecules.library_names(c)) for c in molecules.CATEGORIES) == len(molecules.LIBRARY)
    assert len(molecules.library_names("molecule")) >= 20
    with pytest.raises(InputError, match="category"):
        molecules.library_names("soup")


def test_existing_names_still_work():
    for name in ("H", "C", "water", "ammonia", "methane", "H2", "H2+", "OH-", "O2", "N2", "LiH", "HF"):
        assert molecules.from_library(name.lower()).name == name
    assert molecules.from_library("  h2+ (r=2.0 a) ").name == "H2+ (R=2.0 A)"
    with pytest.raises(InputError, match="benzene"):  # the message lists the choices
        molecules.from_library("unobtainium")


def test_atoms_h_to_ar_ground_state_spins():
    expected = {
        "H": (1, "2S"), "He": (0, "1S"), "Li": (1, "2S"), "Be": (0, "1S"), "B": (1, "2P"), "C": (2, "3P"),
        "N": (3, "4S"), "O": (2, "3P"), "F": (1, "2P"), "Ne": (0, "1S"), "Na": (1, "2S"), "Mg": (0, "1S"),
        "Al": (1, "2P"), "Si": (2, "3P"), "P": (3, "4S"), "S": (2, "3P"), "Cl": (1, "2P"), "Ar": (0, "1S"),
    }  # fmt: skip
    assert molecules.library_names("atom") == list(expected)
    assert molecules.ATOM_GROUND_STATE_SPIN == {s: spin for s, (spin, _) in expected.items()}
    for symbol, (spin, term) in expected.items():
        entry = molecules.LIBRARY[symbol]
        assert (entry.spin, entry.charge, len(entry.atoms)) == (spin, 0, 1)
        assert f"ground term {term}" in entry.source
        atom = molecules.atom_molecule(symbol.lower(), basis="sto-3g")
        assert (atom.formula(), atom.spin, atom.charge, atom.basis) == (symbol, spin, 0, "sto-3g")
    with pytest.raises(InputError, match="H to Ar"):
        molecules.atom_molecule("K")


def test_bond_lengths_and_angles_match_their_sources():
    """Every 'r(XY)=d A' and 'XYZ=a deg' written in a source string is realised by the coordinates."""
    checked = 0
    for name, entry in molecules.LIBRARY.items():
        symbols, xyz = _coords(name)
        for label, value in re.findall(r"r(?:_e)?\(([A-Za-z]+)\)=([\d.]+) A", entry.source):
            a, b = _SYMBOL.findall(label)
            d = [
                np.linalg.norm(xyz[i] - xyz[j])
                for i in range(len(xyz))
                for j in range(len(xyz))
                if i != j and symbols[i] == a and symbols[j] == b
            ]
            assert min(abs(x - float(value)) for x in d) < 1e-9, (name, label)
            checked += 1
        for label, value in re.findall(r"\b([A-Z][a-z]?[A-Z][a-z]?[A-Z][a-z]?)=([\d.]+) deg", entry.source):
            a, b, c = _SYMBOL.findall(label)
            angles = [
                _angle(xyz[i], xyz[j], xyz[k])
                for j in range(len(xyz))
                for i in range(len(xyz))
                for k in range(len(xyz))
                if len({i, j, k}) == 3 and (symbols[i], symbols[j], symbols[k]) == (a, b, c)
            ]
            assert min(abs(x - float(value)) for x in angles) < 1e-9, (name, label)
            checked += 1
    assert checked >= 40


def test_water_geometry():
    symbols, xyz = _coords("water")
    assert symbols == ["O", "H", "H"]
    assert np.linalg.norm(xyz[1] - xyz[0]) == pytest.approx(0.9578, abs=1e-9)
    assert np.linalg.norm(xyz[2] - xyz[0]) == pytest.approx(0.9578, abs=1e-9)
    assert _angle(xyz[1], xyz[0], xyz[2]) == pytest.approx(104.48, abs=1e-9)


def test_benzene_is_a_planar_regular_hexagon():
    symbols, xyz = _coords("benzene")
    carbons = xyz[[i for i, s in enumerate(symbols) if s == "C"]]
    hydrogens = xyz[[i for i, s in enumerate(symbols) if s == "H"]]
    assert len(carbons) == len(hydrogens) == 6
    assert np.allclose(xyz[:, 2], 0.0)  # planar
    for k in range(6):
        assert np.linalg.norm(carbons[k] - carbons[(k + 1) % 6]) == pytest.approx(1.397, abs=1e-6)
        assert np.linalg.norm(hydrogens[k] - carbons[k]) == pytest.approx(1.084, abs=1e-6)
        assert _angle(carbons[k - 1], carbons[k], carbons[(k + 1) % 6]) == pytest.approx(120.0, abs=1e-9)


def test_linear_and_tetrahedral_molecules():
    for name in ("CO2", "acetylene"):
        _, xyz = _coords(name)
        assert np.allclose(xyz[:, :2], 0.0)  # all atoms on the z axis
    symbols, xyz = _coords("CO2")
    assert symbols == ["O", "C", "O"] and _angle(xyz[0], xyz[1], xyz[2]) == pytest.approx(180.0)
    for name, center in (("methane", "C"), ("silane", "Si"), ("NH4+", "N")):
        symbols, xyz = _coords(name)
        assert symbols[0] == center and symbols[1:] == ["H"] * 4
        for i in range(1, 5):
            for j in range(i + 1, 5):
                assert _angle(xyz[i], xyz[0], xyz[j]) == pytest.approx(109.4712206, abs=1e-6)
    _, xyz = _coords("CH3")
    assert np.allclose(xyz[:, 2], 0.0)  # planar methyl radical
    assert molecules.from_library("CH3").spin == 1
    assert molecules.from_library("CH2 (triplet)").spin == 2
    assert molecules.from_library("NO").spin == molecules.from_library("OH").spin == 1


def test_stretched_bonds_carry_their_length_in_the_name():
    names = molecules.library_names("stretched bond")
    expected = [f"H2 (R={r} A)" for r in ("0.5", "1.0", "1.5", "2.0", "3.0")]
    expected += [f"H2+ (R={r} A)" for r in ("1.5", "2.0", "3.0", "5.0")]
    assert names == expected
    for name in names:
        mol = molecules.from_library(name)
        r = float(re.search(r"R=([\d.]+) A", name).group(1))
        _, xyz = _coords(name)
        assert np.linalg.norm(xyz[1] - xyz[0]) == pytest.approx(r, abs=1e-12)
        assert (mol.charge, mol.spin) == ((1, 1) if name.startswith("H2+") else (0, 0))
        assert mol.source == "stretched geometry for dissociation curves"


def test_atomization_energies_have_sources():
    with_tae = {n: e for n, e in molecules.LIBRARY.items() if e.atomization_kcal is not None}
    assert len(with_tae) >= 20
    for name, entry in with_tae.items():
        assert entry.atomization_kcal > 0, name
        assert entry.atomization_source.strip(), name
        assert len(entry.atoms) >= 2 and entry.charge == 0, name
    for entry in molecules.LIBRARY.values():
        if entry.atomization_kcal is None:
            assert entry.atomization_source == ""
    # spot checks against the W4-11 table (kcal/mol, no zero-point energy)
    assert molecules.library_entry("WATER").atomization_kcal == pytest.approx(232.974)
    assert molecules.library_entry("methane").atomization_kcal == pytest.approx(420.420)
    assert "W4-11" in molecules.library_entry("N2").atomization_source
    with pytest.raises(ValueError, match="source"):
        molecules.LibraryEntry(((("H", (0.0, 0.0, 0.0)),)), 0, 1, "x", "atom", 1.0)
    with pytest.raises(ValueError, match="category"):
        molecules.LibraryEntry(((("H", (0.0, 0.0, 0.0)),)), 0, 1, "x", "planet")


def test_ionization_energies_have_sources_and_follow_the_periodic_table():
    with_ie = {n: e for n, e in molecules.LIBRARY.items() if e.ionization_ev is not None}
    atoms = molecules.ATOM_GROUND_TERM
    assert set(atoms) <= set(with_ie) and {"water", "CO", "N2"} <= set(with_ie)
    for name, entry in with_ie.items():
        assert 3.0 < entry.ionization_ev < 25.0, name
        assert entry.ionization_source.strip(), name
        assert entry.charge == 0, name
    for entry in molecules.LIBRARY.values():
        if entry.ionization_ev is None:
            assert entry.ionization_source == ""
    ie = {s: with_ie[s].ionization_ev for s in atoms}
    # Each period starts low at the alkali metal and peaks at the noble gas; He is the highest of all.
    for first, last in (("Li", "Ne"), ("Na", "Ar")):
        period = list(atoms)[list(atoms).index(first) : list(atoms).index(last) + 1]
        assert min(period, key=ie.get) == first and max(period, key=ie.get) == last
    assert max(ie, key=ie.get) == "He"
    # spot checks (eV): NIST ASD atoms, NIST WebBook evaluated molecular values
    assert ie["H"] == pytest.approx(13.5984) and ie["O"] == pytest.approx(13.6181)
    assert molecules.library_entry("water").ionization_ev == pytest.approx(12.621)
    assert "NIST" in with_ie["N"].ionization_source and "WebBook" in with_ie["CO"].ionization_source
    with pytest.raises(ValueError, match="ionization energy needs its source"):
        molecules.LibraryEntry(((("H", (0.0, 0.0, 0.0)),)), 0, 1, "x", "atom", ionization_ev=13.6)


def test_electrons_that_do_not_fit_the_basis_are_refused():
    """Issue 17 (1): H2/STO-3G has 2 spatial orbitals, room for 2 alpha and 2 beta electrons. With
    charge -4 (6 electrons) PySCF dropped the extra ones and the SCF 'converged'; now refused."""
    from explorer import run_scf

    anion = molecules.parse_atoms("H 0 0 0; H 0 0 0.74", charge=-4, spin=0, basis="sto-3g")
    with pytest.raises(InputError, match=r"6 electrons .* 3 alpha and 3 beta .* only 2 orbitals per spin"):
        anion.to_pyscf()
    with pytest.raises(InputError, match="orbitals per spin"):
        run_scf(anion, "B3LYP")
    high_spin = molecules.parse_atoms("H 0 0 0; H 0 0 0.74", charge=-2, spin=4, basis="sto-3g")
    with pytest.raises(InputError, match="4 alpha and 0 beta"):
        high_spin.to_pyscf()
    # What fits is accepted: H2(2-) closed shell fills both orbitals of both spins.
    assert molecules.parse_atoms("H 0 0 0; H 0 0 0.74", charge=-2, basis="sto-3g").to_pyscf().nao_nr() == 2


@pytest.mark.parametrize(
    "parse",
    [
        lambda: molecules.parse_atoms("² 0 0 0"),  # '²'.isdigit() is True, int('²') raised ValueError
        lambda: molecules.parse_xyz("²\n\nH 0 0 0\n"),
        lambda: molecules.parse_atoms("١ 0 0 0"),  # Arabic-Indic digit one
        lambda: molecules.from_smiles("*C"),  # RDKit's wildcard atom reached PySCF's element table
        lambda: molecules.from_smiles("[*]"),
    ],
)
def test_unicode_digits_and_wildcards_are_one_line_input_errors(parse):
    """Issue 17 (9): every bad token is an InputError, never another exception."""
    with pytest.raises(InputError) as info:
        parse()
    assert "\n" not in str(info.value)


def _fast(call, seconds=3.0):
    """Runs ``call`` expecting an InputError within ``seconds`` (wall time); returns its message."""
    import time

    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        call()
    assert time.perf_counter() - start < seconds
    assert "\n" not in str(info.value)
    return str(info.value)


def test_oversized_input_is_refused_before_the_expensive_step():
    """Issue 17 (2): parsing runs in the app's server process. Measured before the fix: 20,000 atoms
    took 19 s (an O(N^2) Python loop, twice per rerun), SMILES 'C'*300 more than 100 s of embedding."""
    from explorer import settings

    ceiling = settings.atom_ceiling()
    many = "; ".join(f"H 0 0 {i}" for i in range(100_000))
    assert "ceiling" in _fast(lambda: molecules.parse_atoms(many))
    xyz = f"{100_000}\n\n" + "\n".join(f"H 0 0 {i}" for i in range(100_000))
    assert "ceiling" in _fast(lambda: molecules.parse_xyz(xyz))
    assert "ceiling" in _fast(lambda: molecules.from_smiles("C" * 10_000))
    assert "ceiling" in _fast(lambda: molecules.from_smiles("C" * 300))  # 902 atoms with hydrogens
    # At the ceiling itself the (vectorised) distance check is quick, and still finds clashes.
    chain = "; ".join(f"H 0 0 {0.74 * i}" for i in range(ceiling))
    assert len(molecules.parse_atoms(chain, spin=0).atoms) == ceiling
    clash = "; ".join(f"H 0 0 {0.74 * i}" for i in range(ceiling - 1)) + f"; H 0 0.1 {0.74 * 7}"
    message = _fast(lambda: molecules.parse_atoms(clash, spin=0), seconds=1.0)
    assert f"atoms 8 and {ceiling} are too close (0.100 A" in message
