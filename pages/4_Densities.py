"""Densities and XC maps: where DM21 and a classical functional differ in space."""

import itertools

import numpy as np
import streamlit as st

from explorer import ExplorerError, GridSpec, maps
from explorer.compare import B3LYP_NOTE, CLASSICAL, DM21_FAMILY
from explorer.grids import build_grids
from explorer.plots import curves_figure, plane_maps_figure
from explorer.scf import evaluate_xc, run_scf_reporting
from pages.ui.layout import page_setup
from pages.ui.molecule_input import keep_choice, kept, molecule_input_with_view, size_guard
from pages.ui.resources import load_networks, results_store
from pages.ui.viewer import show_volume

page_setup()
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
    "dx_iso_Total density": 0.05,
    "dx_iso_Spin density": 0.005,
    "dx_iso_Density difference": 1e-3,
}
keep_choice(tuple(OPTIONS), OPTIONS)

molecule = molecule_input_with_view(height=260)
left, right = st.columns(2)
functional = left.selectbox("DM21 functional", DM21_FAMILY, **kept("dx_functional"))
classical = right.selectbox("Classical functional", CLASSICAL, **kept("dx_classical"))

if molecule is not None:
    allowed = size_guard(molecule, [functional, classical])
    if st.button("Run", type="primary", disabled=not allowed, key="dx_run"):
        with st.status("Running…", expanded=False) as status:

            def progress(event: dict) -> None:
                if "cycle" in event:
                    status.update(
                        label=f"{event['task']}: iteration {event['cycle']}, E = {event['energy']:.8f} Ha"
                    )

            try:
                load_networks([functional])
                results = {
                    f: run_scf_reporting(molecule, f, results_store(), f, progress)[0]
                    for f in (functional, classical)
                }
            except ExplorerError as err:
                status.update(label="failed", state="error")
                st.error(str(err))
            else:
                bad = [f for f, r in results.items() if not r.converged]
                status.update(label="done", state="error" if bad else "complete")
                if bad:
                    st.error(
                        f"the SCF of {', '.join(bad)} did not converge: no maps of unconverged densities"
                    )
                else:
                    st.session_state["dx_last"] = {
                        "molecule": molecule,
                        "functional": functional,
                        "classical": classical,
                        "dm": {f: np.asarray(r.dm) for f, r in results.items()},
                        "e_xc": {f: r.e_xc for f, r in results.items()},
                    }
                    st.session_state.pop("dx_xc_cubes", None)


def _atom_labels(molecule) -> list[str]:
    return [f"{symbol}{i + 1}" for i, (symbol, _) in enumerate(molecule.atoms)]


def _pairs(molecule) -> list[tuple[int, int]]:
    """Atom pairs, shortest distance first (bonds come first)."""
    xyz = np.array([p for _, p in molecule.atoms])
    pairs = list(itertools.combinations(range(len(xyz)), 2))
    return sorted(pairs, key=lambda p: np.linalg.norm(xyz[p[0]] - xyz[p[1]]))


