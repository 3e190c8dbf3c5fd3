"""Compare: one molecule, several functionals, side by side."""

import streamlit as st

from explorer import GridSpec
from explorer.analyses.compare import (
    assemble_rows,
    atomization_reference,
    comparison_requests,
    comparison_table,
    error_panels,
    ionization_reference,
    split_table,
)
from explorer.chem import units
from explorer.chem.dispersion import DM21_NOTE
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES, DM21_NAMES
from explorer.present.exports import comparison_script, table_csv, table_json
from explorer.present.plots import (
    difference_bar_figure,
    orbital_levels_figure,
    property_bars_figure,
    scf_progress_figure,
)
from explorer.runs import tasks
from pages.ui.jobs import run_batch
from pages.ui.links import follow_link, publish
from pages.ui.molecule_input import keep_choice, kept, molecule_input_with_view, size_guard
from pages.ui.page_export import page_html_button
from pages.ui.resources import results_store

st.title("Compare functionals")
st.markdown(
    "Run DM21 and classical functionals on the same molecule, basis set and grid. Total energies "
    "of different functionals differ by a lot and mean little on their own; look at **differences** "
    "that chemistry cares about: atomization energies against experiment, orbital energies and the "
    "HOMO-LUMO gap (DM21's are closer to ionization energies than B3LYP's), dipoles and <S²>."
)


OPTIONS = {
    "cmp_functionals": ["DM21", "B3LYP"],
    "cmp_unit": "kcal/mol",
    "cmp_d3": False,
    "cmp_atomization": False,
}
LINKED = (*OPTIONS, "cmp_baseline")  # the choices a shared link carries (pages.ui.links)
keep_choice(LINKED, OPTIONS)
from_link = follow_link(LINKED)
if st.session_state.get("cmp_baseline") not in st.session_state["cmp_functionals"]:
    st.session_state.pop("cmp_baseline", None)  # the baseline must be one of the functionals

molecule = molecule_input_with_view(height=330)

left, middle, right = st.columns(3)
functionals = left.multiselect("Functionals", DM21_NAMES + CLASSICAL_NAMES, **kept("cmp_functionals"))
baseline = middle.selectbox("Baseline for differences", functionals or ["DM21"], **kept("cmp_baseline"))
unit = right.selectbox("Energy unit", units.UNITS, **kept("cmp_unit"))
with_d3 = left.checkbox(
    "Add D3(BJ) dispersion",
    **kept("cmp_d3"),
    help=f"Grimme's D3 with Becke-Johnson damping (simple-dftd3), as in the DM21 paper. {DM21_NOTE}",
)
with_atomization = middle.checkbox(
    "Atomization energies",
    **kept("cmp_atomization"),
    help="Free atoms in their ground spin states are computed once and kept in the results store.",
)

ready = molecule is not None and bool(functionals)
allowed = ready and size_guard(molecule, functionals)


def _submit() -> dict:
    results_store()  # a broken or locked database is reported before anything runs
    requests = comparison_requests(molecule, functionals, grid=GridSpec(), with_atomization=with_atomization)
    # Every SCF is a task on the shared cluster: sessions asking for the same one share it.
    jobs = [tasks.submit_scf(**r) for r in requests]
    options = (tuple(functionals), with_d3, with_atomization)
    return {"jobs": jobs, "requests": requests, "molecule": molecule, "options": options, "history": []}


def _draw(event: dict, chart) -> None:
    history = st.session_state["cmp_jobs"]["history"]  # the batch followed, kept across reruns
    history.append(event)
    current = [h for h in history if h["task"] == event["task"]]
    chart.plotly_chart(scf_progress_figure(current, event["task"]), key=f"live{len(history)}")


def _collect(batch: dict) -> dict:
    outcomes = [tasks.result(job)[:2] for job in batch["jobs"]]
    rows = assemble_rows(batch["molecule"], batch["requests"], outcomes, batch["options"][1])
    return {"molecule": batch["molecule"], "rows": rows, "options": batch["options"]}


def _printf_formats(columns) -> dict:
    """Display precision by unit (printf): Hartree 1e-6, other energies and Debye 0.01, <S²> 0.001."""
    formats = {}
    for column in columns:
        if column.endswith("(Ha)"):
            formats[column] = "%.6f"
        elif column.endswith(("(eV)", "(D)", "mol)", "(s)")):
            formats[column] = "%.2f"
        elif column == "<S²>":
            formats[column] = "%.3f"
    return formats


def _show_table(rows: list[dict], key: str) -> dict:
    """Draws the table and returns it as a section of the HTML export (same rows, same formats)."""
    formats = _printf_formats(rows[0])
    column_config = {c: st.column_config.NumberColumn(format=f) for c, f in formats.items()}
    st.dataframe(rows, hide_index=True, column_config=column_config, key=key)
    return {"table": rows, "formats": formats}


last = run_batch(
    "cmp",
    _submit if ready else None,
    _collect,
    label="Run comparison",
    disabled=not allowed,
    start=from_link and allowed,
    expanded=True,
    live=_draw,
)
options_now = (tuple(functionals), with_d3, with_atomization)
publish(LINKED, shown=last is not None and (last["molecule"], last["options"]) == (molecule, options_now))


