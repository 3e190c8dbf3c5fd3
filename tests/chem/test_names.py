"""Readable names of stored calculations: library names kept, SMILES named, ions carry their charge."""

import pytest

from explorer.chem import names
from explorer.chem.molecules import LIBRARY, from_library, from_smiles


@pytest.mark.parametrize(
    "smiles, name, formula",
    [
        ("c1ccc(O)cc1", "phenol", "C6H6O"),  # written another way than in the table
        ("OCC", "ethanol", "C2H6O"),
        ("CC(=O)Oc1ccccc1C(O)=O", "aspirin", "C9H8O4"),
        ("CN1C=NC2=C1C(=O)N(C)C(=O)N2C", "caffeine", "C8H10N4O2"),  # Kekulé form
        ("OC1=CC=C(NC(C)=O)C=C1", "paracetamol", "C8H9NO2"),
        ("CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "ibuprofen", "C13H18O2"),  # one enantiomer
        ("O", "water", "H2O"),
    ],
)
def test_a_smiles_molecule_is_named_by_its_common_name(smiles, name, formula):
    """The name a SMILES molecule is stored under (its SMILES, as from_smiles labels it) becomes its
    common name; the canonical SMILES is kept for searching."""
    molecule = from_smiles(smiles, basis="sto-3g")
    assert molecule.name == smiles and molecule.formula() == formula
    described = names.describe(molecule.name, molecule.formula(), molecule.charge)
    assert described == {"name": name, "species": formula, "smiles": names.smiles_facts(smiles)[0]}
    assert names.common_name(smiles) == name


def test_an_unknown_smiles_is_named_by_its_formula_and_a_user_label_stays():
    assert names.describe("CC(C)(C)O", "C4H10O", 0) == {
        "name": "C4H10O",
        "species": "C4H10O",
        "smiles": "CC(C)(C)O",
    }
    assert names.common_name("CC(C)(C)O") is None
    # "CO" reads as methanol's SMILES, but an XYZ labelled CO with carbon monoxide's atoms is not methanol.
    assert names.describe("CO", "CO", 0)["name"] == "CO"
    assert names.describe("CO", "CH4O", 0)["name"] == "methanol"
    assert names.describe("my favourite molecule", "H2O", 0)["name"] == "my favourite molecule"
    assert names.describe("not a smiles (", "H2O", 0)["smiles"] == ""


def test_ions_carry_their_charge():
    """Issue 20 (7): H2+ scan points were labelled "H2 R=... A" with formula H2."""
    assert names.describe("H2 R=1.5 A", "H2", 1) == {"name": "H2+ R=1.5 A", "species": "H2+", "smiles": ""}
    assert names.describe("H2 R=1.5 A", "H2", 0)["name"] == "H2 R=1.5 A"  # neutral H2 scan
    assert names.describe("", "H2", 1)["name"] == "H2+"
    assert names.describe("", "O4S", -2)["name"] == "O4S(2-)"  # not "O4S2-"
    assert names.describe("[NH4+]", "H4N", 1)["name"] == "ammonium"
    # A SMILES whose own charge was overridden is not called by the neutral molecule's name alone.
    assert names.describe("O", "H2O", 1) == {"name": "water (H2O+)", "species": "H2O+", "smiles": "O"}
    assert [names.species("OH", q) for q in (-1, 0, 1, 3)] == ["OH-", "OH", "OH+", "OH(3+)"]


def test_library_names_are_kept_with_and_without_a_point_suffix():
    for key in LIBRARY:
        molecule = from_library(key, basis="sto-3g")
        assert names.describe(key, molecule.formula(), molecule.charge)["name"] == key
    h2_plus = from_library("H2+", basis="sto-3g")
    assert names.describe("H2+ R=2 A", "H2", 1)["name"] == "H2+ R=2 A"
    assert names.describe("CH2 (triplet) singlet", "CH2", 0)["name"] == "CH2 (triplet) singlet"
    assert names.describe("benzene N=41.5", "C6H6", 0)["name"] == "benzene N=41.5"
    assert names.describe("c1ccccc1 N=41.5", "C6H6", 0)["name"] == "benzene N=41.5"  # a SMILES' curve
    assert h2_plus.charge == 1 and names.describe(h2_plus.name, "H2", 1)["species"] == "H2+"


def test_the_common_name_table_reads_and_names_each_molecule_once():
    canonical = [names.smiles_facts(smiles) for _, smiles in names.COMMON_NAMES]
    assert None not in canonical
    assert len({c[0] for c in canonical}) == len(names.COMMON_NAMES)  # no molecule listed twice
    assert len({name for name, _ in names.COMMON_NAMES}) == len(names.COMMON_NAMES)
    assert names.smiles_facts("water") is None and names.smiles_facts("C*") is None
