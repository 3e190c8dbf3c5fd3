"""The Fractional electrons page in a real Chromium: a paper demo runs and draws its figure."""

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
