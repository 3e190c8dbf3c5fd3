"""Geometry and vibrations: one molecule optimised with DM21 and a classical functional side by side,
the trajectories animated, bonds and angles against each other and against experiment, then harmonic
frequencies, the IR stick spectrum and each normal mode animated."""

import streamlit as st

from explorer import ExplorerError, GridSpec
from explorer.analyses.geometry import (
    EXPERIMENTAL_HARMONIC_CM1,
    MAX_GRADIENT,
    compare_to_experiment,
    frequencies_result,
    geometry_table,
    optimization_result,
    submit_frequencies,
    submit_optimization,
)
from explorer.chem.molecules import LIBRARY, library_entry
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES, DM21_NAMES
from explorer.present.exports import table_json
from explorer.present.geometry import (
    MODE_AMPLITUDE,
    comparison_rows,
    dumps_frames,
    ir_stick_figure,
    mad_rows,
    mode_caption,
    mode_view_html,
    optimization_progress_figure,
    trajectory_view_html,
)
from pages.ui.jobs import run_batch
from pages.ui.links import follow_link, publish
from pages.ui.molecule_input import keep_choice, kept, molecule_input_with_view, size_guard
from pages.ui.page_export import page_html_button
from pages.ui.resources import results_store
from pages.ui.viewer import static_url, theme_is_dark

#: Rough number of energy+gradient evaluations of an optimisation, for the expected time.
OPTIMIZATION_RUNS = 10
#: Most optimisation steps (energy+gradient evaluations) per functional.
MAX_STEPS = 50
#: Height (px) of the 3D views.
VIEW_HEIGHT = 360

st.title("Geometry and vibrations")
st.markdown(
    "Every other view computes at a geometry some other method made. Here each functional finds its "
    "own: the forces on the nuclei (analytic gradients) drive a geometry optimisation (geomeTRIC) "
    "until the largest force is below "
    f"{MAX_GRADIENT:g} Hartree/bohr. Watch each trajectory, compare the bond lengths and angles with "
    "each other and with experiment, then compute the **harmonic frequencies** at each functional's "
    "own minimum: the IR spectrum and every normal mode in motion. A functional's geometry and "
    "vibrations test its potential, not only its energy."
)

OPTIONS = {"geo_functionals": ["DM21", "B3LYP"]}
LINKED = tuple(OPTIONS)  # the choices a shared link carries (pages.ui.links)
keep_choice(LINKED, OPTIONS)
from_link = follow_link(LINKED)

molecule = molecule_input_with_view(height=300)
functionals = st.multiselect(
    "Functionals (side by side)",
    DM21_NAMES + CLASSICAL_NAMES,
    max_selections=4,
    **kept("geo_functionals"),
)
ready = molecule is not None and bool(functionals)
if ready and len(molecule.atoms) < 2:
    st.info("A geometry needs at least two atoms: choose a molecule.")
    ready = False
allowed = ready and size_guard(molecule, functionals, runs=OPTIMIZATION_RUNS)


def _label(m) -> str:
    return f"{m.name or m.formula()} / {m.basis}"


def _submit() -> dict:
    results_store()  # a broken or locked database is reported before anything runs
    # One task per functional on the shared cluster: the optimisations run side by side.
    jobs = [
        submit_optimization(molecule, f, grid=GridSpec(), max_steps=MAX_STEPS, label=f) for f in functionals
    ]
    return {"jobs": jobs, "functionals": list(functionals), "molecule": molecule, "history": {}}


def _draw(event: dict, chart) -> None:
    """The live chart: energy and largest gradient per optimisation step, one line per functional."""
    if event.get("stage") != "step":
        return  # SCF iterations are shown in the status line
    history = st.session_state["geo_jobs"]["history"]  # the batch followed, kept across reruns
    history.setdefault(event["task"], []).append(event)
    count = sum(len(steps) for steps in history.values())
    figure = optimization_progress_figure(history, threshold=MAX_GRADIENT, height=300)
    chart.plotly_chart(figure, key=f"geo_live{count}")


