"""Densities and XC maps: where DM21 and a classical functional differ in space."""

import itertools

import numpy as np
import streamlit as st

from explorer import ExplorerError
from explorer.analyses import maps
from explorer.functionals import B3LYP_NOTE, CLASSICAL_NAMES, DM21_NAMES
from explorer.present.plots import plane_maps_figure, profile_figure
from explorer.present.viewer3d import COLOR_NAMES, NEGATIVE_COLOR, POSITIVE_COLOR
from explorer.runs import tasks
from pages.ui.jobs import run_batch, task_value
from pages.ui.links import follow_link, publish
from pages.ui.molecule_input import keep_choice, kept, molecule_input_with_view, size_guard
from pages.ui.page_export import page_html_button
from pages.ui.resources import results_store
from pages.ui.viewer import show_volume

st.title("Densities and XC maps")
st.markdown(
    "Energies say *that* functionals differ; maps show *where*. DM21 computes an exchange-correlation "
    "energy at every grid point: here it is drawn on a plane beside a classical functional's on the "
    "**same density**, with the local Hartree-Fock exchange DM21 reads and its enhancement over LDA "
    "exchange. The density view shows each functional's self-consistent density and where DM21 "
    "moves electrons relative to the classical one."
)

VIEWS = ("Density", "XC map")
SURFACES = ("Total density", "Spin density", "Density difference")
#: Isovalues on offer (electrons/bohr³); a signed surface's default is chosen from its data
#: (maps.enclosing_isovalue) and added to its list.
ISOVALUES = {
    "Total density": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
    "Spin density": [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05],
    "Density difference": [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3],
}
PLANES = ("Molecular plane", "Through three atoms")
OPTIONS = {
    "dx_functional": "DM21",
    "dx_classical": "B3LYP",
    "dx_view": "Density",
    "dx_surface": "Total density",
    "dx_plane": "Molecular plane",
    "dx_log": True,
    "dx_xc_fit": True,
    "dx_iso_Total density": 0.05,
}
keep_choice(tuple(OPTIONS), OPTIONS)
from_link = follow_link(tuple(OPTIONS))  # a shared link's choices (pages.ui.links)

molecule = molecule_input_with_view(height=260)
left, right = st.columns(2)
functional = left.selectbox("DM21 functional", DM21_NAMES, **kept("dx_functional"))
classical = right.selectbox("Classical functional", CLASSICAL_NAMES, **kept("dx_classical"))

#: Session-state keys of the views' tasks (pages.ui.jobs.task_value), one request each at a time.
VIEW_TASKS = ("dx_task_cubes", "dx_task_plane", "dx_task_line", "dx_task_integrals", "dx_task_xc_cubes")

allowed = molecule is not None and size_guard(molecule, [functional, classical])


def _submit() -> dict:
    results_store()  # a broken or locked database is reported before anything runs
    # Both SCFs are tasks on the shared cluster: sessions asking for the same one share it.
    jobs = [tasks.submit_scf(molecule, f, label=f) for f in (functional, classical)]
    return {"jobs": jobs, "molecule": molecule, "functionals": (functional, classical)}


def _collect(batch: dict) -> dict:
    """The two converged densities; the views of the previous ones are dropped (new densities, new views)."""
    f, c = batch["functionals"]
    results = {name: tasks.result(job)[0] for name, job in zip((f, c), batch["jobs"], strict=True)}
    bad = [name for name, r in results.items() if not r.converged]
    if bad:
        raise ExplorerError(f"the SCF of {', '.join(bad)} did not converge: no maps of unconverged densities")
    st.session_state.pop("dx_xc_cubes", None)
    for key in VIEW_TASKS:  # views of the previous densities still computing are not wanted any more
        old = st.session_state.pop(key, None)
        if old is not None:
            tasks.cancel(old["jobs"])
    return {
        "molecule": batch["molecule"],
        "functional": f,
        "classical": c,
        "dm": {name: np.asarray(r.dm) for name, r in results.items()},
        "e_xc": {name: r.e_xc for name, r in results.items()},
    }


last = run_batch(
    "dx",
    _submit if molecule is not None else None,
    _collect,
    disabled=not allowed,
    start=from_link and allowed,
)
if molecule is not None:
    chosen = (molecule, functional, classical)
    publish(
        tuple(OPTIONS),
        shown=last is not None and (last["molecule"], last["functional"], last["classical"]) == chosen,
    )


def _atom_labels(molecule) -> list[str]:
    return [f"{symbol}{i + 1}" for i, (symbol, _) in enumerate(molecule.atoms)]


