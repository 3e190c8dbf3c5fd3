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


def test_ch2_labels_vertical_against_adiabatic_and_highlights_each_error(
    choose, open_app, page, wait_for_app, outside_requests, screenshot
):
    """Issue 20 (6): the CH2 preset compared a one-geometry gap with an adiabatic experiment, unlabelled,
    and highlighted DM21 − B3LYP. Now the view says which gap is which, and highlights each functional's
    error against the reference; the gap table shows 2 decimals in kcal/mol."""
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("Spin_states")
    expect(page.get_by_text(re.compile(r"CH2, 8 electrons"))).to_be_visible()  # the default preset
    choose(page, "Basis set", "sto-3g")
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()  # B3LYP and DM21, the page's defaults
    expect(page.get_by_role("heading", name="Spin states: CH2 (methylene) / sto-3g")).to_be_visible(
        timeout=300_000
    )
    wait_for_app(page, timeout=120_000)
    note = page.get_by_test_id("stAlertContentInfo").filter(has_text="Computed gaps")
    expect(note).to_contain_text("Computed gaps: vertical")
    expect(note).to_contain_text("Reference: adiabatic T0")
    expect(note).to_contain_text("Leopold")
    # The highlighted numbers: each functional's error against the reference, rounded to 0.01 kcal/mol.
    cards = page.get_by_test_id("stMetric")
    expect(cards).to_have_count(2)
    for index, functional in enumerate(("B3LYP", "DM21")):
        card = cards.nth(index)
        expect(card.get_by_test_id("stMetricLabel")).to_have_text(f"{functional} − reference")
        expect(card.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"^[+-]\d+\.\d\d kcal/mol$"))
    expect(page.get_by_text("DM21 − B3LYP")).to_have_count(0)
    # The level diagram: a column per functional, labelled vertical, and the adiabatic reference.
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    for name in ("B3LYP (vertical)", "DM21 (vertical)", "reference (adiabatic)"):
        expect(chart.locator("g.legend").get_by_text(name, exact=True)).to_be_visible()
    page.wait_for_timeout(500)  # plotly draws after the element appears
    screenshot("spin_states_ch2_levels_1280x800", chart)
    cards.first.scroll_into_view_if_needed()
    screenshot("spin_states_ch2_errors_1280x800", page.get_by_test_id("stMainBlockContainer"))
    screenshot("spin_states_ch2_page_1280x800")
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
