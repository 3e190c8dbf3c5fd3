"""Geometry and vibrations for the browser (explorer.present.geometry): the trajectory HTML holds every
step as a 3Dmol.js frame (rigidly aligned, nothing else changed), the mode HTML holds each atom's
displacement for 3Dmol.js's vibrate, the IR sticks are one trace per functional in its colour with
wavenumbers in cm⁻¹ and intensities in km/mol, and the bond/angle rows carry the right deviations."""

import json
import re

import numpy as np
import pytest

from explorer.chem.molecules import from_library
from explorer.present.geometry import (
    MODE_AMPLITUDE,
    MODE_FRAMES,
    comparison_rows,
    dumps_frames,
    ir_stick_figure,
    mad_rows,
    mode_caption,
    mode_view_html,
    optimization_progress_figure,
    trajectory_frames,
    trajectory_view_html,
)
from explorer.present.plots import FUNCTIONAL_COLORS
from explorer.present.viewer3d import DEFAULT_JS_URL


def _water(stretch: float = 0.0) -> list[list]:
    """Water from the library, both O-H bonds lengthened by ``stretch`` Angstrom along themselves."""
    atoms = [[s, *p] for s, p in from_library("water").atoms]
    o = np.array(atoms[0][1:])
    for atom in atoms[1:]:
        h = np.array(atom[1:])
        atom[1:] = list(h + stretch * (h - o) / np.linalg.norm(h - o))
    return atoms


def _frames_of(html: str) -> list[np.ndarray]:
    """The positions of each frame the HTML gives 3Dmol.js (addModelsAsFrames' XYZ text)."""
    data = json.loads(re.search(r"\.addModelsAsFrames\((\".*?\"),\"xyz\"\)", html).group(1))
    lines, frames = data.splitlines(), []
    while lines:
        n = int(lines[0])
        frames.append(np.array([[float(v) for v in line.split()[1:4]] for line in lines[2 : 2 + n]]))
        lines = lines[2 + n :]
    return frames


def _distances(xyz) -> np.ndarray:
    xyz = np.asarray(xyz, dtype=float)
    return np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)


def _calls(html: str, method: str) -> list[str]:
    return re.findall(rf"\.{method}\((.*?)\);\n", html)


def test_trajectory_html_has_every_step_as_a_frame_with_its_labels_and_caption():
    steps = [_water(0.08), _water(0.03), _water(0.0)]
    captions = [f"step {i}: E = {-76.0 - i / 100:.2f} Ha" for i in range(3)]
    html = trajectory_view_html(steps, captions=captions)
    assert f"loadScriptAsync('{DEFAULT_JS_URL}')" in html
    assert not re.search(r"https?://", html)
    frames = _frames_of(html)
    assert len(frames) == 3
    # Each frame is its step moved rigidly: every interatomic distance is kept (1e-6 Angstrom, the
    # XYZ text's precision).
    for frame, step in zip(frames, steps, strict=True):
        assert np.allclose(_distances(frame), _distances([a[1:] for a in step]), atol=2e-6)
    # The last frame is seen face-on: water is planar, so it lies in z = 0.
    assert np.allclose(frames[-1][:, 2], 0.0, atol=1e-6)
    # Element labels follow their atoms frame by frame; the captions are shown one per frame.
    labels = [
        (json.loads(a), json.loads(b)) for a, b in re.findall(r"\.addLabel\((\"[^\"]*\"),(\{.*?\})\);", html)
    ]
    atom_labels = [(t, o) for t, o in labels if not o.get("useScreen")]
    assert len(atom_labels) == 9
    for text, options in atom_labels:
        p = options["position"]
        (index,) = [
            i
            for i, xyz in enumerate(frames[options["frame"]])
            if np.allclose([p["x"], p["y"], p["z"]], xyz, atol=1e-6)
        ]
        assert text == steps[0][index][0]
    assert [(t, o["frame"]) for t, o in labels if o.get("useScreen")] == [
        (c, i) for i, c in enumerate(captions)
    ]
    (animate,) = _calls(html, "animate")
    assert json.loads(animate)["loop"] == "backAndForth"
    # Same arguments, same HTML (Streamlit then keeps the frame); different steps, different HTML.
    assert html == trajectory_view_html(steps, captions=captions)
    assert html != trajectory_view_html(steps[1:], captions=captions[1:])


def test_trajectory_frames_undo_the_optimisers_rotations():
    final = np.array([a[1:] for a in _water()])
    angle = np.radians(40)
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    moved = final @ turn.T + [1.0, -2.0, 0.5]
    symbols = [a[0] for a in _water()]
    _, drawn = trajectory_frames([[[s, *p] for s, p in zip(symbols, moved, strict=True)], _water()])
    assert np.allclose(drawn[0], drawn[1], atol=1e-9)


