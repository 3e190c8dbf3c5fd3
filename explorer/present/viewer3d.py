"""3D molecule views as self-contained HTML for a browser, built with py3Dmol (3Dmol.js).

The HTML loads 3Dmol.js from `js_url`, by default the copy the Streamlit app serves at
/app/static/3Dmol-min.js (setup.sh copies it there from the npm package `3dmol`), so a view needs no
internet. This module never imports streamlit: pages/ui/viewer.py puts the HTML on a page.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

import numpy as np
import py3Dmol

from explorer.chem.molecules import Molecule

#: Where the Streamlit app serves 3Dmol.js (./static/3Dmol-min.js with server.enableStaticServing).
DEFAULT_JS_URL = "/app/static/3Dmol-min.js"

#: Viewer backgrounds: white for a light page, Streamlit's dark background for a dark one.
LIGHT_BACKGROUND = "#ffffff"
DARK_BACKGROUND = "#0e1117"

#: Smallest radius (Angstrom) that zoomTo keeps in view: 3Dmol.js's default of 5 leaves water a speck.
MIN_ZOOM_RADIUS = 2.5

#: After zoomTo (which fits atom centres to the frame's height), zoom out to this fraction of the
#: frame's smaller side, so sphere edges and labels stay inside a frame narrower than it is high.
FIT_FRACTION = 0.9

#: Ball-and-stick in Jmol colours: thin sticks, spheres at a quarter of the van der Waals radius.
BALL_AND_STICK = {
    "stick": {"radius": 0.15, "colorscheme": "Jmol"},
    "sphere": {"scale": 0.25, "colorscheme": "Jmol"},
}


def label_style(dark: bool) -> dict:
    """3Dmol.js label options for an element symbol: small text on a half-transparent plate of
    the background colour, so labels read on both the light and the dark background."""
    return {
        "fontSize": 11,
        "fontColor": "#fafafa" if dark else "#111111",
        "backgroundColor": DARK_BACKGROUND if dark else LIGHT_BACKGROUND,
        "backgroundOpacity": 0.6,
        "borderThickness": 0,
        "inFront": True,
        "alignment": "center",
    }


def _principal_rotation(molecule: Molecule) -> tuple[np.ndarray, np.ndarray | None]:
    """(atom positions less their centroid, the proper rotation whose rows are the principal axes,
    largest spread first, each pointing to the atom farthest along it); no rotation (None) for one
    atom or coincident atoms."""
    xyz = np.array([position for _, position in molecule.atoms], dtype=float)
    centred = xyz - xyz.mean(axis=0)
    if len(xyz) < 2 or not np.any(centred):
        return centred, None
    _, _, vt = np.linalg.svd(centred, full_matrices=True)
    axes = vt[:2]
    for k in range(2):
        projection = centred @ axes[k]
        if projection[np.argmax(np.abs(projection))] < 0:
            axes[k] = -axes[k]
    return centred, np.vstack([axes, np.cross(axes[0], axes[1])])


def principal_axes_frame(molecule: Molecule) -> Molecule:
    """The same molecule rigidly moved so that its centroid is at the origin and its principal axes
    (of the unweighted atom positions) lie along x (largest spread), y and z (smallest spread).

    3Dmol.js looks down the z axis, so a planar molecule is seen face-on, not edge-on. Only proper
    rotations are used (a mirror image would change the handedness of a chiral molecule), and each
    axis points to the atom farthest along it, so the result does not depend on the input orientation
    except for exact symmetry ties."""
    centred, rotation = _principal_rotation(molecule)
    rotated = centred if rotation is None else centred @ rotation.T
    rotated = np.where(np.abs(rotated) < 1e-12, 0.0, rotated)
    atoms = tuple(
        (symbol, (float(x), float(y), float(z)))
        for (symbol, _), (x, y, z) in zip(molecule.atoms, rotated, strict=True)
    )
    return replace(molecule, atoms=atoms)


def _xyz_for_html(molecule: Molecule) -> str:
    """molecule.xyz() with <, > and & dropped from its free-text comment line, so that a name can never
    close the inline <script> the XYZ text is written into."""
    lines = molecule.xyz().split("\n")
    lines[1] = re.sub(r"[<>&]", "", lines[1])
    return "\n".join(lines)


def molecule_view_html(
    molecule: Molecule, *, js_url: str = DEFAULT_JS_URL, dark: bool = False, height: int = 420
) -> str:
    """An HTML document drawing `molecule` in 3D: ball-and-stick in Jmol colours with each atom's
    element symbol as a label, on a white (or, with `dark`, #0e1117) background, seen along its
    smallest principal axis (see principal_axes_frame) and zoomed to fit with a margin (also in a
    frame narrower than it is high), `height` pixels high and as wide as its frame. 3Dmol.js is
    loaded from `js_url` only.

    The result depends only on the arguments (no time-based element ids), so a page that shows the
    same view again gets the same HTML and Streamlit keeps the existing frame."""
    if not molecule.atoms:
        raise ValueError("a molecule without atoms has nothing to draw")
    molecule = principal_axes_frame(molecule)
    background = DARK_BACKGROUND if dark else LIGHT_BACKGROUND
    view = _labelled_view(molecule, background, dark, height, js_url)
    # No py3Dmol call for this: plain JavaScript run after the calls above, in the same callback.
    view.startjs += (
        "\t(function (viewer, box) {\n"
        "\t\tvar aspect = box.clientWidth / Math.max(1, box.clientHeight);\n"
        f"\t\tviewer.zoom(Math.min(1, aspect) * {FIT_FRACTION});\n"
        "\t})(viewer_UNIQUEID, document.getElementById('3dmolviewer_UNIQUEID'));\n"
    )
    key = [_xyz_for_html(molecule), js_url, dark, int(height)]
    return _page_html(view, "v", key, background)


def _face_on_rotation(molecule: Molecule) -> tuple[float, tuple[float, float, float]]:
    """(angle in degrees, unit axis) of the proper rotation taking the molecule's principal axes (as in
    principal_axes_frame) onto x, y, z; (0, z) when there is none to make."""
    _, rotation = _principal_rotation(molecule)
    if rotation is None:
        return 0.0, (0.0, 0.0, 1.0)
    cos = np.clip((np.trace(rotation) - 1) / 2, -1.0, 1.0)
    angle = float(np.degrees(np.arccos(cos)))
    if angle < 1e-6:
        return 0.0, (0.0, 0.0, 1.0)
    if angle > 179.999:
        # 180 degrees: the axis is the eigenvector of eigenvalue 1.
        w, v = np.linalg.eigh((rotation + rotation.T) / 2)
        axis = v[:, np.argmax(w)]
    else:
        axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0],
                         rotation[1, 0] - rotation[0, 1]])  # fmt: skip
    axis = axis / np.linalg.norm(axis)
    return angle, (float(axis[0]), float(axis[1]), float(axis[2]))


#: Isosurface colours: positive values (or a density) and negative values of a signed field, with
#: their names for the page's text. Blue and orange (told apart with colour-vision deficiencies); not
#: red, which in Jmol colours is oxygen: a red surface around an O atom could not be seen.
POSITIVE_COLOR = "#1f77b4"
NEGATIVE_COLOR = "#e69f00"
COLOR_NAMES = {POSITIVE_COLOR: "blue", NEGATIVE_COLOR: "orange"}


def volume_view_html(
    molecule: Molecule,
    cube: str,
    isovalue: float,
    *,
    signed: bool = False,
    opacity: float = 0.75,
    colors: tuple[str, str] = (POSITIVE_COLOR, NEGATIVE_COLOR),
    js_url: str = DEFAULT_JS_URL,
    dark: bool = False,
    height: int = 420,
) -> str:
    """An HTML document drawing `molecule` (ball-and-stick, element labels, in its own coordinates so
    that it sits inside the cube data) with the isosurface of the Gaussian cube text `cube` (bohr, as
    PySCF writes it) at `isovalue` in colors[0], and, with `signed`, a second surface at -`isovalue`
    in colors[1] (for differences and spin densities). 3Dmol.js is loaded from `js_url` only; the cube
    is parsed once in the page (3Dmol.VolumeData converts bohr to Angstrom).

    Like molecule_view_html, the HTML depends only on the arguments."""
    if not molecule.atoms:
        raise ValueError("a molecule without atoms has nothing to draw")
    background = DARK_BACKGROUND if dark else LIGHT_BACKGROUND
    view = _labelled_view(molecule, background, dark, height, js_url)
    angle, axis = _face_on_rotation(molecule)
    if angle:
        # Turn the scene (not the data, which must stay in the cube's frame) so that the molecule is
        # seen along its smallest principal axis, as molecule_view_html shows it.
        view.rotate(angle, {"x": axis[0], "y": axis[1], "z": axis[2]})
    surfaces = [{"isoval": float(isovalue), "color": colors[0], "opacity": float(opacity)}]
    if signed:
        surfaces.append({"isoval": -float(isovalue), "color": colors[1], "opacity": float(opacity)})
    # The cube goes into an inline <script>: escape "<" so no text in it can close the script.
    data = json.dumps(cube).replace("<", "\\u003c")
    view.startjs += (
        "\t(function (viewer) {\n"
        f'\t\tvar volume = new $3Dmol.VolumeData({data}, "cube");\n'
        f"\t\t{json.dumps(surfaces)}.forEach(function (s) {{ viewer.addIsosurface(volume, s); }});\n"
        "\t})(viewer_UNIQUEID);\n"
    )
    key = [
        _xyz_for_html(molecule),
        hashlib.sha256(cube.encode()).hexdigest(),
        surfaces,
        js_url,
        dark,
        int(height),
    ]
    return _page_html(view, "w", key, background)


def _labelled_view(molecule: Molecule, background: str, dark: bool, height: int, js_url: str):
    """A py3Dmol view of ``molecule``: ball and stick, element labels, zoomed to fit."""
    view = py3Dmol.view(width="100%", height=f"{int(height)}px", js=js_url)
    view.addModel(_xyz_for_html(molecule), "xyz")
    view.setStyle({}, BALL_AND_STICK)
    view.setBackgroundColor(background)
    labels = label_style(dark)
    for symbol, (x, y, z) in molecule.atoms:
        view.addLabel(symbol, {**labels, "position": {"x": x, "y": y, "z": z}})
    view.zoomTo()
    return view


def _page_html(view, prefix: str, key: list, background: str) -> str:
    """The whole HTML page of a py3Dmol view, identical for identical ``key`` data."""
    body = view.write_html()
    # py3Dmol names the elements and variables "<prefix>_<time stamp>"; a digest of the arguments
    # gives the same HTML for the same view.
    stable_id = prefix + hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]
    body = body.replace(f"_{view.uniqueid}", f"_{stable_id}")
    # py3Dmol creates the viewer with {backgroundColor:"white"}: start on the right background and
    # let small molecules fill the view.
    config = {"backgroundColor": background, "minimumZoomToDistance": MIN_ZOOM_RADIUS}
    body = body.replace('{backgroundColor:"white"}', json.dumps(config))
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<style>html, body {{ margin: 0; overflow: hidden; background: {background}; }}</style>\n"
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )
