"""The Fractional electrons page in a real Chromium: a paper demo runs and draws its figure."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_paper_demo_fractional_spin_of_h(open_app, page, wait_for_app, outside_requests, screenshot):
    open_app("Fractional_electrons")
    expect(page.get_by_role("heading", name="Fractional electrons")).to_be_visible()
    page.get_by_role("button", name="H atom fractional spin").click()
    expect(page.get_by_role("heading", name="Fractional spin: H / aug-cc-pvtz")).to_be_visible(
        timeout=600_000
    )
    wait_for_app(page, timeout=120_000)
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    expect(chart).to_be_visible()
    page.wait_for_timeout(500)  # plotly draws after the element appears
    screenshot("paper_demo_h_fractional_spin", chart)
    assert page.get_by_test_id("stException").count() == 0
    assert outside_requests() == []


def test_two_results_shown_together_and_the_demo_leaves_the_shared_molecule(
    open_app, page, wait_for_app, outside_requests, screenshot
):
    """Issue 20 (8): a demo switched the molecule every page shares to H / aug-cc-pVTZ, and only one
    result was shown at a time. Now the demo runs on its own system and the last runs are kept, shown
    one below the other."""
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("Fractional_electrons")
    page.get_by_role("button", name="H atom fractional spin").click()
    first = "Fractional spin: H / aug-cc-pvtz, DM21, B3LYP, 5 points"
    expect(page.get_by_role("heading", name=first)).to_be_visible(timeout=600_000)
    wait_for_app(page, timeout=120_000)
    expect(page.get_by_text("The molecule chosen on the other pages is unchanged")).to_be_visible()
    # A second run of the same system with 3 points instead of 5: the slider one step (2) down.
    slider = page.get_by_test_id("stSlider").filter(has_text="Points").get_by_role("slider")
    slider.focus()
    page.keyboard.press("ArrowLeft")
    expect(slider).to_have_value("3")
    wait_for_app(page)
    page.get_by_role("button", name="Run", exact=True).click()
    second = "Fractional spin: H / aug-cc-pvtz, DM21, B3LYP, 3 points"
    expect(page.get_by_role("heading", name=second)).to_be_visible(timeout=600_000)
    wait_for_app(page, timeout=120_000)
    expect(page.get_by_role("heading", name=first)).to_be_visible()  # still shown, below the new one
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(2)
    shown = page.get_by_test_id("stMultiSelect").filter(has_text="Results shown")
    expect(shown).to_contain_text("3 points")
    expect(shown).to_contain_text("5 points")
    for index in range(2):
        charts.nth(index).scroll_into_view_if_needed()
        for name in ("DM21", "B3LYP", "exact: flat"):
            expect(charts.nth(index).locator("g.legend").get_by_text(name, exact=True)).to_be_visible()
    page.wait_for_timeout(500)  # plotly draws after the element appears
    screenshot("fractional_two_results_second_1280x800", charts.nth(1))
    page.get_by_role("heading", name=second).scroll_into_view_if_needed()
    screenshot("fractional_two_results_1280x800")
    # The shared chooser on the other pages still shows the default molecule, not the demo's H atom.
    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_text(re.compile(r"H2O, 10 electrons"))).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0
    assert outside_requests() == []
