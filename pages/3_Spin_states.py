"""Spin states: the lowest state of each multiplicity, DM21 beside classical functionals."""

import pandas as pd
import streamlit as st

from explorer import ExplorerError, GridSpec
from explorer.analyses.spin_states import (
    CONTAMINATION_THRESHOLD,
    GAP_DECIMALS,
    PRESETS,
    comparison_note,
    computed_kind,
    contamination_warnings,
    error_columns,
    gap_table,
    gaps,
    multiplicity_name,
    parse_spins,
    reference_levels,
    spin_states,
)
from explorer.chem import units
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES, DM21_NAMES
from explorer.present.exports import table_csv, table_json
from explorer.present.plots import spin_levels_figure
from explorer.runs import tasks
from pages.ui.jobs import run_batch
from pages.ui.links import follow_link, publish
from pages.ui.molecule_input import BASES, keep_choice, kept, molecule_input_with_view, set_widget, size_guard
from pages.ui.page_export import page_html_button
from pages.ui.resources import results_store
from pages.ui.viewer import show_molecule

st.title("Spin states")
st.markdown(
    "Which spin state lies lowest, and by how much, is where functionals disagree most visibly. For one "
    "molecule at one geometry, each functional gives the lowest state of every multiplicity you ask for "
    "(2S = 0, 2 ... or 1, 3 ...): singlets as a closed shell (RKS), or as a broken-symmetry unrestricted "
    "determinant; other multiplicities unrestricted (UKS). Compare the gaps with the reference values "
    "and look at <S²>: far from S(S+1), a determinant is not a pure spin state."
)

CUSTOM = "Any molecule (chooser below)"
OPTIONS = {
    "ss_preset": "CH2 (methylene)",
    "ss_basis": "6-31g",
    "ss_functionals": ["B3LYP", "DM21"],
    "ss_spins": "0, 2",
    "ss_bs": False,
    "ss_unit": "kcal/mol",
}
keep_choice(tuple(OPTIONS), OPTIONS)
from_link = follow_link(tuple(OPTIONS))  # a shared link's choices (pages.ui.links)


def _preset_changed() -> None:
    name = st.session_state["ss_preset"]
    set_widget("ss_preset", name)
    if name in PRESETS:
        set_widget("ss_spins", ", ".join(str(s) for s in PRESETS[name].spins))


preset_name = st.selectbox("System", [*PRESETS, CUSTOM], key="ss_preset", on_change=_preset_changed)
preset = PRESETS.get(preset_name)
molecule = None
if preset is not None:
    left, right = st.columns([3, 2])
    basis = left.selectbox("Basis set", BASES, **kept("ss_basis"))
    try:
        molecule = preset.molecule(basis)
        molecule.to_pyscf()
    except ExplorerError as err:
        left.error(str(err))
        molecule = None
    if molecule is not None:
        left.caption(
            f"{molecule.formula()}, {molecule.n_electrons} electrons. Geometry: {molecule.source}. "
            + preset.note
        )
        ref = preset.reference
        left.markdown(
            f"**Reference**: E({multiplicity_name(ref.to_spin)}) − E({multiplicity_name(ref.from_spin)}) = "
            f"{ref.value:+g} {ref.unit} ({ref.kind}). Source: {ref.source}."
        )
        with right:
            show_molecule(molecule, height=240)
else:
    molecule = molecule_input_with_view(height=260)

left, middle, right = st.columns([2, 1, 1])
functionals = left.multiselect("Functionals", DM21_NAMES + CLASSICAL_NAMES, **kept("ss_functionals"))
spins_text = middle.text_input("Spins 2S (comma-separated)", **kept("ss_spins"))
unit = right.selectbox("Unit of gaps", units.UNITS, **kept("ss_unit"))
broken = st.toggle(
    "Singlet as broken-symmetry UKS (instead of closed-shell RKS)",
    **kept("ss_bs"),
    help="Starts an unrestricted singlet from a guess with the alpha and beta HOMOs mixed with the LUMO in "
    "opposite senses; diradicals (stretched bonds, O2, CH2) then find a lower, spin-contaminated state.",
)