def _collect(batch: dict) -> dict:
    optimizations, failures = {}, {}
    for f, job in zip(batch["functionals"], batch["jobs"], strict=True):
        try:
            optimizations[f], _ = optimization_result(job)
        except ExplorerError as err:
            failures[f] = str(err)
    return {
        "molecule": batch["molecule"],
        "functionals": batch["functionals"],
        "optimizations": optimizations,
        "failures": failures,
    }


last = run_batch(
    "geo",
    _submit if ready else None,
    _collect,
    label="Optimise",
    disabled=not allowed,
    start=from_link and allowed,
    expanded=True,
    live=_draw,
    live_messages=True,
)
publish(
    LINKED,
    shown=last is not None and (last["molecule"], last["functionals"]) == (molecule, list(functionals)),
)


def _experiment_entry(start, optimized: dict):
    """(library name, entry) of the experimental structure the optimised geometries can be compared
    with: the chosen library molecule, or one with the same atoms in the same order, the same charge
    and 2S and the same bonds between the same atom numbers (a typed or drawn molecule); None when
    there is none."""
    candidates = [start.name] if start.name in LIBRARY else []
    candidates += [n for n, e in LIBRARY.items() if n != start.name and len(e.atoms) == len(start.atoms)]
    symbols = [s for s, _ in start.atoms]
    first = next(iter(optimized.values()))
    bonds = {tuple(b["atoms"]) for b in geometry_table(first)["bonds"]}
    for name in candidates:
        entry = library_entry(name)
        if "experimental" not in entry.source or [s for s, _ in entry.atoms] != symbols:
            continue
        if entry.charge != start.charge or entry.spin != start.spin:
            continue
        if {tuple(b["atoms"]) for b in geometry_table(entry.atoms)["bonds"]} == bonds:
            return name, entry
    return None


def _parameters(optimized: dict, entry) -> tuple[list[dict], str]:
    """(bond and angle parameters for comparison_rows, the experiment's source)."""
    if entry is not None:
        compared = compare_to_experiment(optimized, entry)
        parameters = [
            {
                "parameter": r["parameter"] + (f" (×{r['count']})" if r["count"] > 1 else ""),
                "kind": r["type"],
                "values": r["values"],
                "experiment": r["experiment"],
            }
            for r in compared["rows"]
        ]
        return parameters, compared["source"]
    # No experiment: every bond and angle of the optimised structures, by atom labels.
    tables = {f: geometry_table(o) for f, o in optimized.items()}
    parameters = {}
    for f, table in tables.items():
        for kind, items in (("bond", table["bonds"]), ("angle", table["angles"])):
            for item in items:
                p = parameters.setdefault(
                    item["label"],
                    {"parameter": item["label"], "kind": kind, "values": {}, "experiment": None},
                )
                p["values"][f] = item["value"]
    return list(parameters.values()), ""


def _table(rows: list[dict], decimals: int, key: str) -> dict:
    """Draws rows with their numbers rounded (display only) and returns them as an export section."""
    numeric = {c for row in rows for c, v in row.items() if isinstance(v, float)}
    formats = {c: f"%.{decimals}f" for c in numeric}
    config = {c: st.column_config.NumberColumn(format=f) for c, f in formats.items()}
    st.dataframe(rows, hide_index=True, column_config=config, key=key)
    return {"table": rows, "formats": formats}


def _trajectory_captions(optimization) -> list[str]:
    n = len(optimization.trajectory)
    # Short enough for a view half the page wide; the functional is named above the view.
    return [
        f"step {s.step}/{n}: E = {s.energy:.6f} Ha, max |g| {s.max_gradient:.0e} Ha/bohr"
        for s in optimization.trajectory
    ]


def _rigid_motion_residual(v) -> float:
    """The largest |wavenumber| (cm⁻¹) of the 5 or 6 translations and rotations: the smallest of the
    full Hessian's 3N, which vanish for an exact, rotationally invariant energy at a stationary point."""
    rigid = 3 * len(v.atoms) - len(v.frequencies_cm1)
    return max(sorted(abs(x) for x in v.all_frequencies_cm1)[:rigid])