if last is not None:
    molecule_run, rows = last["molecule"], last["rows"]
    functionals_run, d3_run, atomization_run = last["options"]
    if baseline not in functionals_run:
        baseline = functionals_run[0]
    table = comparison_table(rows, baseline, unit)
    parts = split_table(table)
    names = [line["functional"] for line in table]
    st.subheader(f"{molecule_run.name or molecule_run.formula()} / {molecule_run.basis}")
    exported = []  # the same tables, figures and texts, for the HTML export at the end
    unconverged = [r.functional for r in rows if not r.converged]
    if unconverged:
        warning = (
            f"{', '.join(unconverged)}: the SCF did NOT converge (the molecule or a free atom), so "
            "its numbers are left blank; an unconverged energy is not a result."
        )
        st.error(warning)
        exported.append({"text": warning})
    exported.append({"heading": "Chemistry", **_show_table(parts["chemistry"], "cmp_chemistry")})
    notes = ["Energies on the DM21 reference grid (level 3, pruned); orbital energies in eV."]
    if "B3LYP" in functionals_run:
        notes.append(B3LYP_NOTE)
    if d3_run:
        notes.append(f"D3(BJ) without the three-body term. {DM21_NOTE}")
    st.caption(" ".join(notes))

    ionization = ionization_reference(rows, molecule_run)
    figure = orbital_levels_figure(
        names,
        [line["HOMO (eV)"] for line in table],
        [line["LUMO (eV)"] for line in table],
        ionization["value"] if ionization else None,
    )
    st.plotly_chart(figure, key="cmp_orbitals")
    exported.append({"heading": "Orbital energies", "figure": figure})
    if ionization is not None:
        errors = ", ".join(f"{f} {e:+.2f} eV" for f, e in ionization["errors"].items()) or "none converged"
        text = (
            f"**Experimental ionization energy** {ionization['value']:.2f} eV (source: "
            f"{ionization['source']}). For the exact functional −HOMO equals it; −HOMO minus "
            f"experiment: {errors}."
        )
        st.markdown(text)
    else:
        text = "The library has no experimental ionization energy for this molecule."
        st.caption(text)
    exported.append({"text": text})
    reference = atomization_reference(rows, molecule_run, unit) if atomization_run else None
    if reference is not None:
        errors = ", ".join(f"{f} {e:+.2f}" for f, e in reference["errors"].items())
        text = (
            f"**Reference atomization energy** {reference['value']:.2f} {unit} "
            f"(source: {reference['source']}). Error, computed minus reference: {errors} {unit}."
        )
        st.markdown(text)
        exported.append({"text": text})
    elif atomization_run:
        text = "The library has no reference atomization energy for this molecule."
        st.caption(text)
        exported.append({"text": text})
    dipoles = {"title": "|dipole| (D)", "values": [line["|dipole| (D)"] for line in table]}
    figure = property_bars_figure(names, [dipoles, *error_panels(ionization, reference, names, unit)])
    st.plotly_chart(figure, key="cmp_properties")
    exported.append({"figure": figure})

    text = (
        "**Total energies and their differences between functionals**: not meaningful on their own "
        "(each functional's total energy has its own offset); the quantities above are what "
        "chemistry compares."
    )
    st.markdown(text)
    delta = f"ΔE vs {baseline} ({unit})"
    exported.append(
        {"heading": "Total energies", "text": text, **_show_table(parts["energies"], "cmp_energies")}
    )
    figure = difference_bar_figure(
        names,
        [line[delta] for line in table],
        delta,
        title=f"Total-energy difference to {baseline} (not meaningful on its own)",
    )
    st.plotly_chart(figure, key="cmp_bars")
    exported.append({"figure": figure})
    st.markdown("**Run details**")
    exported.append({"heading": "Run details", **_show_table(parts["run"], "cmp_run_details")})

    stem = (molecule_run.name or molecule_run.formula()).replace(" ", "_")
    metadata = {
        "molecule": molecule_run.name or molecule_run.formula(),
        "basis": molecule_run.basis,
        "charge": molecule_run.charge,
        "spin_2S": molecule_run.spin,
        "grid": GridSpec().as_dict(),
        "unit": unit,
        "notes": notes,
    }
    script = comparison_script(
        molecule_run,
        list(functionals_run),
        with_dispersion=d3_run,
        with_atomization=atomization_run,
        baseline=baseline,
        unit=unit,
    )
    a, b, c, d = st.columns(4)
    a.download_button("Table (CSV)", table_csv(table), f"{stem}_compare.csv", "text/csv", key="dl_csv")
    b.download_button(
        "Table (JSON)",
        table_json(table, **metadata),
        f"{stem}_compare.json",
        "application/json",
        key="dl_json",
    )
    c.download_button("Molecule (XYZ)", molecule_run.xyz(), f"{stem}.xyz", "chemical/x-xyz", key="dl_xyz")
    d.download_button("Python script", script, f"{stem}_compare.py", "text/x-python", key="dl_py")
    title = f"Compare functionals: {molecule_run.name or molecule_run.formula()} / {molecule_run.basis}"
    page_html_button(title, exported, f"{stem}_compare.html", "dl_html", molecule=molecule_run, notes=notes)
