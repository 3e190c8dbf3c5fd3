"""Shareable links (issue 19, part 3) in a real Chromium: a link copied from a calculation page, after a
result was shown, reopens the same view with the same choices in a fresh browser context and shows the
result at once, served from the results store (no new calculation: the store's row count is unchanged)."""

import re

import pytest
from playwright.sync_api import expect

from explorer.runs.store import ResultsStore

pytestmark = pytest.mark.browser


def _copied_link(page) -> str:
    """The link the page's "Share this view" control offers to copy."""
    page.get_by_role("button", name=re.compile("Share this view")).click()
    code = page.get_by_test_id("stCode").last
    expect(code).to_be_visible()
    link = code.inner_text().strip()
    page.keyboard.press("Escape")
    return link


def _fresh_page(new_browser_context):
    page = new_browser_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(30_000)
    return page


#: Per calculation page: (choices as (label, option), what the page shows once they took effect, the
#: Run button, the result's mark, a choice the reopened page must show as (label, value)).
PAGES = {
    "Compare": (
        [("Basis set", "sto-3g"), ("Energy unit", "eV")],
        r"^7 basis functions",
        "Run comparison",
        r"/ sto-3g$",
        ("Energy unit", "eV"),
    ),
    "Fractional_electrons": (
        [("Library molecule", "H  (atom)"), ("Basis set", "sto-3g")],
        r"^1 basis function;",
        "Run",
        r"^Fractional charge: H / sto-3g",
        ("Unit of deviations and errors", "kcal/mol"),
    ),
    "Spin_states": (
        [("Basis set", "sto-3g"), ("Unit of gaps", "eV")],
        r"^7 basis functions",
        "Run",
        r"^Spin states: .* / sto-3g$",
        ("Unit of gaps", "eV"),
    ),
    "Densities": (
        [("Basis set", "sto-3g"), ("Classical functional", "PBE")],
        r"^7 basis functions",
        "Run",
        r"/ sto-3g: DM21 and PBE",
        ("Classical functional", "PBE"),
    ),
}


@pytest.mark.parametrize("path", list(PAGES))
def test_link_reopens_the_view_and_its_result(
    path, open_app, page, choose, wait_for_app, new_browser_context, app_database, screenshot
):
    choices, ready, run, mark, kept = PAGES[path]
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("")
    open_app(path)
    for label, option in choices:
        choose(page, label, option)
    expect(page.get_by_text(re.compile(ready))).to_be_visible(timeout=60_000)
    wait_for_app(page)
    page.get_by_role("button", name=run, exact=True).click()
    expect(page.get_by_text(re.compile(mark)).first).to_be_visible(timeout=240_000)
    wait_for_app(page, timeout=120_000)
    link = _copied_link(page)
    assert "show=1" in link and f"/{path}?" in link, link
    stored = len(ResultsStore(app_database).list())

    other = _fresh_page(new_browser_context)
    other.goto(link)
    expect(other.get_by_text(re.compile(mark)).first).to_be_visible(timeout=120_000)
    wait_for_app(other, timeout=120_000)
    expect(other.get_by_role("combobox", name=kept[0])).to_have_value(kept[1])
    assert len(ResultsStore(app_database).list()) == stored  # served from the store: nothing new computed
    assert other.get_by_test_id("stException").count() == 0
    screenshot(f"link_{path}_reopened", other)
