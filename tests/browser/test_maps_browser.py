"""The Densities and XC maps page in a real Chromium at 1280x800: water's DM21 − B3LYP density-difference
isosurface drawn by default at an isovalue chosen from the data, the density and XC line profiles with
both functionals visible and a stated scale, and the XC maps each at full width, with no request leaving
127.0.0.1."""

import json
import re

import numpy as np
import pytest
from playwright.sync_api import expect

from explorer.analyses import maps

pytestmark = pytest.mark.browser

VIEWER = 'iframe[data-testid="stIFrame"]'

#: In the isosurface frame: per surface, its vertex count and how many vertices lie more than 0.5 Å
#: from every nucleus, outside the drawn atom spheres (radius a quarter of the van der Waals radius:
#: 0.38 Å for O, 0.30 Å for H). Vertices are in Å: 3Dmol.VolumeData converts the cube's bohr.
SURFACE_VERTICES = """() => {
    const key = Object.keys(window).find(k => k.startsWith("viewer_") && window[k] && window[k].shapes);
    const viewer = window[key];
    const atoms = viewer.getModel().selectedAtoms({});
    return viewer.shapes.map(shape => {
        let vertices = 0, outside = 0;
        for (const group of shape.geo.geometryGroups) {
            const v = group.vertexArray;
            for (let i = 0; i < group.vertices; i++) {
                vertices++;
                const [x, y, z] = [v[3 * i], v[3 * i + 1], v[3 * i + 2]];
                if (atoms.every(a => (a.x - x) ** 2 + (a.y - y) ** 2 + (a.z - z) ** 2 > 0.25)) outside++;
            }
        }
        return {vertices, outside};
    });
}"""


def _volume_data(srcdoc: str) -> tuple[np.ndarray, list[float]]:
    """(cube values, isovalues of the surfaces) that the isosurface frame's HTML gives 3Dmol.js."""
    start = srcdoc.index("new $3Dmol.VolumeData(") + len("new $3Dmol.VolumeData(")
    cube, _ = json.JSONDecoder().raw_decode(srcdoc, start)
    surfaces = json.loads(re.search(r"(\[\{\"isoval\".*?\}\])\.forEach", srcdoc).group(1))
    return maps.read_cube(cube)[2], [s["isoval"] for s in surfaces]


def _surfaces(page) -> list[dict]:
    """SURFACE_VERTICES of the isosurface frame (the second: the molecule chooser's view is the first),
    once 3Dmol.js has built both surfaces."""
    frame = page.locator(VIEWER).nth(1).element_handle().content_frame()
    frame.wait_for_function("() => Object.keys(window).some(k => k.startsWith('viewer_') && window[k] "
                            "&& window[k].shapes && window[k].shapes.length === 2)")  # fmt: skip
    return frame.evaluate(SURFACE_VERTICES)


