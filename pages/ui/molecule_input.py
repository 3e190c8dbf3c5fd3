"""The molecule chooser shared by every page: library, SMILES, XYZ (pasted or uploaded) or a
drawing; charge and spin inferred and editable; a basis set; the choice kept across pages.

Streamlit forgets a widget's value in any run that does not draw it (another page is shown, or an
error ends the chooser early). Widgets made with ``kept(key)`` copy their value on every change to
a plain session-state entry, and ``keep_choice`` gives it back before they are drawn again.
"""

from __future__ import annotations

import streamlit as st

from explorer import ExplorerError, InputError, Molecule, from_library, from_smiles, parse_xyz, settings
from explorer.chem.molecules import LIBRARY
from explorer.engine.scf import estimated_seconds

SOURCES = ("Library", "SMILES", "XYZ", "Draw")
BASES = (
    "sto-3g",
    "6-31g",
    "6-31g*",
    "6-31g**",
    "def2-svp",
    "cc-pvdz",
    "aug-cc-pvdz",
    "def2-tzvp",
    "cc-pvtz",
    "aug-cc-pvtz",
)
KEYS = ("mi_source", "mi_library", "mi_smiles", "mi_xyz", "mi_basis", "mi_charge", "mi_spin")
DEFAULTS = {
    "mi_source": "Library",
    "mi_library": "water",
    "mi_smiles": "OCC",
    "mi_xyz": "3\nwater\nO 0.0 0.0 0.0\nH 0.0 0.757 0.587\nH 0.0 -0.757 0.587\n",
    "mi_basis": "6-31g",
}
#: Interactive runs above the limits (explorer.settings: atoms, basis functions, estimated time;
#: each an environment variable) ask for confirmation first.


#: The session-state key holding each source's structure (the rest belong to every source).
STRUCTURE = {"Library": "mi_library", "SMILES": "mi_smiles", "XYZ": "mi_xyz", "Draw": "mi_drawn"}
#: Session-state key of the last size_guard estimate (seconds), shown by the Run block (pages.ui.jobs).
ESTIMATE_KEY = "run_estimate_seconds"

_KEPT = "kept:"  # prefix of the plain session-state copies that outlive the widgets


def keep_choice(keys=KEYS, defaults=DEFAULTS) -> None:
    """Gives the widgets in ``keys`` their last values back before they are drawn (Streamlit
    forgets a widget's value in any run that does not draw it: another page, an early error),
    and ``defaults`` to those never set."""
    for key in keys:
        if _KEPT + key in st.session_state:
            st.session_state[key] = st.session_state[_KEPT + key]
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def kept(key: str) -> dict:
    """Widget arguments (key and on_change) that make keep_choice remember the widget's value."""
    return {"key": key, "on_change": _store, "args": (key,)}


def _store(key: str) -> None:
    st.session_state[_KEPT + key] = st.session_state[key]


def set_widget(key: str, value) -> None:
    """Sets a widget's value from code (before it is drawn), remembered like a user's choice."""
    st.session_state[key] = st.session_state[_KEPT + key] = value


def set_choice(source: str, basis: str, charge: int, spin: int, **values) -> None:
    """Pre-fills the chooser (e.g. from a stored result) before the widgets are drawn."""
    for key, value in {
        "mi_source": source,
        "mi_basis": basis,
        "mi_charge": charge,
        "mi_spin": spin,
        **values,
    }.items():
        set_widget(key, value)
    st.session_state["mi_inferred_for"] = _identity(source, values)


def _identity(source: str, values: dict) -> tuple:
    """What the inferred charge and spin depend on: the source and its structure."""
    return (source, values.get(STRUCTURE.get(source, "")))


def molecule_input() -> Molecule | None:
    """Draws the chooser and returns the validated molecule, or None after showing a one-line error."""
    keep_choice()
    source = st.segmented_control("Molecule from", SOURCES, **kept("mi_source")) or "Library"
    try:
        base = _base_molecule(source)
    except ExplorerError as err:
        st.error(str(err))
        return None
    identity = _identity(source, {k: st.session_state.get(k) for k in (*KEYS, "mi_drawn")})
    if st.session_state.get("mi_inferred_for") != identity:
        # A new structure: charge and 2S start from what it implies (formal charges, radicals).
        set_widget("mi_charge", base.charge)
        set_widget("mi_spin", base.spin)
        st.session_state["mi_inferred_for"] = identity
    left, middle, right = st.columns(3)
    charge = left.number_input("Charge", -10, 10, step=1, **kept("mi_charge"))
    spin = middle.number_input("Spin 2S (unpaired electrons)", 0, 20, step=1, **kept("mi_spin"))
    basis = right.selectbox("Basis set", BASES, **kept("mi_basis"))
    try:
        molecule = _finish(base, int(charge), int(spin), basis)
    except ExplorerError as err:
        st.error(str(err))
        return None
    st.session_state["molecule"] = molecule
    caption = (
        f"{molecule.formula()}, {molecule.n_electrons} electron{'' if molecule.n_electrons == 1 else 's'}, "
        f"charge {molecule.charge}, "
        f"2S = {molecule.spin}"
    )
    st.caption(caption + (f". Geometry: {molecule.source}" if molecule.source else ""))
    return molecule