exported, notes = [], []
converged: dict = {}
if last is not None:
    start = last["molecule"]
    st.subheader(f"Optimised geometries: {_label(start)}")
    for f, failure in last["failures"].items():
        st.error(f"{f}: {failure}")
    for f, optimization in last["optimizations"].items():
        if optimization.converged:
            converged[f] = optimization
        else:
            text = (
                f"{f}: the optimisation did NOT converge within {optimization.steps} steps; its last "
                "geometry and energy are not results and are not shown."
            )
            st.error(text)
            exported.append({"text": text})
    if converged:
        # The trajectories side by side, each in its own 3D view.
        for column, (f, optimization) in zip(st.columns(len(converged)), converged.items(), strict=True):
            with column:
                st.markdown(f"**{f}**: {optimization.steps} steps")
                html = trajectory_view_html(
                    [s.atoms for s in optimization.trajectory],
                    captions=_trajectory_captions(optimization),
                    js_url=static_url("3Dmol-min.js"),
                    dark=theme_is_dark(),
                    height=VIEW_HEIGHT,
                )
                st.iframe(html, height=VIEW_HEIGHT)  # our own HTML: validated atoms and numbers
        summary = [
            {
                "functional": f,
                "steps": o.steps,
                "E (Ha)": o.energy,
                "max |gradient| (Ha/bohr)": o.max_gradient,
                "time (s)": o.seconds,
            }
            for f, o in converged.items()
        ]
        formats = {"E (Ha)": "%.8f", "max |gradient| (Ha/bohr)": "%.1e", "time (s)": "%.1f"}
        st.dataframe(
            summary,
            hide_index=True,
            key="geo_summary",
            column_config={c: st.column_config.NumberColumn(format=v) for c, v in formats.items()},
        )
        exported.append({"heading": "Optimisations", "table": summary, "formats": formats})
        figure = optimization_progress_figure(
            {f: [s.to_dict() for s in o.trajectory] for f, o in converged.items()}, threshold=MAX_GRADIENT
        )
        st.plotly_chart(figure, key="geo_progress")
        exported.append({"figure": figure})

        # Bonds and angles: the functionals against each other and, where known, experiment.
        found = _experiment_entry(start, converged)
        parameters, source = _parameters(converged, found[1] if found else None)
        rows, mad = comparison_rows(parameters, list(converged))
        st.markdown("**Bond lengths and angles**")
        bonds = [r for r in rows if r["unit"] == "Å"]
        angles = [r for r in rows if r["unit"] == "°"]
        if bonds:
            st.caption("Bond lengths (Å)")
            exported.append({"heading": "Bond lengths (Å)", **_table(bonds, 4, "geo_bonds")})
        if angles:
            st.caption("Angles (degrees)")
            exported.append({"heading": "Angles (degrees)", **_table(angles, 2, "geo_angles")})
        if found:
            text = f"Experiment: the library's structure of {found[0]}. Source: {source}."
            st.markdown(text)
            exported.append({"text": text})
            summary_rows = mad_rows(mad)
            if summary_rows:
                st.caption("Mean absolute deviation from experiment")
                exported.append(
                    {
                        "heading": "Mean absolute deviation from experiment",
                        **_table(summary_rows, 3, "geo_mad"),
                    }
                )
        else:
            text = (
                "The library has no experimental structure for this molecule (experimental structures: "
                "library molecules such as water, ammonia, methane, CO, N2, ethylene)."
            )
            st.caption(text)
            exported.append({"text": text})
    if "B3LYP" in last["functionals"]:
        notes.append(B3LYP_NOTE)
    notes.append(
        "Every functional on the DM21 reference grid (level 3), the grid moving with the atoms; "
        f"converged: geomeTRIC's criteria and the largest atomic gradient below {MAX_GRADIENT:g} Ha/bohr."
    )
    st.caption(" ".join(notes))


# --- frequencies -------------------------------------------------------------------------------------

