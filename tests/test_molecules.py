"""Molecule parsing and validation: every bad input is an InputError naming the problem."""

import pytest

from explorer import molecules
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