def _pairs(molecule) -> list[tuple[int, int]]:
    """Atom pairs, shortest distance first (bonds come first)."""
    xyz = np.array([p for _, p in molecule.atoms])
    pairs = list(itertools.combinations(range(len(xyz)), 2))
    return sorted(pairs, key=lambda p: np.linalg.norm(xyz[p[0]] - xyz[p[1]]))


@st.cache_data(max_entries=16, show_spinner=False)
def _density_line(molecule, dm_f, dm_c, i: int, j: int):
    # Densities at 201 points take milliseconds: computed here, not queued behind other sessions' SCFs.
    mol = molecule.to_pyscf()
    pts, x = maps.bond_line(mol, i, j)
    return x, sum(maps.density_on_points(mol, dm_f, pts)), sum(maps.density_on_points(mol, dm_c, pts))


def _line_choice(molecule, labels: list[str], key: str) -> tuple[tuple[int, int], str]:
    """The atom pair (0-based) of a line profile, picked in a selectbox, and its label "O1–H2"."""

    def name(p: tuple[int, int]) -> str:
        return f"{labels[p[0]]}–{labels[p[1]]}"

    pair = st.selectbox("Line profile along", _pairs(molecule), format_func=name, key=key)
    return pair, name(pair)


def _line_figure(profile: list[dict], molecule, pair: tuple[int, int], bond: str, unit: str, **options):
    """The two functionals' columns of a line profile (maps.line_profile, with their difference) above
    their difference, against the position along the line (Å), the line's two atoms marked; ``unit``
    names the quantity and its unit, e.g. "ρ (electrons/bohr³)"."""
    names = [name for name in profile[0] if name != maps.PROFILE_POSITION]
    labels = _atom_labels(molecule)
    xyz = np.array([p for _, p in molecule.atoms])
    column = lambda name: [row[name] for row in profile]  # noqa: E731
    return profile_figure(
        column(maps.PROFILE_POSITION),
        [{"name": name, "y": column(name)} for name in names[:2]],
        {"name": names[2], "y": column(names[2])},
        f"position along {bond} (Å from {labels[pair[0]]})",
        unit,
        f"difference {unit[unit.index('(') :]}",
        atoms=[
            {"symbol": labels[pair[0]], "x": 0.0},
            {"symbol": labels[pair[1]], "x": float(np.linalg.norm(xyz[pair[1]] - xyz[pair[0]]))},
        ],
        **options,
    )


@st.cache_data(max_entries=8, show_spinner=False)
def _cube_values(cube: str) -> np.ndarray:
    return maps.read_cube(cube)[2]


def _isovalue(surface: str, default: float | None, choices: list[float]) -> float:
    """The isovalue chosen for ``surface`` on a slider of ``choices`` plus the data's ``default``
    (None: the fixed default); a new default (new densities) starts the slider there again."""
    if default is None:
        return st.select_slider(
            "Isovalue (electrons/bohr³)", choices, format_func=lambda v: f"{v:g}", **kept(f"dx_iso_{surface}")
        )
    default = float(f"{default:.2g}")  # two significant digits read well on the slider
    key = f"dx_iso_{surface}_{default:g}"
    keep_choice((key,), {key: default})
    return st.select_slider(
        "Isovalue (electrons/bohr³)",
        sorted({*choices, default}),
        format_func=lambda v: f"{v:g}" + (" (from the data)" if v == default else ""),
        **kept(key),
    )


def _html_download(last: dict, view: str, exported: list[dict], notes: list[str]) -> None:
    """The "Page as HTML" button: the view's figures and tables (``exported``), the molecule, ``notes``;
    the document is built when clicked (it holds plotly.js and 3Dmol.js, a few MB)."""
    molecule, f, c = last["molecule"], last["functional"], last["classical"]
    title = f"{view}: {molecule.name or molecule.formula()} / {molecule.basis}, {f} and {c}"
    file_name = f"{molecule.formula()}_{view.lower().replace(' ', '_')}.html"
    page_html_button(title, exported, file_name, f"dx_html_{view}", molecule=molecule, notes=notes)