vibrations_last = None
if converged:
    st.subheader("Frequencies")
    st.markdown(
        "Harmonic frequencies at each functional's own optimised geometry: the Hessian from central "
        "differences of analytic gradients (each atom moved ±0.005 bohr along x, y and z, every "
        "displaced point a calculation of its own), IR intensities from the dipoles of the same points, "
        "the zero-point energy from the real modes. An imaginary frequency means the geometry is not a "
        "minimum."
    )
    shown_for = (last["molecule"], tuple(converged))
    first = next(iter(converged.values()))
    points = 6 * len(first.atoms)
    freq_allowed = size_guard(first.molecule(), list(converged), runs=points, key="geo_freq_override")

    def _submit_frequencies() -> dict:
        results_store()
        runs = {
            f: submit_frequencies(o.molecule(), f, grid=GridSpec(), label=f) for f, o in converged.items()
        }
        jobs = [job for run in runs.values() for job in run.jobs]  # the stencil's points, one task each
        return {"jobs": jobs, "runs": runs, "for": shown_for}

    def _collect_frequencies(batch: dict) -> dict:
        vibrations, failures = {}, {}
        for f, run in batch["runs"].items():
            try:
                vibrations[f], _ = frequencies_result(run)
            except ExplorerError as err:
                failures[f] = str(err)
        return {"vibrations": vibrations, "failures": failures, "for": batch["for"]}

    vibrations_last = run_batch(
        "geofreq",
        _submit_frequencies,
        _collect_frequencies,
        label="Compute frequencies",
        disabled=not freq_allowed,
    )
    if vibrations_last is not None and vibrations_last["for"] != shown_for:
        vibrations_last = None  # computed for an earlier optimisation