def molecule_input_with_view(height: int = 330) -> Molecule | None:
    """The chooser with the chosen molecule in 3D beside it; returns what molecule_input returns."""
    from pages.ui.viewer import show_molecule

    if st.session_state.get("mi_source") == "Draw":
        # The editor needs the page's whole width: in a column its element palette is cut off.
        molecule = molecule_input()
        if molecule is not None:
            show_molecule(molecule, height=height)
        return molecule
    choose, picture = st.columns([3, 2])
    with choose:
        molecule = molecule_input()
    with picture:
        if molecule is not None:
            show_molecule(molecule, height=height)
    return molecule


def _base_molecule(source: str) -> Molecule:
    """The structure from the chosen source, with its own charge and spin (basis set later)."""
    if source == "Library":
        names = list(LIBRARY)
        name = st.selectbox(
            "Library molecule",
            names,
            **kept("mi_library"),
            format_func=lambda n: f"{n}  ({LIBRARY[n].category})",
        )
        return from_library(name)
    if source == "SMILES":
        smiles = st.text_input(
            "SMILES", **kept("mi_smiles"), help="3D structure from RDKit (ETKDG, seeded, MMFF)"
        )
        return _smiles_molecule(smiles)
    if source == "XYZ":
        upload = st.file_uploader("Upload an .xyz file", type=["xyz", "txt"], key="mi_upload")
        if upload is not None and upload.file_id != st.session_state.get("mi_upload_seen"):
            # An uploaded file fills the text box once, so it can still be edited.
            st.session_state["mi_upload_seen"] = upload.file_id
            set_widget("mi_xyz", upload.getvalue().decode("utf-8", errors="replace"))
        text = st.text_area("XYZ (Angstrom)", **kept("mi_xyz"), height=160)
        return parse_xyz(text, name=_xyz_title(text))
    return _drawn_molecule()


def _xyz_title(text: str) -> str:
    """A name for an XYZ input: its comment line without the charge=/2S= notes explorer writes there."""
    lines = text.strip().splitlines()
    comment = lines[1] if len(lines) > 1 and lines[0].strip().isdigit() else ""
    words = [w for w in comment.split() if not w.startswith(("charge=", "2S="))]
    return " ".join(words)[:40] or "XYZ input"


@st.cache_data(max_entries=64, show_spinner="Building 3D coordinates with RDKit…")
def _smiles_molecule(smiles: str) -> Molecule:
    return from_smiles(smiles)


def _drawn_molecule() -> Molecule:
    from streamlit_ketcher import st_ketcher

    st.caption("Draw a molecule, then press Apply under the editor.")
    start = st.session_state.get("mi_drawn") or st.session_state.get("mi_smiles", "")
    # The editor keeps its drawing while its key stays the same, whatever value it is given. A new
    # editor (first view, or back from another page, where Streamlit dropped its state) gets a key
    # from the molecule it opens with, so it shows the last applied drawing; after an Apply the key
    # stays: a new key would reload the editor and shift the whole page below it while it loads.
    key = st.session_state.get("mi_ketcher_key")
    if key is None or key not in st.session_state:
        key = st.session_state["mi_ketcher_key"] = f"mi_ketcher_{start}"
    drawn = st_ketcher(start, height=460, key=key)
    if drawn:
        st.session_state["mi_drawn"] = drawn
    smiles = drawn or start
    if not smiles:
        raise InputError("the drawing is empty: draw a molecule and press Apply")
    st.caption(f"SMILES: `{smiles}`")
    return _smiles_molecule(smiles)


def _finish(base: Molecule, charge: int, spin: int, basis: str) -> Molecule:
    from explorer.chem.molecules import validate

    molecule = Molecule(base.atoms, charge, spin, basis, base.name, base.source)
    validate(molecule)
    _basis_size(molecule)  # raises InputError for a bad basis; cached for the size guard
    return molecule


def size_guard(
    molecule: Molecule, functionals: list[str], runs: int = 1, key: str = "size_guard_override"
) -> bool:
    """Shows the expected cost of ``runs`` SCFs per functional (the points of a curve); above the
    limits (explorer.settings), says which and asks to go on anyway (a checkbox ``key``: a page with
    two guards gives the second its own); above the server's ceiling, refuses. True when allowed to
    run."""
    n_basis = _basis_size(molecule)
    seconds = runs * sum(estimated_seconds(len(molecule.atoms), n_basis, f) for f in functionals)
    st.session_state[ESTIMATE_KEY] = seconds
    functions = "basis function" if n_basis == 1 else "basis functions"
    text = f"{n_basis} {functions}; expected time about {duration(seconds)} on 2 cores (rough)."
    try:
        ceiling = settings.ceiling_problem(n_basis)
        problem = settings.size_problem(len(molecule.atoms), n_basis)
        limit = settings.max_seconds()
    except ExplorerError as err:  # a limit set to something that is not a number
        st.error(str(err))
        return False
    if ceiling is not None:
        st.error(f"Too large for this server: {ceiling}.")
        return False
    if problem is None and seconds > limit:
        problem = (
            f"the estimate is over the limit of {duration(limit)} for interactive runs "
            f"(set {settings.MAX_SECONDS_ENV} to raise it)"
        )
    if problem is None:
        st.caption(text)
        return True
    st.warning(f"Large calculation: {text} {problem[0].upper()}{problem[1:]}.")
    return st.checkbox("Run anyway", key=key)


@st.cache_data(max_entries=256, show_spinner=False)
def _basis_size(molecule: Molecule) -> int:
    """Number of basis functions; InputError (not cached) for a basis that does not fit the molecule."""
    return int(molecule.to_pyscf().nao_nr())


def duration(seconds: float) -> str:
    """A rounded duration for people: "8 s", "3 min"."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
