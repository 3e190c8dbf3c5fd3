"""Fractional electrons: E(N) between integers, fractional spin, and bond dissociation."""

import streamlit as st

from explorer import ExplorerError, GridSpec, settings
from explorer.analyses.fractional import (
    DISSOCIATION_PRESETS,
    charge_table,
    fractional_charge,
    fractional_spin,
    linearity,
    scan,
    scan_geometries,
    scan_table,
    spin_fraction_table,
)
from explorer.chem import units
from explorer.chem.molecules import from_library
from explorer.chem.numbers import parse_numbers
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES, DM21_NAMES
from explorer.present.exports import table_csv, table_json
from explorer.present.plots import curves_figure, frontier_orbitals_figure, functional_color
from explorer.runs import tasks
from pages.ui.jobs import run_batch
from pages.ui.links import follow_link, publish
from pages.ui.molecule_input import (
    BASES,
    keep_choice,
    kept,
    molecule_input_with_view,
    set_widget,
    size_guard,
)
from pages.ui.page_export import page_html_button
from pages.ui.resources import results_store
from pages.ui.viewer import show_molecule

st.title("Fractional electrons")
st.markdown(
    "The exact energy of a system with a fractional number of electrons N lies on **straight lines** "
    "between the integers, and a hydrogen atom with half an alpha and half a beta electron has the "
    "**same energy** as the normal one. Look at how far each functional strays from these lines: "
    "B3LYP sags below them (delocalization error) and rises on fractional spins (static correlation "
    "error); DM21 was trained to stay on them. Stretched H2+ and H2 show the same errors as bond curves."
)

VIEWS = ("Fractional charge", "Fractional spin", "Dissociation")
#: The paper's system for the fractional-charge and -spin demos (library name, basis).
DEMO_SYSTEM = ("H", "aug-cc-pvtz")
OPTIONS = {
    "fe_view": "Fractional charge",
    "fe_functionals": ["DM21", "B3LYP"],
    "fe_points": 9,
    "fe_unit": "kcal/mol",
    "fe_preset": "H2+",
    "fe_template": "H 0 0 0; H 0 0 {r}",
    "fe_values": "0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0",
    "fe_scan_basis": "aug-cc-pvdz",
}
keep_choice((*OPTIONS, "fe_shown"), OPTIONS)  # fe_shown: the kept results shown, see the end
# A shared link carries the options and whether the paper's demo system is the molecule (fe_demo).
LINKED = (*OPTIONS, "fe_demo")
st.session_state["fe_demo"] = st.session_state.get("fe_demo_system") is not None
from_link = follow_link(LINKED)
if from_link and not st.session_state["fe_demo"]:
    st.session_state.pop("fe_demo_system", None)
elif from_link:
    st.session_state["fe_demo_system"] = DEMO_SYSTEM

# One click redraws a classic figure of the paper (DM21 against B3LYP).
DEMOS = {
    "H atom E(N), 0 to 2 electrons": {"fe_view": "Fractional charge", "fe_points": 9},
    "H atom fractional spin": {"fe_view": "Fractional spin", "fe_points": 5},
    "H2+ dissociation": {"fe_view": "Dissociation", "fe_preset": "H2+"},
    "H2 dissociation": {"fe_view": "Dissociation", "fe_preset": "H2 (restricted)"},
}


def _start_demo(name: str) -> None:
    for key, value in {**DEMOS[name], "fe_functionals": ["DM21", "B3LYP"]}.items():
        set_widget(key, value)
    if DEMOS[name]["fe_view"] != "Dissociation":
        # The page's own system: the molecule chosen on the other pages stays as it is.
        st.session_state["fe_demo_system"] = DEMO_SYSTEM
    else:
        preset = DISSOCIATION_PRESETS[DEMOS[name]["fe_preset"]]
        set_widget("fe_template", preset["template"])
        set_widget("fe_values", ", ".join(f"{v:g}" for v in preset["values"]))
    st.session_state["fe_autorun"] = True


st.caption("Paper demos (DM21 against B3LYP; the first run computes, later ones come from the store):")
for column, name in zip(st.columns(len(DEMOS)), DEMOS, strict=True):
    column.button(name, on_click=_start_demo, args=(name,), key=f"fe_demo_{name}", use_container_width=True)

