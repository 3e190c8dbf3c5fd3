"""Streamlit helper (not a page): show a molecule in the offline 3D viewer.

Import it from a page as `from pages.ui.viewer import show_molecule` (Streamlit puts the app folder on
sys.path). 3Dmol.js comes from the app's own static folder (./static/3Dmol-min.js, served at
/app/static/ by server.enableStaticServing and filled by setup.sh), never from a CDN.
"""

from __future__ import annotations

import streamlit as st

from explorer.chem.molecules import Molecule
from explorer.present.viewer3d import molecule_view_html


def static_url(name: str) -> str:
    """The absolute path at which the Streamlit server serves ./static/<name>, including any
    server.baseUrlPath. st.iframe frames with HTML content are srcdoc documents, which resolve such a path
    against the app's own origin."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/app/static/{name}" if base else f"/app/static/{name}"


def theme_is_dark() -> bool:
    """Whether the browser shows the app in a dark theme (st.context.theme.type); light when unknown."""
    try:
        return st.context.theme.type == "dark"
    except (AttributeError, KeyError):
        return False


def show_molecule(molecule: Molecule, height: int = 420) -> None:
    """Draws `molecule` in 3D (ball-and-stick, element labels) in a frame `height` pixels high, on a
    background that follows the app's light or dark theme."""
    html = molecule_view_html(
        molecule, js_url=static_url("3Dmol-min.js"), dark=theme_is_dark(), height=height
    )
    st.iframe(html, height=height)  # our own HTML: atoms from validated molecules only


def show_volume(
    molecule: Molecule, cube: str, isovalue: float, signed: bool = False, height: int = 420
) -> None:
    """Draws `molecule` with the isosurface(s) of the cube text `cube` at `isovalue` (and at
    -`isovalue` in a second colour when `signed`), in the offline 3D viewer."""
    from explorer.present.viewer3d import volume_view_html

    html = volume_view_html(
        molecule,
        cube,
        isovalue,
        signed=signed,
        js_url=static_url("3Dmol-min.js"),
        dark=theme_is_dark(),
        height=height,
    )
    st.iframe(html, height=height)  # our own HTML: validated atoms and numbers written by PySCF
