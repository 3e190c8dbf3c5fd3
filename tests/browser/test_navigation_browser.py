"""The sidebar in a real Chromium: st.navigation (app.py) lists every view, in order, and each link opens
its page at its fixed address."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

#: (sidebar label, URL path, the page's heading), in the sidebar's order.
VIEWS = [
    ("Home", "", "DM21 Explorer"),
    ("Compare", "Compare", "Compare functionals"),
    ("Fractional electrons", "Fractional_electrons", "Fractional electrons"),
    ("Spin states", "Spin_states", "Spin states"),
    ("Densities and XC maps", "Densities", "Densities and XC maps"),
    ("Geometry and vibrations", "Geometry", "Geometry and vibrations"),
    ("Lessons", "Lessons", "Lessons"),
    ("History", "History", "History"),
]


def test_sidebar_reaches_every_view(open_app, page, streamlit_app, wait_for_app, outside_requests):
    open_app()
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links).to_have_count(len(VIEWS))
    # Each link's text is its icon's ligature name (e.g. "home") on one line, then its label.
    assert [t.strip().splitlines()[-1] for t in links.all_inner_texts()] == [v[0] for v in VIEWS]
    for index in [*range(1, len(VIEWS)), 0]:  # every view, then back home
        label, path, heading = VIEWS[index]
        links.nth(index).click()
        # A calculation view puts its choices in the query (pages.ui.links).
        expect(page).to_have_url(re.compile(rf"^{re.escape(streamlit_app)}/{re.escape(path)}/?(\?.*)?$"))
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=60_000)
        wait_for_app(page)
        assert page.get_by_test_id("stException").count() == 0, label
    assert outside_requests() == []