view = st.segmented_control("View", VIEWS, **kept("fe_view")) or VIEWS[0]
molecule = None
demo_system = st.session_state.get("fe_demo_system")
if view != "Dissociation" and demo_system is not None:
    molecule = from_library(*demo_system)
    left, right = st.columns([3, 2])
    n = molecule.n_electrons
    left.info(
        f"Paper demo system: {molecule.formula()} ({n} electron{'' if n == 1 else 's'}, charge "
        f"{molecule.charge}, 2S = {molecule.spin}) in {molecule.basis}. The molecule chosen on the other "
        "pages is unchanged.",
        icon=":material/science:",
    )
    left.button(
        "Use the shared molecule chooser instead",
        on_click=lambda: st.session_state.pop("fe_demo_system", None),
        key="fe_demo_leave",
    )
    with right:
        show_molecule(molecule, height=260)
elif view != "Dissociation":
    molecule = molecule_input_with_view(height=260)
else:
    left, right = st.columns([1, 2])
    preset_names = list(DISSOCIATION_PRESETS) + ["Custom"]
    preset_name = left.selectbox("Preset", preset_names, **kept("fe_preset"))
    if preset_name != "Custom":
        preset = DISSOCIATION_PRESETS[preset_name]
        template, charge, spin, kind = (
            preset["template"],
            preset["charge"],
            preset["spin"],
            preset.get("kind"),
        )
        right.text_input("Geometry ({r} in Angstrom)", value=template, disabled=True, key="fe_template_shown")
    else:
        template = right.text_input("Geometry ({r} in Angstrom)", **kept("fe_template"))
        c1, c2, c3 = st.columns(3)
        charge = c1.number_input("Charge", -4, 4, value=0, step=1, key="fe_charge")
        spin = c2.number_input("Spin 2S", 0, 8, value=0, step=1, key="fe_spin")
        kind = c3.selectbox("SCF", ["UKS", "RKS"], key="fe_kind")
    a, b = st.columns([2, 1])
    values_text = a.text_input("Bond lengths r (Angstrom, comma-separated)", **kept("fe_values"))
    scan_basis = b.selectbox("Basis set", BASES, **kept("fe_scan_basis"))

left, middle, right = st.columns(3)
functionals = left.multiselect("Functionals", DM21_NAMES + CLASSICAL_NAMES, **kept("fe_functionals"))
if view != "Dissociation":
    points = middle.slider("Points", 3, 17, step=2, **kept("fe_points"))
unit = right.selectbox("Unit of deviations and errors", units.UNITS, **kept("fe_unit"))

# The whole curve's cost against the limits, before the Run button: a scan's geometry and bond
# lengths are read here, so a bad list or template is reported at once.
try:
    if view == "Dissociation":
        values = parse_numbers(
            values_text, "bond lengths (Angstrom)", positive=True, most=settings.max_points()
        )
        first = scan_geometries(template, values[:1], charge=int(charge), spin=int(spin), basis=scan_basis)[0]
        allowed = size_guard(first, functionals, runs=len(values))
    else:
        allowed = molecule is not None and size_guard(molecule, functionals, runs=points)
except ExplorerError as err:
    st.error(str(err))
    allowed = False


def _label() -> str:
    """The system of the chosen curve: "H / aug-cc-pvtz", "H2+ / aug-cc-pvdz"."""
    if view == "Dissociation":
        return f"{preset_name if preset_name != 'Custom' else template} / {scan_basis}"
    return f"{molecule.name or molecule.formula()} / {molecule.basis}"


def _submit() -> dict | None:
    if view != "Dissociation" and molecule is None:
        return None  # no molecule chosen yet
    results_store()  # a broken or locked database is reported before anything runs
    if view == "Dissociation":
        curve = scan
        calls = [
            {"template": template, "values": values, "functional": f, "charge": int(charge),
             "spin": int(spin), "basis": scan_basis, "kind": kind, "grid": GridSpec()}
            for f in functionals
        ]  # fmt: skip
    else:
        curve = fractional_charge if view == "Fractional charge" else fractional_spin
        calls = [
            {"molecule": molecule, "functional": f, "points": points, "grid": GridSpec()} for f in functionals
        ]
    # One task per functional's curve, not per point: every point starts from the converged density of
    # its nearest computed neighbour (explorer.analyses.fractional), which keeps a curve on one electronic
    # state and goes into the point's store key; points computed apart would follow other paths, and
    # could land on other states, than the curve computed in order.
    jobs = tasks.fan_out(curve, calls, labels=list(functionals))
    limit = DISSOCIATION_PRESETS.get(preset_name) if view == "Dissociation" else None
    return {"jobs": jobs, "functionals": list(functionals), "view": view, "label": _label(), "limit": limit}