def test_single_frame_is_drawn_still_and_bad_frames_are_refused():
    html = trajectory_view_html([_water()])
    assert len(_frames_of(html)) == 1 and not _calls(html, "animate")
    with pytest.raises(ValueError, match="same atoms"):
        trajectory_view_html([_water(), _water()[:2]])
    with pytest.raises(ValueError, match="captions"):
        trajectory_view_html([_water(), _water()], captions=["one"])
    with pytest.raises(ValueError, match="element symbol"):
        trajectory_view_html([[["<script>", 0, 0, 0]]])
    # A caption cannot close the page's script.
    assert (
        "</b>"
        not in trajectory_view_html([_water()], captions=["</b>"]).split("<body>")[1].split("</script>")[0]
    )


def test_dumps_frames_is_a_multiframe_xyz():
    text = dumps_frames([_water(0.1), _water()], title="B3LYP")
    lines = text.splitlines()
    assert lines[0] == "3" and lines[1] == "B3LYP step 1" and lines[6] == "B3LYP step 2" and len(lines) == 10
    assert [float(v) for v in lines[8].split()[1:]] == pytest.approx(_water()[1][1:], abs=1e-6)


def _bend_like_mode(atoms) -> np.ndarray:
    """A displacement with very different sizes per atom (O small, H large), as in water's bend."""
    return np.array([[0.0, 0.0, 0.07], [0.0, 0.42, -0.55], [0.0, -0.42, -0.55]])


def test_mode_html_carries_each_atoms_displacement_for_vibrate():
    atoms = _water()
    mode = _bend_like_mode(atoms)
    html = mode_view_html(atoms, mode, caption=mode_caption(1595.3, 70.04))
    data = json.loads(re.search(r"\.addModel\((\".*?\"),\"xyz\"\)", html).group(1))
    rows = [line.split() for line in data.splitlines()[2:]]
    assert [r[0] for r in rows] == ["O", "H", "H"] and all(len(r) == 7 for r in rows)
    xyz = np.array([[float(v) for v in r[1:4]] for r in rows])
    dxyz = np.array([[float(v) for v in r[4:7]] for r in rows])
    assert np.allclose(_distances(xyz), _distances([a[1:] for a in atoms]), atol=2e-6)
    # The displacement is the mode turned with the molecule and scaled: largest atom MODE_AMPLITUDE,
    # every dot product (lengths and angles between the atoms' motions) scaled by the same factor.
    scale = MODE_AMPLITUDE / np.linalg.norm(mode, axis=1).max()
    assert np.linalg.norm(dxyz, axis=1).max() == pytest.approx(MODE_AMPLITUDE, abs=1e-5)
    assert np.allclose(dxyz @ dxyz.T, scale**2 * (mode @ mode.T), atol=1e-5)
    # ... and its direction relative to the bonds is kept (H moves along its own O-H direction share).
    bonds = xyz[1:] - xyz[0]
    original = np.array([a[1:] for a in atoms])
    assert np.allclose(
        np.einsum("ij,ij->i", dxyz[1:], bonds),
        scale * np.einsum("ij,ij->i", mode[1:], original[1:] - original[0]),
        atol=1e-5,
    )
    assert _calls(html, "vibrate") == [f"{MODE_FRAMES},1,true"]
    assert json.loads(_calls(html, "animate")[0])["loop"] == "backAndForth"
    assert len(_calls(html, "addArrow")) == 3  # every atom moves
    assert "1595 cm\\u207b\\u00b9, 70.0 km/mol" in html
    assert not re.search(r"https?://", html)


def test_mode_refuses_a_wrong_shape_or_no_motion():
    with pytest.raises(ValueError, match="shape"):
        mode_view_html(_water(), np.zeros((2, 3)) + 1)
    with pytest.raises(ValueError, match="without any displacement"):
        mode_view_html(_water(), np.zeros((3, 3)))


def test_mode_caption_marks_imaginary_modes():
    assert mode_caption(-312.4) == "imaginary 312i cm⁻¹"
    assert mode_caption(3657.2, 2.25) == "3657 cm⁻¹, 2.2 km/mol"


