"""The server log a newcomer sees (issue 20, item 9): a walk through every page of a fresh server, started
as the README says (`streamlit run app.py`, .streamlit/config.toml) on a fresh results store, with one
comparison run, writes no warning or error line to the log (no file-watcher overflow, no "missing
ScriptRunContext", no "use streamlit run" from the calculation workers)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

#: The app's views, by address (app.py's VIEWS).
PAGES = ("Home", "Compare", "Fractional_electrons", "Spin_states", "Densities", "Lessons", "History")
#: What a log line that is not routine looks like.
NOT_ROUTINE = re.compile(
    r"warn|error|exception|traceback|inotify|ScriptRunContext|streamlit run", re.IGNORECASE
)


def test_a_walk_through_every_page_logs_nothing_unexpected(
    tmp_path, serve_app, new_browser_context, wait_for_app, choose, screenshot
):
    log = tmp_path / "server.log"
    with serve_app(log, tmp_path / "fresh.sqlite3") as url:
        page = new_browser_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(30_000)
        for path in PAGES:
            page.goto(f"{url}/{path}")
            wait_for_app(page)
            assert page.get_by_test_id("stException").count() == 0, path
        page.goto(f"{url}/Compare")
        wait_for_app(page)
        choose(page, "Basis set", "sto-3g")
        expect(page.get_by_text(re.compile(r"^7 basis functions"))).to_be_visible(timeout=60_000)
        page.get_by_role("button", name="Run comparison").click()
        expect(page.get_by_text(re.compile(r"/ sto-3g$"))).to_be_visible(timeout=180_000)
        wait_for_app(page, timeout=120_000)
        page.goto(f"{url}/History")
        wait_for_app(page)
        screenshot("server_log_walk_history", page)
    text = log.read_text(errors="replace")
    unexpected = [line for line in text.splitlines() if NOT_ROUTINE.search(line)]
    assert unexpected == [], "\n".join(unexpected[:40])