if vibrations_last is not None:
    for f, failure in vibrations_last["failures"].items():
        st.error(f"{f}: {failure}")
    vibrations = vibrations_last["vibrations"]
    if vibrations:
        cards = st.columns(len(vibrations))
        for card, (f, v) in zip(cards, vibrations.items(), strict=True):
            card.metric(f"{f}: zero-point energy", f"{v.zpe_kcal:.2f} kcal/mol", help=f"{v.zpe:.6f} Hartree")
            if v.imaginary:
                listed = ", ".join(f"{abs(x):.0f}i" for x in v.imaginary)
                modes = "mode" if len(v.imaginary) == 1 else "modes"
                card.warning(
                    f"{len(v.imaginary)} imaginary {modes} ({listed} cm⁻¹): this geometry is not a minimum.",
                    icon=":material/warning:",
                )
        # Experiment's harmonic wavenumbers where the library molecule has them (same atoms and bonds).
        known = _experiment_entry(last["molecule"], converged)
        harmonic = EXPERIMENTAL_HARMONIC_CM1.get(known[0]) if known else None
        if harmonic and any(len(v.frequencies_cm1) != len(harmonic[0]) for v in vibrations.values()):
            harmonic = None
        # One row per mode: each functional's wavenumber and IR intensity (and its error).
        n_modes = max(len(v.frequencies_cm1) for v in vibrations.values())
        mode_rows = []
        for k in range(n_modes):
            row = {"mode": k + 1}
            if harmonic:
                row["experiment (cm⁻¹)"] = harmonic[0][k]
            for f, v in vibrations.items():
                inside = k < len(v.frequencies_cm1)
                row[f"{f} (cm⁻¹)"] = v.frequencies_cm1[k] if inside else None
                if harmonic:
                    row[f"{f} − exp. (cm⁻¹)"] = v.frequencies_cm1[k] - harmonic[0][k]
                row[f"{f} IR (km/mol)"] = v.ir_intensities[k] if inside else None
                row[f"{f} imaginary"] = inside and v.frequencies_cm1[k] < 0
            mode_rows.append(row)
        formats = {c: "%.1f" for c in mode_rows[0] if c.endswith(("(cm⁻¹)", "(km/mol)"))}
        st.dataframe(
            mode_rows,
            hide_index=True,
            key="geo_modes",
            column_config={c: st.column_config.NumberColumn(format=v) for c, v in formats.items()},
        )
        exported.append({"heading": "Harmonic frequencies", "table": mode_rows, "formats": formats})
        spectra = {
            f: {"frequencies_cm1": v.frequencies_cm1, "ir_intensities": v.ir_intensities}
            for f, v in vibrations.items()
        }
        if harmonic:
            mad = {
                f: sum(abs(v.frequencies_cm1[k] - e) for k, e in enumerate(harmonic[0])) / len(harmonic[0])
                for f, v in vibrations.items()
            }
            st.caption(
                "Experiment: "
                + harmonic[1]
                + ". Mean absolute deviation: "
                + ", ".join(f"{f} {m:.1f} cm⁻¹" for f, m in mad.items())
                + "."
            )
        reference = {"label": "experiment (harmonic)", "frequencies_cm1": harmonic[0]} if harmonic else None
        figure = ir_stick_figure(spectra, reference=reference)
        st.plotly_chart(figure, key="geo_ir")
        exported.append({"heading": "IR stick spectrum", "figure": figure})
        residual = {f: _rigid_motion_residual(v) for f, v in vibrations.items()}
        st.caption(
            "Harmonic wavenumbers (no anharmonic correction: measured fundamentals lie a few percent lower). "
            "Translations and rotations, not projected out, come out near zero: largest "
            + ", ".join(f"{f} {r:.0f} cm⁻¹" for f, r in residual.items())
            + ". "
            + (B3LYP_NOTE if "B3LYP" in vibrations else "")
        )

        # Each mode in motion.
        st.markdown("**Normal modes**")
        left, right = st.columns([2, 3])
        chosen = left.selectbox("Functional", list(vibrations), key="geo_mode_functional")
        v = vibrations[chosen]
        index = left.selectbox(
            "Mode",
            range(len(v.frequencies_cm1)),
            format_func=lambda k: f"{k + 1}: {mode_caption(v.frequencies_cm1[k], v.ir_intensities[k])}",
            key="geo_mode",
        )
        left.caption(
            f"Arrows: each atom's direction of motion (the largest motion drawn as {MODE_AMPLITUDE} Å; a "
            "normal mode gives directions and relative sizes, not an amplitude)."
        )
        with right:
            html = mode_view_html(
                v.atoms,
                v.modes[index],
                caption=f"{chosen}, mode {index + 1}: "
                + mode_caption(v.frequencies_cm1[index], v.ir_intensities[index]),
                js_url=static_url("3Dmol-min.js"),
                dark=theme_is_dark(),
                height=VIEW_HEIGHT,
            )
            st.iframe(html, height=VIEW_HEIGHT)  # our own HTML: validated atoms and numbers

if converged:
    start = last["molecule"]
    stem = (start.name or start.formula()).replace(" ", "_")
    shown_vibrations = vibrations_last["vibrations"] if vibrations_last is not None else {}
    a, b, c = st.columns(3)
    a.download_button(
        "Trajectories (XYZ)",
        "".join(dumps_frames([s.atoms for s in o.trajectory], title=f) for f, o in converged.items()),
        f"{stem}_trajectories.xyz",
        "chemical/x-xyz",
        key="geo_xyz",
    )
    records = [
        {
            "functional": f,
            "optimization": o.to_dict(),
            "vibrations": shown_vibrations[f].to_dict() if f in shown_vibrations else None,
        }
        for f, o in converged.items()
    ]
    units = "energies Hartree, gradients Hartree/bohr, atoms Angstrom, frequencies cm-1, IR km/mol"
    b.download_button(
        "Results (JSON)",
        table_json(records, system=_label(start), grid=GridSpec().as_dict(), units=units, notes=notes),
        f"{stem}_geometry.json",
        "application/json",
        key="geo_json",
    )
    with c:
        title = f"Geometry and vibrations: {_label(start)}"
        page_html_button(title, exported, f"{stem}_geometry.html", "geo_html", notes=notes)
