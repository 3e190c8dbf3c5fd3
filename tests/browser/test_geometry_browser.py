"""The Geometry and vibrations page in a real Chromium at 1280x800: water typed as a SMILES, optimised with
DM21 and B3LYP side by side, each trajectory playing in its 3D view, the bond/angle tables against the
library's experimental structure; then (B3LYP and PBE from a shared link, fast) frequencies, the IR
sticks, and a chosen normal mode vibrating."""

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HEADING = "Optimised geometries: O / sto-3g"


def _viewers(page, prefix: str) -> list[dict]:
    """The 3Dmol.js viewers on the page whose names start with viewer_<prefix> (t: a trajectory, m: a
    mode): how many frames each holds, the frame shown now, and whether it is animating."""
    found = []
    for frame in page.frames:
        if frame.url != "about:srcdoc":
            continue
        state = frame.evaluate(
            """(prefix) => {
                if (typeof $3Dmol !== 'object') return null;
                const name = Object.keys(window).find(k => k.startsWith('viewer_' + prefix) && window[k]);
                if (!name) return null;
                const v = window[name];
                return {frames: v.getNumFrames(), frame: v.getFrame(), animated: v.isAnimated(),
                        atoms: v.selectedAtoms({}).length};
            }""",
            prefix,
        )
        if state is not None:
            found.append(state)
    return found


def _wait_for(condition, page, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(250)
    return condition()


def _frames_seen(page, prefix: str, seconds: float = 3.0) -> set[int]:
    """The frames the first viewer <prefix> showed while it was watched for ``seconds``."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        viewers = _viewers(page, prefix)
        if viewers:
            seen.add(viewers[0]["frame"])
        page.wait_for_timeout(40)
    return seen


def _optimise_typed_water(page, open_app, wait_for_app, choose, ensure_functionals) -> None:
    """Opens the page, types water's SMILES, chooses STO-3G, keeps the default functionals (DM21 and
    B3LYP) and runs the optimisations."""
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("Geometry")
    expect(page.get_by_role("heading", name="Geometry and vibrations")).to_be_visible()
    page.get_by_test_id("stButtonGroup").get_by_role("radio", name="SMILES", exact=True).click()
    box = page.get_by_role("textbox", name="SMILES")
    box.fill("O")
    box.press("Enter")
    expect(page.get_by_text(re.compile(r"H2O, 10 electrons"))).to_be_visible(timeout=60_000)
    wait_for_app(page)
    choose(page, "Basis set", "sto-3g")
    wait_for_app(page)
    ensure_functionals(page, ("DM21", "B3LYP"))  # a click during a rerun can empty the box (see there)
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"^7 basis functions"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Optimise").click()
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)


def test_typed_water_optimised_with_dm21_and_b3lyp_trajectories_and_table(
    choose, ensure_functionals, open_app, page, wait_for_app, outside_requests, screenshot
):
    _optimise_typed_water(page, open_app, wait_for_app, choose, ensure_functionals)
    # Two trajectory views, each with one frame per step, playing.
    viewers = _wait_for(lambda: len(_viewers(page, "t")) == 2 and _viewers(page, "t"), page)
    assert viewers, "the two trajectory views did not load"
    assert all(v["frames"] >= 2 and v["animated"] and v["atoms"] == 3 for v in viewers)
    assert len(_frames_seen(page, "t", seconds=2.5)) >= 2  # 600 ms per frame: the view moves
    for name in ("DM21", "B3LYP"):
        expect(page.get_by_text(re.compile(rf"^{name}: \d+ steps$"))).to_be_visible()
    # The tables: the typed water matched the library's experimental structure, with its source.
    expect(
        page.get_by_text(re.compile(r"Experiment: the library's structure of water\. Source: NIST CCCBDB"))
    ).to_be_visible()
    tables = page.get_by_test_id("stDataFrame")
    expect(tables).to_have_count(4)  # summary, bonds, angles, mean absolute deviations
    expect(page.get_by_text("B3LYP is PySCF's VWN-RPA flavour", exact=False)).to_be_visible()
    centre = "e => e.scrollIntoView({block: 'center'})"
    page.locator('iframe[data-testid="stIFrame"]').nth(1).evaluate(centre)
    screenshot("geometry_trajectories")  # the window, scrolled to the two trajectories
    tables.nth(1).evaluate(centre)
    screenshot("geometry_tables")
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []


def test_frequencies_ir_sticks_and_a_vibrating_mode(
    open_app, page, wait_for_app, outside_requests, screenshot
):
    # The same water with B3LYP and PBE (fast), opened from a shared link that shows the result: the
    # optimisations run at once (B3LYP's from the store after the test above).
    page.set_viewport_size({"width": 1280, "height": 800})
    link = "mi_source=SMILES&mi_smiles=O&mi_basis=sto-3g&mi_charge=0&mi_spin=0"
    open_app(f"Geometry?{link}&geo_functionals=B3LYP&geo_functionals=PBE&show=1")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)
    for name in ("B3LYP", "PBE"):
        expect(page.get_by_text(re.compile(rf"^{name}: \d+ steps$"))).to_be_visible()
    page.get_by_role("button", name="Compute frequencies").click()
    expect(page.get_by_text("Normal modes", exact=True)).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)
    expect(page.get_by_test_id("stMetric")).to_have_count(2)  # a zero-point energy per functional
    chart = page.get_by_test_id("stPlotlyChart").filter(has_text="wavenumber")
    chart.scroll_into_view_if_needed()
    for name in ("B3LYP", "PBE"):
        expect(chart.locator("g.legend").get_by_text(name, exact=True)).to_be_visible()
    # The chosen mode vibrates: 3Dmol.js's vibrate made 20 frames and the view runs through them.
    mode = page.get_by_test_id("stSelectbox").filter(has_text="Mode")
    mode.click()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("combobox", name="Mode")).to_have_value(re.compile(r"^3: \d+ cm⁻¹"))
    wait_for_app(page)
    viewers = _wait_for(lambda: _viewers(page, "m"), page)
    assert viewers and viewers[0]["frames"] == 20 and viewers[0]["animated"]
    assert len(_frames_seen(page, "m", seconds=1.5)) >= 3  # 50 ms per frame (each look takes longer)
    page.get_by_role("combobox", name="Mode").scroll_into_view_if_needed()
    screenshot("geometry_mode")
    screenshot("geometry_ir_sticks", chart)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