@st.cache_data(max_entries=8, show_spinner="Evaluating the densities on a cube grid…")
def _density_cubes(molecule, dm_f, dm_c, functional: str, classical: str, points: int = maps.CUBE_POINTS):
    mol = molecule.to_pyscf()
    cube, rho_a, rho_b = maps.density_cube(mol, dm_f, points)
    other_a, other_b = maps.density_on_points(mol, dm_c, cube.get_coords())
    total, spin = rho_a + rho_b, rho_a - rho_b
    difference = total - (other_a + other_b)
    return {
        "Total density": maps.cube_text(cube, total, f"{functional} electron density (electrons/bohr^3)"),
        "Spin density": maps.cube_text(
            cube, spin, f"{functional} spin density alpha-beta (electrons/bohr^3)"
        ),
        "Density difference": maps.cube_text(
            cube, difference, f"{functional} minus {classical} density (electrons/bohr^3)"
        ),
        "integral": maps.cube_integral(cube, total),
        "max": {
            "Spin density": float(np.abs(spin).max()),
            "Density difference": float(np.abs(difference).max()),
        },
        "points": points,
        "spacing": float(np.max(np.diag(cube.box)) / (points - 1)),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def _density_line(molecule, dm_f, dm_c, i: int, j: int):
    mol = molecule.to_pyscf()
    pts, x = maps.bond_line(mol, i, j)
    return x, sum(maps.density_on_points(mol, dm_f, pts)), sum(maps.density_on_points(mol, dm_c, pts))


@st.cache_data(max_entries=8, show_spinner="Evaluating XC energy densities on the plane…")
def _plane_maps(molecule, dm, functional: str, classical: str, atoms):
    mol = molecule.to_pyscf()
    plane = maps.molecular_plane(mol) if atoms is None else maps.plane_through_atoms(mol, atoms)
    values = maps.point_values(mol, dm, plane.points(), [functional, classical])
    s, t, height = plane.project(mol.atom_coords())
    near = np.abs(height) * maps.BOHR_ANGSTROM < 0.6
    marks = [
        {"symbol": label, "x": float(a * maps.BOHR_ANGSTROM), "y": float(b * maps.BOHR_ANGSTROM)}
        for label, a, b, ok in zip(_atom_labels(molecule), s, t, near, strict=True)
        if ok
    ]
    return {
        "label": plane.label,
        "s": plane.s_angstrom,
        "t": plane.t_angstrom,
        "atoms": marks,
        "exc": {f: plane.grid(values.exc[f]) for f in (functional, classical)},
        "enhancement": {f: plane.grid(values.enhancement(f)) for f in (functional, classical)},
        "hfx": [plane.grid(values.hfx[:, k]) for k in range(2)],
    }


@st.cache_data(max_entries=16, show_spinner=False)
def _xc_line(molecule, dm, functional: str, classical: str, i: int, j: int):
    mol = molecule.to_pyscf()
    pts, x = maps.bond_line(mol, i, j)
    values = maps.point_values(mol, dm, pts, [functional, classical])
    return x, values.exc[functional], values.exc[classical]


@st.cache_data(max_entries=8, show_spinner="Integrating the energy densities over the molecular grid…")
def _grid_integrals(molecule, dm, functional: str, classical: str):
    mol = molecule.to_pyscf()
    grids = build_grids(mol, GridSpec())
    own = maps.integrate_on_grid(maps.energy_density_on_grid(mol, functional, dm, grids), grids)
    other = maps.integrate_on_grid(maps.energy_density_on_grid(mol, classical, dm, grids), grids)
    reference = evaluate_xc(molecule, classical, dm, grids)[0]
    return own, other, reference


@st.cache_data(max_entries=4, show_spinner="Evaluating XC energy densities on a cube grid…")
def _xc_cubes(molecule, dm, functional: str, classical: str, points: int = maps.CUBE_POINTS):
    mol = molecule.to_pyscf()
    cube = maps.make_cube(mol, points)
    values = maps.point_values(mol, dm, cube.get_coords(), [functional, classical])
    return {
        f: maps.cube_text(
            cube, values.exc[f], f"{f} XC energy density on {functional}'s density (Hartree/bohr^3)"
        )
        for f in (functional, classical)
    }


def _line_figure(x, series: dict, y_title: str, bond: str, log: bool = False):
    figure = curves_figure(
        [{"name": name, "x": list(x), "y": list(y)} for name, y in series.items()],
        f"position along {bond} (Å from the first atom)",
        y_title,
        height=320,
    )
    if log:
        figure.update_yaxes(type="log")
    return figure


def _density_view(last: dict) -> None:
    molecule, f, c = last["molecule"], last["functional"], last["classical"]
    dm_f, dm_c = last["dm"][f], last["dm"][c]
    cubes = _density_cubes(molecule, dm_f, dm_c, f, c)
    left, right = st.columns([1, 2])
    with left:
        surface = st.radio(
            "Surface",
            SURFACES,
            format_func=lambda s: f"{f} − {c} density" if s == "Density difference" else f"{s} ({f})",
            **kept("dx_surface"),
        )
        iso_key = f"dx_iso_{surface}"
        isovalue = st.select_slider(
            "Isovalue (electrons/bohr³)", ISOVALUES[surface], format_func=lambda v: f"{v:g}", **kept(iso_key)
        )
        signed = surface != "Total density"
        if signed:
            st.caption(
                f"Blue: +{isovalue:g}, red: −{isovalue:g}. Largest |value| on the cube: "
                f"{cubes['max'][surface]:.2e} electrons/bohr³."
            )
            if surface == "Density difference":
                st.caption(
                    f"Blue where {f} puts more electrons than {c}, red where fewer; each on its own "
                    "self-consistent density."
                )
        st.caption(
            f"Cube grid {cubes['points']}³, spacing ≤ {cubes['spacing']:.2f} bohr: the {f} density sums to "
            f"{cubes['integral']:.3f} of {molecule.n_electrons} electrons (a Riemann sum, short of the count "
            "mostly at the sharp core density; 80³ gets within about 0.05 for water)."
        )
    with right:
        if surface == "Spin density" and cubes["max"]["Spin density"] < 1e-8:
            st.info("Closed shell: the spin density is zero everywhere.")
        else:
            show_volume(molecule, cubes[surface], isovalue, signed=signed, height=420)
    if len(molecule.atoms) >= 2:
        labels = _atom_labels(molecule)
        pair = st.selectbox(
            "Line profile along",
            _pairs(molecule),
            format_func=lambda p: f"{labels[p[0]]}–{labels[p[1]]}",
            key="dx_bond",
        )
        bond = f"{labels[pair[0]]}–{labels[pair[1]]}"
        x, rho_f, rho_c = _density_line(molecule, dm_f, dm_c, *pair)
        a, b = st.columns(2)
        a.plotly_chart(
            _line_figure(x, {f: rho_f, c: rho_c}, "ρ (electrons/bohr³)", bond, log=True), key="dx_rho_line"
        )
        b.plotly_chart(
            _line_figure(x, {f"{f} − {c}": rho_f - rho_c}, "Δρ (electrons/bohr³)", bond), key="dx_drho_line"
        )
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
    try:
        data = _plane_maps(molecule, dm, f, c, atoms)
    except ExplorerError as err:
        st.error(str(err))
        return
    st.subheader(f"{data['label']}: {molecule.name or molecule.formula()} / {molecule.basis}, {f} density")
    s, t, marks = data["s"], data["t"], data["atoms"]
    log = st.toggle(
        "Logarithmic colour scale for e_xc and HF exchange (log10 of the magnitude; they are negative)",
        **kept("dx_log"),
    )
    panels = [{"title": f"{f}", "z": data["exc"][f]}, {"title": f"{c} (same density)", "z": data["exc"][c]}]
    st.plotly_chart(
        plane_maps_figure(panels, s, t, "e_xc (Ha/bohr³)", atoms=marks, log=log), key="dx_map_exc"
    )
    difference = [{"title": f"{f} − {c}", "z": data["exc"][f] - data["exc"][c]}]
    a, b = st.columns(2)
    a.plotly_chart(
        plane_maps_figure(difference, s, t, "Δe_xc (Ha/bohr³)", atoms=marks, diverging=True),
        key="dx_map_diff",
    )
    enhancement = [{"title": f"{f}", "z": data["enhancement"][f]}, {"title": c, "z": data["enhancement"][c]}]
    b.plotly_chart(plane_maps_figure(enhancement, s, t, "e_xc / e_x(LDA)", atoms=marks), key="dx_map_enh")
    hfx = [{"title": "ω = 0", "z": data["hfx"][0]}, {"title": "ω = 0.4 bohr⁻¹", "z": data["hfx"][1]}]
    st.plotly_chart(
        plane_maps_figure(hfx, s, t, "e_x(HF) (Ha/bohr³)", atoms=marks, log=log, height=360), key="dx_map_hfx"
    )
    if len(labels) >= 2:
        pair = st.selectbox(
            "Line profile along",
            _pairs(molecule),
            format_func=lambda p: f"{labels[p[0]]}–{labels[p[1]]}",
            key="dx_xc_bond",
        )
        bond = f"{labels[pair[0]]}–{labels[pair[1]]}"
        x, e_f, e_c = _xc_line(molecule, dm, f, c, *pair)
        st.plotly_chart(
            _line_figure(x, {f: e_f, c: e_c, f"{f} − {c}": e_f - e_c}, "e_xc (Ha/bohr³)", bond),
            key="dx_xc_line",
        )
    own, other, reference = _grid_integrals(molecule, dm, f, c)
    st.dataframe(
        [
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
        ],
        hide_index=True,
        column_config={
            k: st.column_config.NumberColumn(format="%.10f")
            for k in ("∫ e_xc over the molecular grid (Ha)", "E_xc reported (Ha)")
        },
        key="dx_integrals",
    )
    notes = [
        f"All maps on {f}'s self-consistent density; axes s, t in Å in the plane (atoms within 0.6 Å of it "
        "are marked). Energy densities in Hartree/bohr³, negative where exchange-correlation lowers the "
        f"energy; E_xc = ∫ e_xc dr. {f}'s e_xc is its network's output per point. {c}'s is libxc's energy "
        "per particle times ρ plus, for a hybrid, its exact-exchange fraction times the local HF exchange "
        "(B3LYP: 0.20), so that it integrates to the full E_xc; its integral differs from PySCF's analytic "
        "exact exchange only by the grid's quadrature error (about 1e-7 Ha).",
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
    if st.button("Prepare XC energy-density cube files", key="dx_xc_cubes_run"):
        st.session_state["dx_xc_cubes"] = True
    if st.session_state.get("dx_xc_cubes"):
        cubes = _xc_cubes(molecule, dm, f, c)
        columns = st.columns(2)
        for column, name in zip(columns, (f, c), strict=True):
            column.download_button(
                f"{name} e_xc (cube)",
                cubes[name],
                f"{molecule.formula()}_{name}_exc.cube",
                "chemical/x-cube",
                key=f"dx_exc_cube_{name}",
            )


last = st.session_state.get("dx_last")
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
