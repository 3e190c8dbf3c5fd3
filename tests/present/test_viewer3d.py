"""The 3D viewer HTML loads 3Dmol.js only from the app (no CDN) and draws every atom; setup.sh put
3Dmol.js in static/."""

import json
import re
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from explorer.chem.molecules import Molecule, from_library
from explorer.present.viewer3d import (
    COLOR_NAMES,
    DARK_BACKGROUND,
    DEFAULT_JS_URL,
    LIGHT_BACKGROUND,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    molecule_view_html,
    principal_axes_frame,
    volume_view_html,
)

ROOT = Path(__file__).resolve().parents[2]


def _labels(html: str) -> list[tuple[str, dict]]:
    calls = re.findall(r"\.addLabel\((\"[^\"]*\"),(\{.*?\})\);", html)
    return [(json.loads(text), json.loads(options)) for text, options in calls]


def test_html_loads_3dmol_from_the_app_only():
    html = molecule_view_html(from_library("water"))
    assert f"loadScriptAsync('{DEFAULT_JS_URL}')" in html
    assert not re.search(r"https?://", html), "the viewer must not reference any outside URL"
    assert "<script src=" not in html.replace(" ", "")


def test_custom_js_url_and_height():
    html = molecule_view_html(from_library("water"), js_url="/base/app/static/3Dmol-min.js", height=300)
    assert "loadScriptAsync('/base/app/static/3Dmol-min.js')" in html
    assert "height: 300px" in html


def test_every_atom_is_drawn_and_labelled():
    benzene = from_library("benzene")
    html = molecule_view_html(benzene)
    model = json.loads(re.search(r"\.addModel\((\".*?\"),\"xyz\"\)", html).group(1))
    lines = model.splitlines()
    assert int(lines[0]) == len(benzene.atoms) == 12
    assert [line.split()[0] for line in lines[2:]] == [s for s, _ in benzene.atoms]
    labels = _labels(html)
    assert sorted(text for text, _ in labels) == sorted(s for s, _ in benzene.atoms)
    # Each label sits on its atom (in the drawn frame).
    drawn = [tuple(map(float, line.split()[1:])) for line in lines[2:]]
    for (_, options), xyz in zip(labels, drawn, strict=True):
        p = options["position"]
        assert np.allclose([p["x"], p["y"], p["z"]], xyz, atol=1e-6)


def test_ball_and_stick_in_jmol_colours():
    html = molecule_view_html(from_library("water"))
    style = json.loads(re.search(r"\.setStyle\(\{\},(\{.*?\})\);", html).group(1))
    assert style["stick"]["colorscheme"] == style["sphere"]["colorscheme"] == "Jmol"
    assert 0.1 <= style["stick"]["radius"] <= 0.2 and 0.2 <= style["sphere"]["scale"] <= 0.3
    assert html.rstrip().endswith("</html>") and ".zoomTo();" in html and ".render();" in html
    assert "viewer.zoom(Math.min(1, aspect) * 0.9)" in html  # margin, also in a narrow frame


def test_background_follows_the_theme():
    light = molecule_view_html(from_library("water"))
    dark = molecule_view_html(from_library("water"), dark=True)
    assert f'setBackgroundColor("{LIGHT_BACKGROUND}")' in light and DARK_BACKGROUND not in light
    assert f'setBackgroundColor("{DARK_BACKGROUND}")' in dark
    assert f'"backgroundColor": "{DARK_BACKGROUND}"' in dark  # the viewer is created dark, no white flash
    assert f"background: {DARK_BACKGROUND}" in dark
    light_font = {o["fontColor"] for _, o in _labels(light)}
    dark_font = {o["fontColor"] for _, o in _labels(dark)}
    assert light_font != dark_font
    assert "minimumZoomToDistance" in light


def test_same_view_gives_same_html_different_views_differ():
    water = from_library("water")
    assert molecule_view_html(water) == molecule_view_html(water)
    assert molecule_view_html(water) != molecule_view_html(water, dark=True)
    assert "UNIQUEID" not in molecule_view_html(water)


def test_principal_axes_frame_is_a_proper_rotation_seen_face_on():
    water = from_library("water")  # lies in the yz plane
    moved = principal_axes_frame(water)
    before = np.array([p for _, p in water.atoms])
    after = np.array([p for _, p in moved.atoms])
    assert np.allclose(after.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(after[:, 2], 0, atol=1e-9)  # planar molecule in the screen plane
    # Distances kept, handedness kept (no mirror image).
    d = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    assert np.allclose(d(before), d(after))
    chiral = Molecule(
        atoms=(
            ("C", (0.0, 0.0, 0.0)),
            ("F", (1.0, 0.0, 0.2)),
            ("Cl", (-0.4, 1.3, 0.1)),
            ("Br", (-0.3, -0.5, 1.5)),
            ("H", (-0.2, -0.4, -1.0)),
        )
    )
    a = np.array([p for _, p in chiral.atoms])
    b = np.array([p for _, p in principal_axes_frame(chiral).atoms])
    volume = lambda x: np.linalg.det(x[1:4] - x[0])  # noqa: E731
    assert np.isclose(volume(a), volume(b))
    assert principal_axes_frame(from_library("H")).atoms[0][1] == (0.0, 0.0, 0.0)


def test_a_name_cannot_break_out_of_the_script():
    water = from_library("water")
    named = Molecule(atoms=water.atoms, name="</script><script>alert(1)</script>")
    html = molecule_view_html(named)
    assert html.count("</script>") == 1 and "alert(1)" in html


def test_empty_molecule_is_rejected():
    with pytest.raises(ValueError):
        molecule_view_html(Molecule(atoms=()))


def test_setup_put_3dmol_in_static():
    js = ROOT / "static" / "3Dmol-min.js"
    assert js.is_file(), "static/3Dmol-min.js is missing: run `bash setup.sh` (it copies it from npm's 3dmol)"
    assert js.stat().st_size > 100_000
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/3dmol"]["version"] == "2.5.5"
    installed = json.loads((ROOT / "node_modules" / "3dmol" / "package.json").read_text())
    assert installed["version"] == "2.5.5" == metadata.version("py3Dmol")  # py3Dmol matches 3Dmol.js
    assert js.read_bytes() == (ROOT / "node_modules" / "3dmol" / "build" / "3Dmol-min.js").read_bytes()


def test_signed_surfaces_are_blue_and_orange_never_an_atom_colour():
    from explorer.analyses import maps

    water = from_library("water", basis="sto-3g")
    cube = maps.make_cube(water.to_pyscf(), points=4)
    text = maps.cube_text(cube, np.zeros(64), "zero field")
    html = volume_view_html(water, text, 2e-4, signed=True)
    surfaces = json.loads(re.search(r"(\[\{\"isoval\".*?\}\])\.forEach", html).group(1))
    assert [(s["isoval"], s["color"]) for s in surfaces] == [(2e-4, POSITIVE_COLOR), (-2e-4, NEGATIVE_COLOR)]
    assert COLOR_NAMES == {POSITIVE_COLOR: "blue", NEGATIVE_COLOR: "orange"}
    # Not the Jmol colours of H, C, N, O (white, grey, blue, red): the surfaces must stand out from the atoms.
    jmol = {"#ffffff", "#909090", "#3050f8", "#ff0d0d"}
    assert not {POSITIVE_COLOR.lower(), NEGATIVE_COLOR.lower()} & jmol
