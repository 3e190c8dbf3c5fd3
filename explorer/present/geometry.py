"""Geometry and vibrations for a browser: an optimisation trajectory and a normal mode animated in 3D
(py3Dmol HTML, 3Dmol.js from the app, as in viewer3d), the IR stick spectrum of each functional (Plotly)
and the bond-length/angle comparison as plain table rows. Plain data in (atoms as [symbol, x, y, z] in
Angstrom, frequencies in cm^-1, intensities in km/mol), figures and HTML out; no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import py3Dmol
from plotly.subplots import make_subplots

from explorer.chem import units
from explorer.chem.molecules import Molecule
from explorer.present.plots import LEGEND_ABOVE, REFERENCE_COLOR, functional_color
from explorer.present.viewer3d import (
    BALL_AND_STICK,
    DARK_BACKGROUND,
    DEFAULT_JS_URL,
    FIT_FRACTION,
    LIGHT_BACKGROUND,
    _page_html,
    _principal_rotation,
    label_style,
)

#: Milliseconds each optimisation step stays on screen.
TRAJECTORY_INTERVAL_MS = 600
#: Above this many labels (frames x atoms) a trajectory's atoms carry no per-frame element labels.
MAX_TRAJECTORY_LABELS = 800
#: Largest atomic displacement (Angstrom) drawn for a normal mode: visible, without bonds crossing.
MODE_AMPLITUDE = 0.35
#: Frames of a mode's animation on each side of the equilibrium geometry (3Dmol.js vibrate).
MODE_FRAMES = 10
#: Milliseconds per frame of a mode's animation.
MODE_INTERVAL_MS = 50
#: Displacement arrows are drawn for atoms moving at least this fraction of the largest displacement.
ARROW_THRESHOLD = 0.05
#: Colour of the displacement arrows (a grey that reads on the light and the dark background).
ARROW_COLOR = "#9a9a9a"

Atoms = Sequence[Sequence]  # [[symbol, x, y, z], ...] in Angstrom


def _positions(atoms: Atoms) -> tuple[list[str], np.ndarray]:
    """(symbols, (n, 3) positions in Angstrom) of [[symbol, x, y, z], ...]."""
    if not atoms:
        raise ValueError("a geometry without atoms has nothing to draw")
    symbols = [str(a[0]) for a in atoms]
    for symbol in symbols:
        # Symbols go into the page's script: only element symbols (validated molecules) are drawn.
        if not (symbol.isalpha() and len(symbol) <= 3):
            raise ValueError(f"not an element symbol: {symbol!r}")
    return symbols, np.array([[float(v) for v in a[1:4]] for a in atoms], dtype=float)


def _face_on(symbols: list[str], xyz: np.ndarray) -> np.ndarray | None:
    """The rotation (rows: principal axes, as viewer3d.principal_axes_frame) that shows the geometry
    face-on along z; None when there is none (one atom)."""
    molecule = Molecule(tuple((s, tuple(p)) for s, p in zip(symbols, xyz, strict=True)))
    return _principal_rotation(molecule)[1]


def _aligned_onto(xyz: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``xyz`` moved rigidly (translation and proper rotation, Kabsch) onto ``reference`` (both centred
    on the origin in the result), so that an optimiser's reorientations do not spin the animation."""
    p = xyz - xyz.mean(axis=0)
    q = reference - reference.mean(axis=0)
    if len(p) < 2:
        return p
    u, _, vt = np.linalg.svd(p.T @ q)
    sign = 1.0 if np.linalg.det(vt.T @ u.T) >= 0 else -1.0  # a proper rotation, never a mirror image
    rotation = vt.T @ np.diag([1.0, 1.0, sign]) @ u.T
    return p @ rotation.T


def _xyz_block(
    symbols: list[str], xyz: np.ndarray, comment: str = "", vectors: np.ndarray | None = None
) -> str:
    """One XYZ frame (Angstrom); with ``vectors``, each atom's displacement as three more columns
    (3Dmol.js reads them as dx, dy, dz for vibrate)."""
    lines = [str(len(symbols)), comment]
    for i, (symbol, (x, y, z)) in enumerate(zip(symbols, xyz, strict=True)):
        line = f"{symbol:<2} {x:12.6f} {y:12.6f} {z:12.6f}"
        if vectors is not None:
            dx, dy, dz = vectors[i]
            line += f" {dx:10.6f} {dy:10.6f} {dz:10.6f}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _fit_zoom_js() -> str:
    """After zoomTo, zoom out to FIT_FRACTION of the frame's smaller side (as molecule_view_html does)."""
    return (
        "\t(function (viewer, box) {\n"
        "\t\tvar aspect = box.clientWidth / Math.max(1, box.clientHeight);\n"
        f"\t\tviewer.zoom(Math.min(1, aspect) * {FIT_FRACTION});\n"
        "\t})(viewer_UNIQUEID, document.getElementById('3dmolviewer_UNIQUEID'));\n"
    )


def _caption_style(dark: bool) -> dict:
    """A label fixed to the top-left corner of the view (screen coordinates), for the frame's caption."""
    return {
        **label_style(dark),
        "fontSize": 13,
        "alignment": "topLeft",
        "useScreen": True,
        "position": {"x": 8, "y": 8, "z": 0},
    }


def trajectory_frames(frames: Sequence[Atoms]) -> tuple[list[str], list[np.ndarray]]:
    """(symbols, positions of every frame) of an optimisation trajectory as drawn: each frame moved
    rigidly onto the last (Kabsch), then all turned so that the last is seen face-on along z (as the
    app's static view shows a molecule). Raises ValueError for frames of different atoms."""
    if not frames:
        raise ValueError("a trajectory without frames has nothing to draw")
    symbols, final = _positions(frames[-1])
    drawn = []
    for frame in frames:
        frame_symbols, xyz = _positions(frame)
        if frame_symbols != symbols:
            raise ValueError("every frame of a trajectory must hold the same atoms in the same order")
        drawn.append(_aligned_onto(xyz, final))
    rotation = _face_on(symbols, drawn[-1])
    if rotation is not None:
        drawn = [xyz @ rotation.T for xyz in drawn]
    return symbols, drawn


def trajectory_view_html(
    frames: Sequence[Atoms],
    *,
    captions: Sequence[str] | None = None,
    interval_ms: int = TRAJECTORY_INTERVAL_MS,
    js_url: str = DEFAULT_JS_URL,
    dark: bool = False,
    height: int = 420,
) -> str:
    """An HTML document animating an optimisation trajectory: ``frames`` are the geometries of the
    steps ([[symbol, x, y, z], ...] in Angstrom, first to last), one 3Dmol.js frame each
    (addModelsAsFrames), ball-and-stick with element labels that move with their atoms, ``captions``
    (one per frame, e.g. "step 3: E = ... Ha") in the corner, played forward and back (``interval_ms``
    per frame). The frames are aligned as trajectory_frames says. A single frame is drawn still.
    3Dmol.js is loaded from ``js_url`` only; the HTML depends only on the arguments."""
    symbols, drawn = trajectory_frames(frames)
    if captions is not None and len(captions) != len(drawn):
        raise ValueError(f"{len(captions)} captions for {len(drawn)} frames")
    background = DARK_BACKGROUND if dark else LIGHT_BACKGROUND
    data = "".join(_xyz_block(symbols, xyz, f"frame {i}") for i, xyz in enumerate(drawn))
    view = py3Dmol.view(width="100%", height=f"{int(height)}px", js=js_url)
    view.addModelsAsFrames(data, "xyz")
    view.setStyle({}, BALL_AND_STICK)
    view.setBackgroundColor(background)
    labels = label_style(dark)
    if len(drawn) * len(symbols) <= MAX_TRAJECTORY_LABELS:
        for index, xyz in enumerate(drawn):
            # frame: the label is shown only while its frame is (one frame: always).
            where = {} if len(drawn) == 1 else {"frame": index}
            for symbol, (x, y, z) in zip(symbols, xyz, strict=True):
                view.addLabel(symbol, {**labels, **where, "position": {"x": x, "y": y, "z": z}})
    if captions is not None:
        for index, caption in enumerate(captions):
            where = {} if len(drawn) == 1 else {"frame": index}
            view.addLabel(_plain(caption), {**_caption_style(dark), **where})
    view.zoomTo()
    view.startjs += _fit_zoom_js()
    if len(drawn) > 1:
        view.animate({"loop": "backAndForth", "interval": int(interval_ms)})
    key = ["trajectory", data, list(captions or []), int(interval_ms), js_url, dark, int(height)]
    return _page_html(view, "t", key, background)


