"""The Spin states page in a real Chromium: O2's broken-symmetry singlet and triplet with B3LYP, the
level diagram, the gap table with its reference, and the contamination warning."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_o2_broken_symmetry_levels_and_gaps(
    choose, open_app, page, wait_for_app, outside_requests, screenshot
):
    open_app("Spin_states")
    expect(page.get_by_role("heading", name="Spin states")).to_be_visible()
    choose(page, "System", "O2 (oxygen)")
    expect(page.get_by_text(re.compile(r"O2, 16 electrons"))).to_be_visible()
    wait_for_app(page)
    choose(page, "Basis set", "sto-3g")
    wait_for_app(page)
    functionals = page.get_by_test_id("stMultiSelect").filter(has_text="Functionals")
    functionals.locator("input").click()
    page.keyboard.press("Backspace")  # removes the last chosen functional, DM21: B3LYP alone is fast
    page.keyboard.press("Escape")
    expect(functionals.get_by_text("DM21", exact=True)).to_have_count(0)
    wait_for_app(page)
    page.get_by_text("Singlet as broken-symmetry UKS").click()
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Spin states: O2 (oxygen) / sto-3g")).to_be_visible(
        timeout=300_000
    )
    wait_for_app(page, timeout=120_000)
    expect(page.get_by_text(re.compile(r"spin-contaminated"))).to_be_visible()
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    expect(chart).to_be_visible()
    page.wait_for_timeout(500)  # plotly draws after the element appears
    screenshot("spin_states_o2_levels", chart)
    screenshot("spin_states_o2_page")
    assert page.get_by_test_id("stDataFrame").count() == 2  # gaps and states
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