def test_ir_sticks_one_trace_per_functional_in_its_colour_with_units():
    spectra = {
        "DM21": {"frequencies_cm1": [1610.0, 3800.0, 3900.0], "ir_intensities": [60.0, 5.0, 30.0]},
        "B3LYP": {"frequencies_cm1": [-120.0, 1690.0, 3700.0], "ir_intensities": [1.0, 70.0, 20.0]},
    }
    reference = {"label": "experiment", "frequencies_cm1": [1595.0, 3657.0, 3756.0]}
    figure = ir_stick_figure(spectra, reference=reference)
    sticks = [t for t in figure.data if t.mode == "lines" and t.legendgroup in spectra]
    assert [t.legendgroup for t in sticks] == ["DM21", "B3LYP"]
    for trace in sticks:
        assert trace.line.color == FUNCTIONAL_COLORS[trace.legendgroup]
    dm21, b3lyp = sticks
    assert list(dm21.x) == [1610.0, 1610.0, None, 3800.0, 3800.0, None, 3900.0, 3900.0, None]
    assert list(dm21.y) == [0.0, 60.0, None, 0.0, 5.0, None, 0.0, 30.0, None]
    # B3LYP's imaginary mode is not drawn and the legend says so.
    assert -120.0 not in list(b3lyp.x) and b3lyp.name == "B3LYP (1 imaginary not drawn)"
    tops = [t for t in figure.data if t.mode == "markers"]
    assert [(list(t.x), list(t.y), t.marker.color) for t in tops][1] == (
        [1690.0, 3700.0],
        [70.0, 20.0],
        FUNCTIONAL_COLORS["B3LYP"],
    )
    assert "cm⁻¹" in figure.layout.xaxis.title.text and "km/mol" in figure.layout.yaxis.title.text
    # High to low, 200 cm⁻¹ beyond the outermost sticks (3900 and the reference's 1595).
    assert list(figure.layout.xaxis.range) == [4100.0, 1395.0]
    references = [t for t in figure.data if t.legendgroup == "reference"]
    assert [t.x[0] for t in references] == reference["frequencies_cm1"]
    assert sum(bool(t.showlegend) for t in references) == 1
    with pytest.raises(ValueError, match="intensities"):
        ir_stick_figure({"PBE": {"frequencies_cm1": [1.0, 2.0], "ir_intensities": [1.0]}})


def test_comparison_rows_deviations_and_mean_absolute_deviations():
    parameters = [
        {
            "parameter": "O1-H2",
            "kind": "bond",
            "values": {"DM21": 0.960, "B3LYP": 0.965},
            "experiment": 0.958,
        },
        {"parameter": "O1-H3", "kind": "bond", "values": {"DM21": 0.962, "B3LYP": None}, "experiment": 0.954},
        {
            "parameter": "H2-O1-H3",
            "kind": "angle",
            "values": {"DM21": 104.0, "B3LYP": 103.5},
            "experiment": None,
        },
    ]
    rows, mad = comparison_rows(parameters, ["DM21", "B3LYP"], experiment_source="CCCBDB")
    first, second, angle = rows
    assert first["unit"] == "Å" and angle["unit"] == "°"
    assert first["DM21 − exp"] == pytest.approx(0.002) and first["B3LYP − exp"] == pytest.approx(0.007)
    assert first["DM21 − B3LYP"] == pytest.approx(-0.005) and first["source"] == "CCCBDB"
    # A missing value (an unconverged optimisation) makes no number.
    assert second["B3LYP"] is None and second["B3LYP − exp"] is None and second["DM21 − B3LYP"] is None
    assert angle["experiment"] is None and angle["DM21 − exp"] is None and "source" not in angle
    assert angle["DM21 − B3LYP"] == pytest.approx(0.5)
    assert mad["bond"]["DM21"] == pytest.approx((0.002 + 0.008) / 2)
    assert mad["bond"]["B3LYP"] == pytest.approx(0.007)
    assert mad["angle"] == {"DM21": None, "B3LYP": None}
    (row,) = mad_rows(mad)  # no angle has an experiment: no angle row
    assert (
        row["mean absolute deviation from experiment"] == "bond lengths"
        and row["DM21"] == mad["bond"]["DM21"]
    )
    with pytest.raises(ValueError, match="kind"):
        comparison_rows([{"parameter": "x", "kind": "dihedral", "values": {}}], ["DM21"])


def test_progress_figure_energy_relative_and_gradient_on_a_log_axis():
    histories = {
        "B3LYP": [
            {"step": 0, "energy": -76.30, "max_gradient": 2e-2},
            {"step": 1, "energy": -76.31, "max_gradient": 1e-4},
        ],
        "PBE": [{"step": 0, "energy": -76.20, "max_gradient": 3e-2}],
    }
    figure = optimization_progress_figure(histories, threshold=3e-4)
    energy = [t for t in figure.data if t.xaxis == "x"]
    gradient = [t for t in figure.data if t.xaxis == "x2"]
    assert [t.name for t in energy] == ["B3LYP", "PBE"]
    assert [t.line.color for t in energy] == [FUNCTIONAL_COLORS["B3LYP"], FUNCTIONAL_COLORS["PBE"]]
    # -0.01 Ha is -6.275 kcal/mol (CODATA: 627.5095 kcal/mol per Hartree).
    assert list(energy[0].y) == pytest.approx([0.0, -6.2751], abs=1e-3)
    assert list(gradient[0].y) == [2e-2, 1e-4] and figure.layout.yaxis2.type == "log"
    assert figure.layout.yaxis.title.text == "E − E(first step) (kcal/mol)"
    assert "Ha/bohr" in figure.layout.yaxis2.title.text
    assert figure.layout.shapes[0].y0 == 3e-4