def _plain(text: str) -> str:
    """``text`` without <, > and &, so that no caption can close the inline script it is written into."""
    return "".join(c for c in str(text) if c not in "<>&")


def mode_vectors(
    atoms: Atoms, displacement: Sequence[Sequence[float]]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(symbols, positions, displacements) of a normal mode as drawn: the geometry centred and seen
    face-on (principal axes, as the static view), the mode's displacement turned the same way and
    scaled so that the atom that moves most moves MODE_AMPLITUDE Angstrom (a mode's own
    normalisation has no physical amplitude; only the directions and relative sizes are shown)."""
    symbols, xyz = _positions(atoms)
    vectors = np.asarray(displacement, dtype=float)
    if vectors.shape != xyz.shape:
        raise ValueError(f"a displacement of shape {vectors.shape} for {len(symbols)} atoms")
    largest = float(np.linalg.norm(vectors, axis=1).max())
    if not math.isfinite(largest) or largest == 0.0:
        raise ValueError("a normal mode without any displacement")
    centred = xyz - xyz.mean(axis=0)
    rotation = _face_on(symbols, centred)
    if rotation is not None:
        centred, vectors = centred @ rotation.T, vectors @ rotation.T
    return symbols, centred, vectors * (MODE_AMPLITUDE / largest)


def mode_view_html(
    atoms: Atoms,
    displacement: Sequence[Sequence[float]],
    *,
    caption: str = "",
    js_url: str = DEFAULT_JS_URL,
    dark: bool = False,
    height: int = 420,
) -> str:
    """An HTML document animating one normal mode: the geometry ``atoms`` ([[symbol, x, y, z], ...],
    Angstrom) with each atom's displacement ``displacement`` ((n_atoms, 3), any normalisation) written
    into the XYZ as 3Dmol.js's dx, dy, dz, made into 2 x MODE_FRAMES frames by 3Dmol.js's vibrate (both
    ways, largest displacement MODE_AMPLITUDE Angstrom, see mode_vectors) and played back and forth;
    an arrow per moving atom shows its direction, element labels sit at the equilibrium positions and
    ``caption`` (e.g. "1595 cm⁻¹, 70 km/mol") in the corner. 3Dmol.js is loaded from ``js_url`` only;
    the HTML depends only on the arguments."""
    symbols, xyz, vectors = mode_vectors(atoms, displacement)
    background = DARK_BACKGROUND if dark else LIGHT_BACKGROUND
    data = _xyz_block(symbols, xyz, "normal mode", vectors)
    view = py3Dmol.view(width="100%", height=f"{int(height)}px", js=js_url)
    view.addModel(data, "xyz")
    view.setStyle({}, BALL_AND_STICK)
    view.setBackgroundColor(background)
    labels = label_style(dark)
    for symbol, (x, y, z) in zip(symbols, xyz, strict=True):
        view.addLabel(symbol, {**labels, "position": {"x": x, "y": y, "z": z}})
    largest = float(np.linalg.norm(vectors, axis=1).max())
    for (x, y, z), (dx, dy, dz) in zip(xyz, vectors, strict=True):
        if math.hypot(dx, dy, dz) >= ARROW_THRESHOLD * largest:
            view.addArrow(
                {
                    "start": {"x": x, "y": y, "z": z},
                    "end": {"x": x + 2.5 * dx, "y": y + 2.5 * dy, "z": z + 2.5 * dz},
                    "radius": 0.04,
                    "radiusRatio": 2.2,
                    "color": ARROW_COLOR,
                }
            )
    if caption:
        view.addLabel(_plain(caption), _caption_style(dark))
    view.zoomTo()
    view.startjs += _fit_zoom_js()
    view.vibrate(MODE_FRAMES, 1, True)
    view.animate({"loop": "backAndForth", "interval": MODE_INTERVAL_MS})
    key = ["mode", data, _plain(caption), js_url, dark, int(height)]
    return _page_html(view, "m", key, background)


def ir_stick_figure(
    spectra: Mapping[str, Mapping],
    *,
    reference: Mapping | None = None,
    height: int = 380,
) -> go.Figure:
    """The IR stick spectrum of each functional: ``spectra`` maps a functional's name to its
    {"frequencies_cm1": [...], "ir_intensities": [...]} (harmonic wavenumbers in cm^-1, intensities in
    km/mol); each mode is a vertical stick from 0 to its intensity in the functional's colour
    (plots.functional_color), one legend entry per functional. Imaginary modes (negative wavenumbers)
    have no place on this axis: they are left out and counted in the legend entry. ``reference``
    ({"label", "frequencies_cm1"}, e.g. experimental fundamentals) is drawn as grey dashed lines
    across the plot. The wavenumber axis runs from high to low, as IR spectra are printed, with 200 cm⁻¹
    to spare on each side."""
    figure = go.Figure()
    for index, (name, spectrum) in enumerate(spectra.items()):
        color = functional_color(name, index)
        frequencies = [float(f) for f in spectrum["frequencies_cm1"]]
        intensities = [float(i) for i in spectrum["ir_intensities"]]
        if len(frequencies) != len(intensities):
            raise ValueError(f"{name}: {len(frequencies)} frequencies but {len(intensities)} intensities")
        real = [(f, i) for f, i in zip(frequencies, intensities, strict=True) if f > 0]
        imaginary = len(frequencies) - len(real)
        label = name + (f" ({imaginary} imaginary not drawn)" if imaginary else "")
        x, y = [], []
        for f, i in real:
            x += [f, f, None]
            y += [0.0, i, None]
        figure.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines", name=label, legendgroup=name, line=dict(color=color, width=3),
                hoverinfo="skip",
            )
        )  # fmt: skip
        # The sticks' tops, for hovering: the wavenumber and intensity of each mode.
        figure.add_trace(
            go.Scatter(
                x=[f for f, _ in real],
                y=[i for _, i in real],
                mode="markers",
                name=name,
                legendgroup=name,
                showlegend=False,
                marker=dict(color=color, size=6),
                hovertemplate=f"{name}<br>%{{x:.0f}} cm⁻¹<br>%{{y:.1f}} km/mol<extra></extra>",
            )
        )
    if reference is not None:
        for k, f in enumerate(reference["frequencies_cm1"]):
            figure.add_trace(
                go.Scatter(
                    x=[f, f],
                    y=[0, 1],
                    yaxis="y2",
                    mode="lines",
                    name=reference["label"],
                    legendgroup="reference",
                    showlegend=k == 0,
                    line=dict(color=REFERENCE_COLOR, dash="dash", width=1.5),
                    hovertemplate=f"{reference['label']}<br>%{{x:.0f}} cm⁻¹<extra></extra>",
                )
            )
    # High wavenumbers on the left, with a margin so that no stick sits on the plot's edge.
    drawn = [f for t in figure.data for f in (t.x or ()) if f is not None]
    x_range = [max(drawn) + 200, max(0.0, min(drawn) - 200)] if drawn else None
    figure.update_layout(
        xaxis=dict(
            title="wavenumber (cm⁻¹)", autorange="reversed" if x_range is None else None, range=x_range
        ),
        yaxis=dict(title="IR intensity (km/mol)", rangemode="tozero"),
        # The reference lines span the plot's height whatever the intensities.
        yaxis2=dict(overlaying="y", range=[0, 1], visible=False),
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def optimization_progress_figure(
    histories: Mapping[str, Sequence[Mapping]], threshold: float | None = None, height: int = 340
) -> go.Figure:
    """An optimisation's progress, one line per functional in its colour: left, the energy at each
    step relative to the first step (kcal/mol, so that functionals whose total energies differ by a
    lot share the axis); right, the largest nuclear gradient component (Hartree/bohr, log scale), with
    the convergence ``threshold`` as a grey dashed line. ``histories`` maps a functional's name to its
    steps, dicts with "step", "energy" (Hartree) and "max_gradient" (Hartree/bohr)."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    for index, (name, steps) in enumerate(histories.items()):
        steps = [s for s in steps if s.get("energy") is not None]
        if not steps:
            continue
        color = functional_color(name, index)
        first = steps[0]["energy"]
        x = [s["step"] for s in steps]
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[units.from_hartree(s["energy"] - first, "kcal/mol") for s in steps],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                line=dict(color=color),
                hovertemplate=f"{name} step %{{x}}<br>ΔE = %{{y:.3f}} kcal/mol<extra></extra>",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[s.get("max_gradient") for s in steps],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=False,
                line=dict(color=color),
                hovertemplate=f"{name} step %{{x}}<br>max gradient %{{y:.2e}} Ha/bohr<extra></extra>",
            ),
            row=1,
            col=2,
        )
    if threshold is not None:
        figure.add_hline(
            y=threshold,
            row=1,
            col=2,
            line=dict(color=REFERENCE_COLOR, dash="dash"),
            annotation_text=f"converged below {threshold:g}",
            annotation_position="top right",
        )
    figure.update_xaxes(title_text="optimisation step", tickformat="d")
    figure.update_yaxes(title_text="E − E(first step) (kcal/mol)", row=1, col=1)
    figure.update_yaxes(title_text="max |gradient| (Ha/bohr)", type="log", exponentformat="e", row=1, col=2)
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend=LEGEND_ABOVE)
    return figure


