"""The Densities and XC maps page in a real Chromium: water's isosurface in the 3D viewer and DM21's
XC energy-density map beside B3LYP's, with no request leaving 127.0.0.1."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

VIEWER = 'iframe[data-testid="stIFrame"]'


def test_water_isosurface_and_xc_map(choose, open_app, page, wait_for_app, outside_requests, screenshot):
    open_app("Densities")
    expect(page.get_by_role("heading", name="Densities and XC maps")).to_be_visible()
    choose(page, "Basis set", "sto-3g")
    wait_for_app(page)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text(re.compile(r"DM21 density sums to"))).to_be_visible(timeout=600_000)
    wait_for_app(page, timeout=120_000)
    volume = page.frame_locator(VIEWER).nth(1)  # the molecule chooser's view is the first frame
    expect(volume.locator("canvas")).to_have_count(1, timeout=30_000)
    frame = page.locator(VIEWER).nth(1)
    frame.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # 3Dmol.js builds the isosurface after the canvas appears
    screenshot("maps_density_isosurface", frame)

    page.get_by_test_id("stButtonGroup").get_by_role("radio", name="XC map", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"molecular plane: water . sto-3g"))).to_be_visible(
        timeout=300_000
    )
    wait_for_app(page, timeout=120_000)
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    expect(chart.locator(".heatmaplayer").first).to_be_attached()
    page.wait_for_timeout(500)  # plotly draws after the element appears
    screenshot("maps_xc_energy_density", chart)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