def test_water_difference_isosurface_profiles_and_xc_maps(
    choose, open_app, page, wait_for_app, outside_requests, screenshot
):
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("Densities")
    expect(page.get_by_role("heading", name="Densities and XC maps")).to_be_visible()
    choose(page, "Basis set", "sto-3g")
    wait_for_app(page)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text(re.compile(r"DM21 density sums to"))).to_be_visible(timeout=600_000)
    wait_for_app(page, timeout=120_000)
    expect(page.locator(VIEWER).nth(1)).to_be_attached()

    # The difference surface, by default at the isovalue enclosing 3/4 of ∫|Δρ| dr on the cube.
    page.get_by_text("DM21 − B3LYP density", exact=True).click()
    stated = page.get_by_text(re.compile(r"Default isovalue .* from the data"))
    expect(stated).to_be_visible(timeout=60_000)
    wait_for_app(page)
    default = float(re.search(r"Default isovalue ([0-9.e-]+)", stated.inner_text()).group(1))
    assert re.search(r"enclose 75% of ∫\|value\| dr", stated.inner_text())
    expect(page.get_by_text(re.compile(r"blue at \+.*more electrons; orange at −"))).to_be_visible()
    values, isovalues = _volume_data(page.locator(VIEWER).nth(1).get_attribute("srcdoc"))
    assert isovalues == [default, -default]  # what the page states is what the viewer draws
    magnitude = np.abs(values)
    assert magnitude.min() < default < magnitude.max()
    # Two significant digits of the isovalue shift the enclosed share by a few points at most.
    assert maps.enclosed_fraction(values, default) == pytest.approx(0.75, abs=0.03)
    drawn = _surfaces(page)
    # Both surfaces exist and most of each lies outside the atom spheres, where it can be seen.
    assert all(s["vertices"] > 100 and s["outside"] > 0.5 * s["vertices"] for s in drawn), drawn
    view = page.get_by_test_id("stHorizontalBlock").filter(has_text="Isovalue (electrons/bohr³)").last
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # 3Dmol.js renders the built surfaces on its next frame
    screenshot("maps_difference_isosurface_default", view)

    # The old fixed default, 1e-3, up the slider: what it draws hides inside the spheres.
    for _ in range(8):
        shown = re.search(r"At ([0-9.e-]+) they enclose", stated.inner_text()).group(1)
        if shown == "0.001":
            break
        page.get_by_role("slider").press("ArrowRight")  # one step, then wait for its rerun
        expect(stated).not_to_have_text(re.compile(rf"At {re.escape(shown)} they"))
        wait_for_app(page)
    expect(stated).to_have_text(re.compile(r"At 0\.001 they enclose"))
    hidden = _surfaces(page)
    assert all(s["outside"] < 0.5 * max(s["vertices"], 1) for s in hidden), hidden

    # The density profile: DM21 solid, B3LYP dashed over it, the difference on its own axis below.
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    expect(chart.locator(".legendtext", has_text="DM21 − B3LYP")).to_be_visible()
    assert chart.locator(".legendtext").all_text_contents() == ["DM21", "B3LYP", "DM21 − B3LYP"]
    expect(page.get_by_text(re.compile(r"DM21 is drawn wide and solid and B3LYP dashed"))).to_be_visible()
    page.wait_for_timeout(500)  # plotly draws after the element appears
    screenshot("maps_density_profile", chart)

    page.get_by_test_id("stButtonGroup").get_by_role("radio", name="XC map", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"molecular plane: water . sto-3g"))).to_be_visible(
        timeout=300_000
    )
    expect(page.get_by_test_id("stDataFrame")).to_be_visible(timeout=300_000)
    wait_for_app(page, timeout=120_000)
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(5)
    # Every map and the profile at the main column's full width (not in half-width columns).
    column = page.get_by_test_id("stMainBlockContainer").evaluate(
        "e => { const s = getComputedStyle(e);"
        " return e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }"
    )
    widths = [charts.nth(k).bounding_box()["width"] for k in range(5)]
    assert all(w > 0.95 * column for w in widths), (widths, column)
    # The XC profile's top axis is fitted to the bonding region, and the page says so: its lowest tick
    # is above -1 Ha/bohr³, while e_xc reaches -932 at the O nucleus.
    profile = charts.nth(4)
    profile.scroll_into_view_if_needed()
    low, high = profile.locator(".js-plotly-plot").evaluate("p => p._fullLayout.yaxis.range")
    lowest = profile.locator(".js-plotly-plot").evaluate("p => Math.min(...p._fullData[0].y)")
    assert -1.0 < low < -0.5 < high and lowest < -500
    expect(
        page.get_by_text(re.compile(r"Vertical scales fitted to the points more than 0\.3 Å"))
    ).to_be_visible()
    page.wait_for_timeout(500)
    screenshot("maps_xc_profile_fitted_scale", profile)
    for k, name in enumerate(("e_xc", "difference", "enhancement", "hf_exchange")):
        charts.nth(k).scroll_into_view_if_needed()
        screenshot(f"maps_xc_map_{name}", charts.nth(k))
    charts.nth(1).scroll_into_view_if_needed()
    screenshot("maps_xc_maps_at_1280x800")  # the window as a student sees it
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