def comparison_rows(
    parameters: Sequence[Mapping],
    functionals: Sequence[str],
    *,
    experiment_source: str = "",
) -> tuple[list[dict], dict[str, dict[str, float | None]]]:
    """The bond-length and angle table: (rows, mean absolute deviations).

    ``parameters`` are dicts {"parameter": "O1-H2", "kind": "bond" | "angle", "values": {functional:
    value or None}, "experiment": value or None}, bonds in Angstrom, angles in degrees. Each row:
    "parameter", "unit" (Å or °), each functional's value, "experiment" and, where both exist, each
    functional minus experiment ("<f> − exp"); with two or more functionals, the first minus the second
    too. A value of None (e.g. an optimisation that did not converge) stays None: no number is made up.
    The mean absolute deviations from experiment, {"bond": {functional: Å}, "angle": {functional: °}},
    are over the parameters that have both numbers (None where there are none)."""
    rows, deviations = [], {"bond": {f: [] for f in functionals}, "angle": {f: [] for f in functionals}}
    for p in parameters:
        kind = p["kind"]
        if kind not in deviations:
            raise ValueError(f"unknown parameter kind {kind!r} (bond or angle)")
        row = {"parameter": p["parameter"], "unit": "Å" if kind == "bond" else "°"}
        values = {f: p["values"].get(f) for f in functionals}
        row.update(values)
        experiment = p.get("experiment")
        row["experiment"] = experiment
        for f in functionals:
            if values[f] is not None and experiment is not None:
                row[f"{f} − exp"] = values[f] - experiment
                deviations[kind][f].append(abs(values[f] - experiment))
            else:
                row[f"{f} − exp"] = None
        if len(functionals) >= 2:
            a, b = functionals[0], functionals[1]
            row[f"{a} − {b}"] = None if None in (values[a], values[b]) else values[a] - values[b]
        if experiment is not None and experiment_source:
            row["source"] = experiment_source
        rows.append(row)
    mad = {
        kind: {f: (sum(d) / len(d) if d else None) for f, d in by_functional.items()}
        for kind, by_functional in deviations.items()
    }
    return rows, mad