def _density_view(last: dict) -> None:
    molecule, f, c = last["molecule"], last["functional"], last["classical"]
    dm_f, dm_c = last["dm"][f], last["dm"][c]
    computed = task_value(
        "dx_task_cubes",
        maps.density_cubes,
        {"molecule": molecule, "dm": dm_f, "dm_other": dm_c, "name": f, "other": c},
        "the density cubes",
    )
    if computed is None:
        return
    cubes = {
        "Total density": computed["total"],
        "Spin density": computed["spin"],
        "Density difference": computed["difference"],
    }
    largest = {"Spin density": computed["max_spin"], "Density difference": computed["max_difference"]}
    exported = []  # the same figures, for the HTML export at the end
    defaults = {"Spin density": computed["iso_spin"], "Density difference": computed["iso_difference"]}
    left, right = st.columns([1, 2])
    with left:
        surface = st.radio(
            "Surface",
            SURFACES,
            format_func=lambda s: f"{f} − {c} density" if s == "Density difference" else f"{s} ({f})",
            **kept("dx_surface"),
        )
        signed = surface != "Total density"
        closed_shell = surface == "Spin density" and largest[surface] < 1e-8
        isovalue = _isovalue(surface, None if closed_shell else defaults.get(surface), ISOVALUES[surface])
        positive = f"<span style='color:{POSITIVE_COLOR}'>**{COLOR_NAMES[POSITIVE_COLOR]}**</span>"
        negative = f"<span style='color:{NEGATIVE_COLOR}'>**{COLOR_NAMES[NEGATIVE_COLOR]}**</span>"
        if surface == "Density difference":
            st.markdown(
                f"Surfaces of Δρ = ρ({f}) − ρ({c}), each functional on its own self-consistent density: "
                f"{positive} at +{isovalue:g}, where {f} puts more electrons; {negative} at "
                f"−{isovalue:g}, where it puts fewer.",
                unsafe_allow_html=True,
            )
        elif surface == "Spin density":
            st.markdown(
                f"Surfaces of ρα − ρβ ({f}): {positive} at +{isovalue:g} (excess α spin), {negative} at "
                f"−{isovalue:g} (excess β spin).",
                unsafe_allow_html=True,
            )
        else:
            st.markdown(
                f"The {positive} surface encloses the region where {f}'s density exceeds {isovalue:g}.",
                unsafe_allow_html=True,
            )
        if signed and not closed_shell:
            share = maps.enclosed_fraction(_cube_values(cubes[surface]), isovalue)
            st.caption(
                f"Default isovalue {float(f'{defaults[surface]:.2g}'):g}, from the data: the surfaces "
                f"enclose {maps.ENCLOSED_FRACTION:.0%} of ∫|value| dr on the cube. At {isovalue:g} they "
                f"enclose {share:.0%}. Largest |value| on the cube: {largest[surface]:.2e} electrons/bohr³."
            )
        st.caption(
            f"Cube grid {computed['points']}³, spacing ≤ {computed['spacing']:.2f} bohr: the {f} density "
            f"sums to {computed['integral']:.3f} of {molecule.n_electrons} electrons (a Riemann sum, short "
            "of the count mostly at the sharp core density; 80³ gets within about 0.05 for water)."
        )
    with right:
        if closed_shell:
            st.info("Closed shell: the spin density is zero everywhere.")
        else:
            show_volume(molecule, cubes[surface], isovalue, signed=signed, height=420)
    if len(molecule.atoms) >= 2:
        pair, bond = _line_choice(molecule, _atom_labels(molecule), "dx_bond")
        x, rho_f, rho_c = _density_line(molecule, dm_f, dm_c, *pair)
        profile = maps.line_profile(x, {f: rho_f, c: rho_c}, difference=(f, c))
        figure = _line_figure(profile, molecule, pair, bond, "ρ (electrons/bohr³)", log=True)
        st.plotly_chart(figure, key="dx_rho_line")
        text = (
            f"Top: both densities on a logarithmic scale; they nearly coincide, so {f} is drawn wide and "
            f"solid and {c} dashed on top of it. Bottom: their difference {f} − {c} on its "
            "own linear scale. Dotted lines mark the nuclei."
        )
        st.caption(text)
        exported.append({"heading": f"Densities along {bond}", "figure": figure, "text": text})
    st.caption("Densities in electrons/bohr³; cube files in bohr (Gaussian cube format); axes in Å.")
    columns = st.columns(3)
    for column, name in zip(columns, SURFACES, strict=True):
        column.download_button(
            f"{name} (cube)",
            cubes[name],
            f"{molecule.formula()}_{name.lower().replace(' ', '_')}.cube",
            "chemical/x-cube",
            key=f"dx_cube_{name}",
        )
    notes = ["Densities in electrons/bohr³; axes in Å."] + ([B3LYP_NOTE] if "B3LYP" in (f, c) else [])
    _html_download(last, "Density", exported, notes)