def _collect(batch: dict) -> dict:
    curves = {f: tasks.result(job) for f, job in zip(batch["functionals"], batch["jobs"], strict=True)}
    return {"view": batch["view"], "curves": curves, "label": batch["label"], "limit": batch["limit"]}


last = run_batch(
    "fe",
    _submit,
    _collect,
    disabled=not (functionals and allowed),
    start=(st.session_state.pop("fe_autorun", False) or from_link) and allowed,
)
if allowed:  # the choices were read (a bad list of bond lengths, or no molecule, publishes nothing)
    n_points = len(values) if view == "Dissociation" else points
    chosen = (view, _label(), list(functionals), n_points)
    shown = (
        last is not None
        and (
            last["view"],
            last["label"],
            list(last["curves"]),
            len(next(iter(last["curves"].values()), [])),
        )
        == chosen
    )
    publish(LINKED, shown=shown)


def _series(curves: dict, x_key: str, relative_to_first: bool = False, unit: str = "Ha") -> list[dict]:
    """One plot series per functional: ``x_key`` against the energy (in ``unit``; relative to the
    curve's first point if asked), None where a point has no energy (its SCF failed)."""
    series = []
    for f, pts in curves.items():
        origin = pts[0]["energy"] if relative_to_first else 0.0
        energies = [
            None if p["energy"] is None or origin is None else units.from_hartree(p["energy"] - origin, unit)
            for p in pts
        ]
        series.append(
            {
                "name": f,
                "x": [p[x_key] for p in pts],
                "y": energies,
                "converged": [p["converged"] for p in pts],
            }
        )
    return series


#: How many finished results the page keeps (newest first) to show together.
KEPT_RESULTS = 4


def _title(result: dict) -> str:
    """A result's name in the list of kept results: view, system, functionals and number of points."""
    points = len(next(iter(result["curves"].values()), []))
    return f"{result['view']}: {result['label']}, {', '.join(result['curves'])}, {points} points"


