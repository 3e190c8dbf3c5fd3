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
        page.wait_for_timeout(500)  # the rerun the choice starts, then its end
        wait_for_app(page)
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


def test_history_link_opens_the_stored_result_in_compare(
    open_app, page, wait_for_app, new_browser_context, app_database, screenshot
):
    """A History entry's link opens Compare on that molecule and functional and shows the stored result
    (the same request: nothing new computed)."""
    from explorer import parse_atoms, run_scf_stored

    store = ResultsStore(app_database)
    # A geometry of this test's own: other tests store water too, and the name is not in the key.
    water = parse_atoms("O 0 0 0; H 0 0.757 0.5871; H 0 -0.757 0.5871", 0, 0, "sto-3g", "linktest water")
    run_scf_stored(water, "PBE", store)
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("")
    open_app("History")
    search = page.get_by_role("textbox", name="Search (name, formula, SMILES, functional or basis)")
    search.fill("linktest")
    search.press("Enter")
    expect(page.get_by_text("1 stored result(s)")).to_be_visible()
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Link to this result")).click()
    link = page.get_by_test_id("stCode").last.inner_text().strip()
    assert "/Compare?" in link and "show=1" in link and "cmp_functionals=PBE" in link, link
    stored = len(store.list())

    other = _fresh_page(new_browser_context)
    other.goto(link)
    expect(other.get_by_text(re.compile(r"linktest water / sto-3g$"))).to_be_visible(timeout=120_000)
    wait_for_app(other, timeout=120_000)
    assert len(store.list()) == stored  # the stored result itself, not a new calculation
    assert other.get_by_test_id("stException").count() == 0
    screenshot("link_history_to_compare", other)