def _xc_line(line: dict, molecule, pair: tuple[int, int], bond: str, f: str, c: str):
    """Draws the XC energy densities of ``f`` and ``c`` along a line (maps.line_energy_densities) and
    their difference, by default on vertical scales fitted to the points away from the nuclei; returns
    the figure."""
    exc_f, exc_c = line["exc"][f], line["exc"][c]
    profile = maps.line_profile(line["x"], {f: exc_f, c: exc_c}, difference=(f, c))
    fit = st.toggle(
        f"Fit the vertical scales to the points more than {maps.CORE_RADIUS_ANGSTROM:g} Å from every nucleus",
        **kept("dx_xc_fit"),
    )
    ranges = {}
    if fit:
        near = line["nearest"]
        both = np.concatenate([exc_f, exc_c])
        ranges = {
            "y_range": maps.valence_range(both, np.concatenate([near, near])),
            "difference_range": maps.valence_range(exc_f - exc_c, near),
        }
    figure = _line_figure(profile, molecule, pair, bond, "e_xc (Ha/bohr³)", **ranges)
    st.plotly_chart(figure, key="dx_xc_line")
    lowest, gap = min(exc_f.min(), exc_c.min()), exc_f - exc_c
    if fit:
        scale = (
            f"Vertical scales fitted to the points more than {maps.CORE_RADIUS_ANGSTROM:g} Å from every "
            "nucleus, to show the bonding region: nearer a nucleus the core electrons' energy density "
            f"leaves the scale (down to {lowest:.4g} Ha/bohr³ on this line, {f} − {c} from "
            f"{gap.min():.3g} to {gap.max():.3g}). Switch the fit off for the full range."
        )
    else:
        scale = (
            f"Full vertical range, down to {lowest:.4g} Ha/bohr³ at a nucleus: the bonding region is "
            "flattened. Switch the fit on to see it."
        )
    st.caption(
        f"{scale} Top: {f} wide and solid, {c} dashed on top of it; bottom: their difference on its own "
        "scale. Dotted lines mark the nuclei."
    )
    return figure