allowed = molecule is not None and bool(functionals)
if allowed:
    try:
        spins = parse_spins(spins_text, molecule)
    except ExplorerError as err:
        st.error(str(err))
        allowed = False
if allowed:
    allowed = size_guard(molecule, list(functionals) * len(spins))


def _submit() -> dict:
    results_store()  # a broken or locked database is reported before anything runs
    # Each multiplicity of each functional is an independent task on the shared cluster.
    pairs = [(f, s) for f in functionals for s in spins]
    calls = [
        {"molecule": molecule, "functional": f, "spins": [s], "broken_symmetry": broken, "grid": GridSpec()}
        for f, s in pairs
    ]
    jobs = tasks.fan_out(spin_states, calls, labels=[f"{f}: 2S={s}" for f, s in pairs])
    return {
        "jobs": jobs,
        "calls": calls,
        "label": f"{molecule.name or molecule.formula()} / {molecule.basis}",
        "preset": preset_name if preset is not None else None,
        "broken_symmetry": broken,
        "computed": computed_kind(molecule),
    }


def _collect(batch: dict) -> dict:
    states = {}
    for call, job in zip(batch["calls"], batch["jobs"], strict=True):
        states.setdefault(call["functional"], []).extend(tasks.result(job))
    keep = ("label", "preset", "broken_symmetry", "computed")
    return {"states": states, **{k: batch[k] for k in keep}}


last = run_batch("ss", _submit, _collect, disabled=not allowed, start=from_link and allowed)
if allowed:
    chosen = (
        f"{molecule.name or molecule.formula()} / {molecule.basis}",
        list(functionals),
        sorted(spins),
        broken,
    )
    shown = last is not None and chosen == (
        last["label"],
        list(last["states"]),
        sorted({s["spin"] for states in last["states"].values() for s in states}),
        last["broken_symmetry"],
    )
    publish(tuple(OPTIONS), shown=shown)
