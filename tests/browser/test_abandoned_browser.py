"""A tab closed while its calculations run: the server lets go of its jobs (issue 17.10)."""

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_jobs_of_a_closed_tab_are_released(
    choose, new_browser_context, streamlit_app, wait_for_app, app_database
):
    """Before, a closed tab's jobs ran to the end and stayed held in the server: nobody cancels for a
    tab that is gone. Now, once Streamlit forgets the session (server.disconnectedSessionTTL, 3 s in
    these tests), the next page run of any session cancels them: benzene/cc-pVDZ with DM21 (about 40 s
    of SCF here) stops early, releases its claim and stores nothing."""
    from explorer import ResultsStore

    store = ResultsStore(app_database)
    student = new_browser_context()
    page = student.pages[0] if student.pages else student.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{streamlit_app}/Compare")
    wait_for_app(page)
    page.get_by_test_id("stButtonGroup").get_by_role("radio", name="SMILES", exact=True).click()
    box = page.get_by_role("textbox", name="SMILES")
    box.fill("c1ccccc1")
    box.press("Enter")
    expect(page.get_by_text(re.compile(r"C6H6, 42 electrons"))).to_be_visible(timeout=60_000)
    wait_for_app(page)
    choose(page, "Basis set", "cc-pvdz")
    wait_for_app(page, timeout=120_000)
    page.get_by_role("button", name="Run comparison").click(timeout=120_000)
    expect(page.get_by_text(re.compile(r"DM21 .*iteration")).first).to_be_visible(timeout=120_000)
    student.close()  # the tab goes while DM21 runs

    time.sleep(5)  # past the session's time to live
    teacher = new_browser_context()
    other = teacher.pages[0] if teacher.pages else teacher.new_page()
    other.goto(f"{streamlit_app}/")  # any page run sweeps the sessions that are gone
    wait_for_app(other)

    deadline = time.monotonic() + 120
    while store._run("SELECT COUNT(*) FROM claims") != [(0,)]:
        assert time.monotonic() < deadline, "the closed tab's DM21 SCF still holds its claim"
        time.sleep(1)
    dm21 = [e for e in store.list("C6H6") if e["functional"] == "DM21"]
    assert dm21 == [], "the closed tab's DM21 SCF ran to the end and was stored"