def _xc_view(last: dict) -> None:
    molecule, f, c = last["molecule"], last["functional"], last["classical"]
    dm = last["dm"][f]
    labels = _atom_labels(molecule)
    mode = st.radio("Plane", PLANES, horizontal=True, **kept("dx_plane"))
    atoms = None
    if mode == PLANES[1]:
        if len(labels) < 3:
            st.error("a plane through three atoms needs at least three atoms: use the molecular plane")
            return
        columns = st.columns(3)
        atoms = tuple(
            column.selectbox(
                f"Atom {k + 1}",
                range(len(labels)),
                index=k,
                format_func=labels.__getitem__,
                key=f"dx_atom{k}",
            )
            for k, column in enumerate(columns)
        )
    kwargs = {"molecule": molecule, "dm": dm, "functionals": [f, c]}
    data = task_value("dx_task_plane", maps.plane_maps, {**kwargs, "atoms": atoms}, "the maps on the plane")
    if data is None:
        return
    st.subheader(f"{data['label']}: {molecule.name or molecule.formula()} / {molecule.basis}, {f} density")
    s, t = data["s"], data["t"]
    marks = [{"symbol": labels[a["index"]], "x": a["x"], "y": a["y"]} for a in data["atoms"]]
    log = st.toggle(
        "Logarithmic colour scale for e_xc and HF exchange (log10 of the magnitude; they are negative)",
        **kept("dx_log"),
    )
    panels = [{"title": f"{f}", "z": data["exc"][f]}, {"title": f"{c} (same density)", "z": data["exc"][c]}]
    figure = plane_maps_figure(panels, s, t, "e_xc (Ha/bohr³)", atoms=marks, log=log)
    st.plotly_chart(figure, key="dx_map_exc")
    exported = [{"heading": data["label"], "figure": figure}]  # the same figures, for the HTML export
    # Each map full width: in half-width columns the panels shrink until ticks and atom labels overlap.
    difference = [
        {
            "title": f"{f} − {c}: blue where {f}'s e_xc is higher (less negative), red where lower",
            "z": data["exc"][f] - data["exc"][c],
        }
    ]
    figure = plane_maps_figure(difference, s, t, "Δe_xc (Ha/bohr³)", atoms=marks, diverging=True, height=460)
    st.plotly_chart(figure, key="dx_map_diff")
    exported.append({"figure": figure})
    enhancement = [{"title": f"{f}", "z": data["enhancement"][f]}, {"title": c, "z": data["enhancement"][c]}]
    figure = plane_maps_figure(enhancement, s, t, "e_xc / e_x(LDA)", atoms=marks)
    st.plotly_chart(figure, key="dx_map_enh")
    exported.append({"figure": figure})
    hfx = [{"title": "ω = 0", "z": data["hfx"][0]}, {"title": "ω = 0.4 bohr⁻¹", "z": data["hfx"][1]}]
    figure = plane_maps_figure(hfx, s, t, "e_x(HF) (Ha/bohr³)", atoms=marks, log=log, height=360)
    st.plotly_chart(figure, key="dx_map_hfx")
    exported.append({"figure": figure})
    if len(labels) >= 2:
        pair, bond = _line_choice(molecule, labels, "dx_xc_bond")
        line = task_value(
            "dx_task_line",
            maps.line_energy_densities,
            {**kwargs, "i": pair[0], "j": pair[1]},
            f"the energy densities along {bond}",
        )
        if line is not None:
            figure = _xc_line(line, molecule, pair, bond, f, c)
            exported.append({"heading": f"Along {bond}", "figure": figure})
    integrals = task_value("dx_task_integrals", maps.grid_integrals, kwargs, "the integrals over the grid")
    if integrals is None:
        return
    own, other, reference = integrals[f]["integral"], integrals[c]["integral"], integrals[c]["pyscf"]
    rows = [
        {
            "functional": f,
            "∫ e_xc over the molecular grid (Ha)": own,
            "E_xc reported (Ha)": last["e_xc"][f],
            "reported by": "the SCF",
        },
        {
            "functional": c,
            "∫ e_xc over the molecular grid (Ha)": other,
            "E_xc reported (Ha)": reference,
            "reported by": "PySCF on the same density",
        },
    ]
    formats = {k: "%.10f" for k in ("∫ e_xc over the molecular grid (Ha)", "E_xc reported (Ha)")}
    st.dataframe(
        rows,
        hide_index=True,
        column_config={k: st.column_config.NumberColumn(format=v) for k, v in formats.items()},
        key="dx_integrals",
    )
    exported.append({"heading": "Integrals", "table": rows, "formats": formats})
    notes = [
        f"All maps on {f}'s self-consistent density; axes s, t in Å in the plane (atoms within "
        f"{maps.NEAR_PLANE_ANGSTROM:g} Å of it are marked). Energy densities in Hartree/bohr³, negative "
        f"where exchange-correlation lowers the energy; E_xc = ∫ e_xc dr. {f}'s e_xc is its network's "
        f"output per point. {c}'s is libxc's energy per particle times ρ plus, for a hybrid, its "
        "exact-exchange fraction times the local HF exchange (B3LYP: 0.20), so that it integrates to the "
        "full E_xc; its integral differs from PySCF's analytic exact exchange only by the grid's quadrature "
        "error (about 1e-7 Ha).",
        "Local HF exchange e_x(HF) (both spins, negative) with the 1/r kernel (ω = 0) and the long-range "
        "erf(0.4 r)/r kernel: the two inputs DM21 reads besides the density. Enhancement factor: e_xc over "
        "LDA (Slater) exchange −(3/4)(6/π)^(1/3)(ρα^(4/3)+ρβ^(4/3)); blank where ρ < "
        f"{maps.ENHANCEMENT_RHO_FLOOR:g} electrons/bohr³. Colour ranges span the 2nd to 98th percentile "
        "of the values (hover shows the true value). An energy density is not unique (terms integrating "
        "to zero can be added), so local differences are a picture, the integrals the numbers.",
        "PNG: the camera icon on each plot's toolbar.",
    ]
    if "B3LYP" in (f, c):
        notes.append(B3LYP_NOTE)
    st.caption(" ".join(notes))
    _html_download(last, "XC map", exported, notes)
    if st.button("Prepare XC energy-density cube files", key="dx_xc_cubes_run"):
        st.session_state["dx_xc_cubes"] = True
    if st.session_state.get("dx_xc_cubes"):
        cubes = task_value(
            "dx_task_xc_cubes", maps.xc_cubes, {**kwargs, "density": f}, "the XC energy-density cubes"
        )
        if cubes is None:
            return
        columns = st.columns(2)
        for column, name in zip(columns, (f, c), strict=True):
            column.download_button(
                f"{name} e_xc (cube)",
                cubes[name],
                f"{molecule.formula()}_{name}_exc.cube",
                "chemical/x-cube",
                key=f"dx_exc_cube_{name}",
            )


if last is not None:
    st.divider()
    view = st.segmented_control("View", VIEWS, **kept("dx_view")) or VIEWS[0]
    shown = last["molecule"]
    st.caption(
        f"{shown.name or shown.formula()} / {shown.basis}: {last['functional']} and {last['classical']}, "
        "each self-consistent on the DM21 reference grid."
    )
    try:
        (_density_view if view == "Density" else _xc_view)(last)
    except ExplorerError as err:
        st.error(str(err))
