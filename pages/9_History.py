"""History: every stored calculation, searchable; re-open or delete."""

import hashlib
from datetime import datetime

import streamlit as st

from explorer import ExplorerError, settings
from explorer.chem import units
from explorer.chem.molecules import Molecule
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES, DM21_NAMES
from explorer.present.exports import table_csv, table_json
from pages.ui.links import share_link
from pages.ui.molecule_input import set_choice, set_widget
from pages.ui.resources import results_store

st.title("History")
st.markdown(
    "Every calculation the app or the command line has finished is kept in a results database, "
    "keyed by everything that decides its numbers (geometry, basis, functional, charge, spin, grid, "
    "code version). Asking again for the same calculation answers at once. Search, look at a stored "
    "result again, open its molecule in Compare, or delete it."
)

try:
    store = results_store()
except ExplorerError as err:
    st.error(str(err))
    st.stop()

search = st.text_input(
    "Search (name, formula, SMILES, functional or basis)",
    key="hist_search",
    help="Part of a name (phenol, water, H2+), a formula (C6H6O), a SMILES (written any way), a "
    "functional (DM21m) or a basis set (6-31g).",
)
entries = store.list(search)
st.caption(f"{len(entries)} stored result(s)")
if not entries:
    st.info("Nothing stored yet: run a comparison first." if not search else "No stored result matches.")
    st.stop()

listing = [
    {
        "when": datetime.fromtimestamp(e["created"]).strftime("%Y-%m-%d %H:%M"),
        "molecule": e["title"],
        "formula": e["species"],
        "SMILES": e["smiles"],
        "functional": e["functional"],
        "basis": e["basis"],
        # Signed, as chemists write it: +1 for H2+.
        "charge": f"{e['charge']:+d}" if e["charge"] else "0",
        "2S": e["spin"],
        "E (Ha)": e["energy"],
    }
    for e in entries
]
st.dataframe(listing, hide_index=True)
if any(e["functional"] == "B3LYP" for e in entries):
    st.caption(B3LYP_NOTE)
left, right = st.columns(2)
left.download_button(
    "List (CSV)", table_csv(listing), "dm21_explorer_history.csv", "text/csv", key="hist_csv"
)
right.download_button(
    "List (JSON)",
    table_json(listing, search=search),
    "dm21_explorer_history.json",
    "application/json",
    key="hist_list_json",
)

names = {e["key"]: row["molecule"] for e, row in zip(entries, listing, strict=True)}
labels = {
    e["key"]: f"{row['when']} · {row['molecule']} · {row['functional']}/{row['basis']}"
    for e, row in zip(entries, listing, strict=True)
}
# The picker is a new widget whenever the visible list changes: kept under one key, the browser showed
# the new list's first label while the page read the result picked from an older list.
listed = hashlib.sha256("\n".join(labels).encode()).hexdigest()[:12]
key = st.selectbox("Stored result", list(labels), format_func=labels.get, key=f"hist_pick_{listed}")
stored, request = store.get(key), store.request(key)
if stored is None or request is None:
    st.warning("That result was deleted meanwhile.")
    st.stop()

details = [
    {"quantity": "total energy", "Hartree": stored["energy"]},
    {"quantity": "one-electron", "Hartree": stored["e1"]},
    {"quantity": "Coulomb", "Hartree": stored["coulomb"]},
    {"quantity": "exchange-correlation", "Hartree": stored["e_xc"]},
    {"quantity": "nuclear repulsion", "Hartree": stored["nuclear"]},
    {"quantity": "HOMO", "Hartree": stored["homo"]},
    {"quantity": "LUMO", "Hartree": stored["lumo"]},
]
for line in details:
    line["eV"] = units.from_hartree(line["Hartree"], "eV")
st.dataframe(details, hide_index=True)
st.caption(
    f"{stored['kind']}, {stored['cycles']} SCF cycles, {stored['scf_seconds']:.1f} s, "
    f"{stored['n_basis']} basis functions, {stored['n_grid_points']} grid points, grid {stored['grid']}."
    + (f" {B3LYP_NOTE}" if stored["functional"] == "B3LYP" else "")
)
molecule = Molecule(
    tuple((s, tuple(xyz)) for s, xyz in request["atoms"]),
    request["charge"],
    request["spin"],
    request["basis"],
    names[key],
)
a, b, c = st.columns(3)
a.download_button(
    "Result (JSON)",
    table_json([{k: v for k, v in stored.items() if k != "dm"}], request=request),
    f"{molecule.formula()}_{stored['functional']}.json",
    "application/json",
    key="hist_json",
)
offered = DM21_NAMES + CLASSICAL_NAMES
functional = stored["functional"] if stored["functional"] in offered else "DM21"
if b.button("Open molecule in Compare", key="hist_open"):
    set_choice("XYZ", molecule.basis, molecule.charge, molecule.spin, mi_xyz=molecule.xyz())
    set_widget("cmp_functionals", [functional])
    st.switch_page("pages/1_Compare.py")
# The same as a link: Compare with this molecule and functional, shown at once. A plain SCF (no
# fractional occupations) asks Compare for the very request stored here, so the link opens this result.
params = {
    "mi_source": ["XYZ"],
    "mi_xyz": [molecule.xyz()],
    "mi_basis": [molecule.basis],
    "mi_charge": [str(molecule.charge)],
    "mi_spin": [str(molecule.spin)],
    "cmp_functionals": [functional],
    "show": ["1"] if request.get("occupations") is None else ["0"],
}
with b.popover("Link to this result", icon=":material/link:"):
    st.caption(
        "Opens Compare with this molecule and functional"
        + (
            " and shows this result."
            if params["show"] == ["1"]
            else " (fractional occupations are not linked)."
        )
    )
    st.code(share_link(params, path="Compare"), language=None, wrap_lines=True)
if settings.class_mode():
    c.caption("Deleting is for the teacher (this server runs in class mode).")
else:
    with c.popover("Delete"):
        st.caption("The result goes for every session and the command line too.")
        if st.button("Delete this result", key="hist_delete", type="primary"):
            store.delete(key)
            st.rerun()