def _show(result: dict, n: int) -> None:
    """Draws one kept result (its plots, table, notes and downloads; widget keys end in ``n``)."""
    curves, label = result["curves"], result["label"]
    st.subheader(_title(result))
    notes = [B3LYP_NOTE] if "B3LYP" in curves else []
    exported = []  # the same figures and table, for the HTML export at the end
    if result["view"] == "Fractional charge":
        series = _series(curves, "n_electrons")
        lines = []
        for f, pts in curves.items():
            integers = [p for p in pts if abs(p["delta"] - round(p["delta"])) < 1e-9 and p["converged"]]
            lines.append(
                {
                    "name": f"{f}: straight lines between integers",
                    "x": [p["n_electrons"] for p in integers],
                    "y": [p["energy"] for p in integers],
                    "color": functional_color(f),  # the colour of its functional's curve
                }
            )
        figure = curves_figure(series, "number of electrons N", "energy (Ha)", lines)
        st.plotly_chart(figure, key=f"fe_en_{n}")
        exported.append({"figure": figure})
        deviation_series = [
            {
                "name": f,
                "x": [p["n_electrons"] for p in pts],
                "y": [units.from_hartree(d, unit) for d in linearity(pts)["deviations"]],
                "converged": [p["converged"] for p in pts],
            }
            for f, pts in curves.items()
        ]
        figure = curves_figure(
            deviation_series,
            "number of electrons N",
            f"E - straight line ({unit})",
            [{"name": "exact (0)", "x": series[0]["x"], "y": [0.0] * len(series[0]["x"])}],
        )
        st.plotly_chart(figure, key=f"fe_dev_{n}")
        exported.append({"figure": figure})
        # Only converged points: an unconverged SCF's orbital energies are not results.
        orbital_series = [
            {
                "functional": f,
                "orbital": which.upper(),
                "x": [p["n_electrons"] for p in pts if p[which] is not None and p["converged"]],
                "y": [
                    units.from_hartree(p[which], "eV") for p in pts if p[which] is not None and p["converged"]
                ],
            }
            for f, pts in curves.items()
            for which in ("homo", "lumo")
        ]
        figure = frontier_orbitals_figure(orbital_series, "number of electrons N", "orbital energy (eV)")
        st.plotly_chart(figure, key=f"fe_orb_{n}")
        table = charge_table(curves, unit)
        st.dataframe(table, hide_index=True, key=f"fe_table_{n}")
        exported += [{"figure": figure}, {"table": table}]
        notes.append(
            "Curvature: second derivative of E(N) on each segment from a quadratic fit; positive "
            "(convex) is delocalization error, negative (concave) localization error. Exact: 0. IP and "
            "EA from integer energy differences beside -HOMO and -LUMO at the integer N (equal for the "
            "exact functional). Orbital energies: HOMO solid, LUMO dashed."
        )
    elif result["view"] == "Fractional spin":
        series = _series(curves, "fraction", relative_to_first=True, unit=unit)
        flat = {"name": "exact: flat", "x": [0.0, 1.0], "y": [0.0, 0.0]}
        figure = curves_figure(
            series, "fraction f of the electron moved from alpha to beta", f"E(f) - E(0) ({unit})", [flat]
        )
        st.plotly_chart(figure, key=f"fe_spin_plot_{n}")
        table = spin_fraction_table(curves, unit)
        st.dataframe(table, hide_index=True, key=f"fe_table_{n}")
        exported += [{"figure": figure}, {"table": table}]
    else:
        limit = result["limit"] or {}
        exact = limit.get("exact_limit")
        series = _series(curves, "value")
        xs = series[0]["x"]
        references = (
            []
            if exact is None
            else [{"name": "exact large-R limit", "x": [min(xs), max(xs)], "y": [exact, exact]}]
        )
        figure = curves_figure(series, "r (Angstrom)", "energy (Ha)", references)
        st.plotly_chart(figure, key=f"fe_bond_{n}")
        table = scan_table(curves, unit, exact)
        st.dataframe(table, hide_index=True, key=f"fe_table_{n}")
        exported += [{"figure": figure}, {"table": table}]
        if exact is not None:
            notes.append(f"Exact limit: {exact:.6f} Ha ({limit.get('limit_source', '')}).")
        if any(not p["converged"] for pts in curves.values() for p in pts):
            notes.append("Crosses mark points whose SCF did not converge: they are not results.")
    notes.append("Energies on the DM21 reference grid (level 3); every point is kept in the results store.")
    st.caption(" ".join(notes))
    flat_points = [{"functional": f, **p} for f, pts in curves.items() for p in pts]
    a, b = st.columns(2)
    a.download_button(
        "Points (CSV)", table_csv(flat_points), "fractional_points.csv", "text/csv", key=f"fe_csv_{n}"
    )
    b.download_button(
        "Points (JSON)",
        table_json(flat_points, view=result["view"], system=label, grid=GridSpec().as_dict()),
        "fractional_points.json",
        "application/json",
        key=f"fe_json_{n}",
    )
    page_html_button(
        f"Fractional electrons: {_title(result)}", exported, "fractional.html", f"fe_html_{n}", notes=notes
    )


# The last few results, newest first: a new one joins those shown (one with the same title replaces it).
kept_results = st.session_state.setdefault("fe_results", [])
if last is not None and (not kept_results or kept_results[0] is not last):
    title = _title(last)
    kept_results[:] = [last, *[r for r in kept_results if _title(r) != title]][:KEPT_RESULTS]
    set_widget("fe_shown", [title, *st.session_state.get("fe_shown", [])])
titles = [_title(r) for r in kept_results]
if titles:
    # Only titles still kept (the oldest results drop out), without repeats.
    set_widget("fe_shown", [t for t in dict.fromkeys(st.session_state.get("fe_shown", [])) if t in titles])
    shown = st.multiselect(
        "Results shown (the last few runs are kept; newest first)",
        titles,
        **kept("fe_shown"),
        help="Pick several to see them one below the other, e.g. DM21 and B3LYP in two bases.",
    )
    for n, result in enumerate(r for r in kept_results if _title(r) in shown):
        _show(result, n)
