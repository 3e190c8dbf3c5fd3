"""A class in a real Chromium: two sessions at once on the Compare page, which runs on the shared task
cluster; one cancels its comparison while it runs, the other's comparison completes, and the cancelled
one runs to its table when asked again."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _start(page) -> None:
    # The page's defaults: water, 6-31G, DM21 and B3LYP (a fresh database: nothing stored yet).
    expect(page.get_by_text(re.compile(r"H2O, 10 electrons"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Run comparison").click()


def test_two_sessions_one_cancels_the_other_completes(
    open_app, page, new_browser_context, streamlit_app, wait_for_app, outside_requests, screenshot
):
    open_app("Compare")
    other = new_browser_context().new_page()
    other.set_default_timeout(30_000)
    other.goto(f"{streamlit_app}/Compare")
    wait_for_app(other)

    _start(page)
    _start(other)
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"Queue: \d+ of \d+ done"))).to_be_visible(timeout=60_000)
    screenshot("class_running")
    cancel.click()
    expect(page.get_by_text("Cancelled.")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    assert page.get_by_test_id("stDataFrame").count() == 0  # no numbers from a cancelled run

    # The other session asked for the same calculations: cancelling one session's request leaves the
    # shared tasks running for the other, which gets its table.
    expect(other.get_by_test_id("stDataFrame").first).to_be_visible(timeout=300_000)
    wait_for_app(other, timeout=120_000)
    assert other.get_by_test_id("stAlertContentError").count() == 0

    page.get_by_role("button", name="Run comparison").click()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=300_000)
    wait_for_app(page, timeout=120_000)
    screenshot("class_after_cancel")
    for p in (page, other):
        assert p.get_by_test_id("stException").count() == 0
    assert outside_requests() == []