def mad_rows(mad: Mapping[str, Mapping[str, float | None]]) -> list[dict]:
    """The mean absolute deviations of comparison_rows as table rows: one row per kind that has any
    ("bond lengths", Å; "angles", °), one column per functional."""
    rows = []
    for kind, unit, title in (("bond", "Å", "bond lengths"), ("angle", "°", "angles")):
        values = mad.get(kind, {})
        if any(v is not None for v in values.values()):
            rows.append({"mean absolute deviation from experiment": title, "unit": unit, **values})
    return rows


def mode_caption(frequency_cm1: float, intensity: float | None = None) -> str:
    """A mode's caption: "1595 cm⁻¹, 70.1 km/mol", or "imaginary 312i cm⁻¹" for a negative wavenumber."""
    if frequency_cm1 < 0:
        text = f"imaginary {abs(frequency_cm1):.0f}i cm⁻¹"
    else:
        text = f"{frequency_cm1:.0f} cm⁻¹"
    return text + ("" if intensity is None else f", {intensity:.1f} km/mol")


def dumps_frames(frames: Sequence[Atoms], title: str = "") -> str:
    """The trajectory as a multi-frame XYZ file (Angstrom, frames as given; comment lines "<title>
    step <n>", n from 1), for download."""
    blocks = []
    for index, frame in enumerate(frames):
        symbols, xyz = _positions(frame)
        blocks.append(_xyz_block(symbols, xyz, _plain(f"{title} step {index + 1}".strip())))
    return "".join(blocks)


__all__ = [
    "comparison_rows",
    "dumps_frames",
    "ir_stick_figure",
    "mad_rows",
    "mode_caption",
    "mode_vectors",
    "mode_view_html",
    "trajectory_frames",
    "trajectory_view_html",
]
