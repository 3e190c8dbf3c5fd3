"""Readable names for stored calculations: library names, common names of SMILES molecules, charged formulas.

A calculation is stored with its molecule's label (explorer.chem.molecules: a library name, the SMILES
a molecule was built from, an XYZ comment, or one of these followed by a point's description such as
"R=1.5 A"), its Hill formula and its charge. ``describe`` turns these into what a student reads and
searches: "phenol" rather than "c1ccc(O)cc1", "H2+ R=1.5 A" rather than "H2 R=1.5 A". Offline: common
names come from a small curated table keyed by RDKit's canonical SMILES.
"""

from __future__ import annotations

import functools

from explorer.chem.molecules import LIBRARY, Molecule

#: Common names of small molecules a student is likely to type or draw, as (name, any SMILES of it).
#: Looked up by canonical SMILES without stereochemistry, so every way of writing one matches.
COMMON_NAMES: tuple[tuple[str, str], ...] = (
    ("hydrogen", "[H][H]"),
    ("water", "O"),
    ("hydrogen peroxide", "OO"),
    ("ammonia", "N"),
    ("ammonium", "[NH4+]"),
    ("hydroxide", "[OH-]"),
    ("hydronium", "[OH3+]"),
    ("hydrogen fluoride", "F"),
    ("hydrogen chloride", "Cl"),
    ("hydrogen sulfide", "S"),
    ("hydrogen cyanide", "C#N"),
    ("nitrogen", "N#N"),
    ("oxygen", "O=O"),
    ("carbon monoxide", "[C-]#[O+]"),
    ("carbon dioxide", "O=C=O"),
    ("methane", "C"),
    ("ethane", "CC"),
    ("propane", "CCC"),
    ("butane", "CCCC"),
    ("ethylene", "C=C"),
    ("acetylene", "C#C"),
    ("cyclohexane", "C1CCCCC1"),
    ("methanol", "CO"),
    ("ethanol", "CCO"),
    ("isopropanol", "CC(C)O"),
    ("dimethyl ether", "COC"),
    ("formaldehyde", "C=O"),
    ("acetaldehyde", "CC=O"),
    ("acetone", "CC(C)=O"),
    ("formic acid", "OC=O"),
    ("acetic acid", "CC(=O)O"),
    ("methylamine", "CN"),
    ("urea", "NC(N)=O"),
    ("glycine", "NCC(=O)O"),
    ("alanine", "CC(N)C(=O)O"),
    ("benzene", "c1ccccc1"),
    ("toluene", "Cc1ccccc1"),
    ("phenol", "Oc1ccccc1"),
    ("aniline", "Nc1ccccc1"),
    ("benzoic acid", "OC(=O)c1ccccc1"),
    ("pyridine", "c1ccncc1"),
    ("naphthalene", "c1ccc2ccccc2c1"),
    ("aspirin", "CC(=O)Oc1ccccc1C(=O)O"),
    ("paracetamol", "CC(=O)Nc1ccc(O)cc1"),
    ("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"),
    ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"),
)


def species(formula: str, charge: int) -> str:
    """The formula with its charge: "H2+", "OH-", "SO4(2-)"; the bare formula when neutral."""
    if charge == 0:
        return formula
    sign = "+" if charge > 0 else "-"
    # A count before the sign would read as part of the formula ("H22+"): bracketed.
    return formula + (sign if abs(charge) == 1 else f"({abs(charge)}{sign})")


def smiles_facts(smiles: str) -> tuple[str, str, int] | None:
    """(canonical SMILES without stereochemistry, Hill formula with hydrogens, formal charge) of
    ``smiles``, or None if RDKit cannot read it (or it has wildcard atoms)."""
    return _smiles_facts(smiles.strip())


@functools.lru_cache(maxsize=4096)
def _smiles_facts(smiles: str) -> tuple[str, str, int] | None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    if not smiles or " " in smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or any(a.GetAtomicNum() == 0 for a in mol.GetAtoms()):
        return None
    with_h = Chem.AddHs(mol)
    # Molecule.formula is the app's one Hill formula; positions do not matter for it.
    formula = Molecule(tuple((a.GetSymbol(), (0.0, 0.0, 0.0)) for a in with_h.GetAtoms())).formula()
    return Chem.MolToSmiles(mol, isomericSmiles=False), formula, Chem.GetFormalCharge(mol)


@functools.cache
def _common_names() -> dict[str, str]:
    """Canonical SMILES -> common name, from COMMON_NAMES."""
    return {smiles_facts(smiles)[0]: name for name, smiles in COMMON_NAMES}


def common_name(smiles: str) -> str | None:
    """The common name of the molecule ``smiles`` describes ("Oc1ccccc1" -> "phenol"), or None."""
    facts = smiles_facts(smiles)
    return None if facts is None else _common_names().get(facts[0])


def describe(label: str, formula: str, charge: int) -> dict:
    """What to show and search for a calculation stored under the molecule label ``label`` with Hill
    formula ``formula`` and total charge ``charge``: {"name": a readable name, "species": the formula
    with its charge, "smiles": the canonical SMILES if the label starts with the SMILES the molecule
    was built from, else ""}.

    The name keeps a library name; replaces a SMILES by its common name (with the formula and charge
    after it when the charge is not the SMILES's own), else by the formula with its charge; puts the
    charge on a label that starts with the bare formula of an ion ("H2 R=1.5 A" of H2+ becomes
    "H2+ R=1.5 A"); any other label stays as written; no label gives the formula with its charge.
    A suffix after the first word (a scan point's "R=1.5 A") is kept.
    """
    label = label.strip()
    ion = species(formula, charge)
    if not label:
        return {"name": ion, "species": ion, "smiles": ""}
    for key, entry in LIBRARY.items():
        if (label == key or label.startswith(key + " ")) and entry.charge == charge:
            if Molecule(entry.atoms).formula() == formula:
                return {"name": label, "species": ion, "smiles": ""}
    first, _, rest = label.partition(" ")
    facts = smiles_facts(first)
    # A label that reads as a SMILES of another composition is a user's own label ("CO" of an XYZ
    # with carbon monoxide is not methanol).
    if facts is not None and facts[1] == formula:
        name = _common_names().get(facts[0])
        if name is None:
            name = ion
        elif facts[2] != charge:  # the SMILES's own charge was overridden: "water (H2O+)"
            name = f"{name} ({ion})"
        return {"name": f"{name} {rest}".strip(), "species": ion, "smiles": facts[0]}
    if first == formula and charge != 0:
        return {"name": f"{ion} {rest}".strip(), "species": ion, "smiles": ""}
    return {"name": label, "species": ion, "smiles": ""}