if last is not None:
    results = last["states"]
    shown_preset = PRESETS.get(last["preset"]) if last["preset"] else None
    st.subheader(f"Spin states: {last['label']}")
    warnings = [w for f, states in results.items() for w in contamination_warnings(states, f)]
    if warnings:
        st.warning(
            f"Spin contamination (|<S²> − S(S+1)| > {CONTAMINATION_THRESHOLD}): " + " ".join(warnings),
            icon=":material/warning:",
        )
    failed = [f"{f} {s['label']}" for f, states in results.items() for s in states if not s["converged"]]
    if failed:
        st.error("Not converged (drawn dotted, not results): " + ", ".join(failed))

    computed = last["computed"]
    kind = computed.split(":")[0]  # "vertical" or "atomic"
    decimals = GAP_DECIMALS[unit]
    levels = {}
    for f, states in results.items():
        energies = [s["energy"] for s in states if s["energy"] is not None]
        lowest = min(energies) if energies else None
        levels[f] = [
            {
                **s,
                "relative": None if s["energy"] is None else units.from_hartree(s["energy"] - lowest, unit),
            }
            for s in states
        ]
    reference = shown_preset.reference if shown_preset is not None else None
    diagram_reference = None if reference is None else reference_levels(reference, unit)
    columns = {f"{f} ({kind})": states for f, states in levels.items()}
    figure = spin_levels_figure(columns, unit, diagram_reference)
    st.plotly_chart(figure, key="ss_levels")
    exported = [{"figure": figure}]  # the same figure, tables and notes, for the HTML export at the end

    # One row per gap: each functional's value, the reference, each functional's error against it.
    rows = gap_table(results, unit, shown_preset, computed)
    all_gaps = {f: gaps(states) for f, states in results.items()}  # for the note and the export
    if rows:
        st.markdown("**Gaps** (positive: the higher multiplicity lies above)")
        st.info(comparison_note(computed, reference), icon=":material/compare_arrows:")
        errors = list(error_columns(results, unit).values()) if shown_preset is not None else []
        table = pd.DataFrame(rows)
        numbers = [c for c in table.columns if c.endswith(f"({unit})")]
        # Rounded for display only: the values (and the exports) keep full precision.
        styled = table.style.format(precision=decimals, subset=numbers, na_rep="—")
        if errors:
            styled = styled.set_properties(
                subset=errors, **{"background-color": "rgba(255, 196, 0, 0.25)", "font-weight": "bold"}
            )
        st.dataframe(styled, hide_index=True, key="ss_gaps")
        exported.append(
            {
                "heading": "Gaps (positive: the higher multiplicity lies above)",
                "text": comparison_note(computed, reference),
                "table": rows,
                "formats": {c: f"%.{decimals}f" for c in numbers},
            }
        )
        # Each functional's error against the reference, gap by gap (never one functional minus another).
        cards = [
            (f, row, row[column])
            for row in rows
            for f, column in error_columns(results, unit).items()
            if row.get(column) is not None
        ]
        for start in range(0, len(cards), 3):
            row_cards = cards[start : start + 3]
            for cell, (f, row, error) in zip(st.columns(len(row_cards)), row_cards, strict=True):
                cell.metric(
                    f"{f} − reference",
                    f"{error:+.{decimals}f} {unit}",
                    help=f"{row['gap']}: {f}'s {kind} gap, {row[f'{f} ({unit})']:+.{decimals}f} {unit}, "
                    f"minus the reference, {row[f'reference ({unit})']:+.{decimals}f} {unit} "
                    f"({row['reference']}).",
                )
    else:
        st.info("Ask for at least two spins to see gaps.")

    state_rows = []
    for f, states in levels.items():
        for s in states:
            state_rows.append(
                {
                    "functional": f,
                    "state": s["label"],
                    "2S": s["spin"],
                    "kind": s["kind"],
                    "E (Ha)": s["energy"],
                    f"above lowest ({unit})": s["relative"],
                    "<S²>": s["s2"],
                    "S(S+1)": s["s2_expected"],
                    "contaminated": s["contaminated"],
                    "converged": s["converged"],
                    "from store": s["cached"],
                }
            )
    st.markdown("**States**")
    formats = {"E (Ha)": "%.6f", f"above lowest ({unit})": f"%.{decimals}f", "<S²>": "%.3f", "S(S+1)": "%.2f"}
    st.dataframe(
        state_rows,
        hide_index=True,
        key="ss_states",
        column_config={name: st.column_config.NumberColumn(format=f) for name, f in formats.items()},
    )
    exported.append({"heading": "States", "table": state_rows, "formats": formats})
    notes = [B3LYP_NOTE] if "B3LYP" in results else []
    if shown_preset is not None:
        notes.append(shown_preset.note)
    if any(g.get("gap_projected") is not None for fg in all_gaps.values() for g in fg):
        notes.append(
            "Spin-projected: the broken-symmetry singlet with its triplet admixture removed (Yamaguchi): "
            "E(S) − E(T) = (E_BS − E_T) <S²>_T / (<S²>_T − <S²>_BS)."
        )
    notes.append("Energies on the DM21 reference grid (level 3); every state is kept in the results store.")
    st.caption(" ".join(n for n in notes if n))
    flat = [{"functional": f, **s} for f, states in results.items() for s in states]
    flat_gaps = [{"functional": f, **g} for f, fg in all_gaps.items() for g in fg]
    a, b = st.columns(2)
    a.download_button("States (CSV)", table_csv(flat), "spin_states.csv", "text/csv", key="ss_csv")
    b.download_button(
        "States and gaps (JSON)",
        table_json(flat, system=last["label"], gaps=flat_gaps, grid=GridSpec().as_dict(), energies="Hartree"),
        "spin_states.json",
        "application/json",
        key="ss_json",
    )
    page_html_button(f"Spin states: {last['label']}", exported, "spin_states.html", "ss_html", notes=notes)
