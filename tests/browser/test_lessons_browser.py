"""The Lessons page in a real Chromium, after a teacher's ``class prepare``: every lesson is opened,
its prediction answered (the first four right, the last one wrong), its calculation asked for, and
the reveal checked: the lesson's own plot, "right" or "not right", and every SCF served from the
store (nothing computed). One worksheet is downloaded and read."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from explorer.analyses.lessons import load_lessons

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
LESSONS = load_lessons()
#: Text of each analysis's plot (an axis title) that tells the plots apart.
PLOT_TEXT = {
    "fractional-charge": "number of electrons N",
    "scan": "r (Angstrom)",
    "fractional-spin": "E(f) - E(0) (kcal/mol)",
    "spin-states": "energy above the lowest state (kcal/mol)",
    "density-profile": "density (electrons/bohr³)",
}


@pytest.fixture(scope="module")
def prepared_database(tmp_path_factory):
    """A results database filled by ``python -m explorer class prepare`` (all lessons), and its report."""
    db = tmp_path_factory.mktemp("class") / "class.sqlite3"
    out = subprocess.run(
        [sys.executable, "-m", "explorer", "class", "prepare", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env={**os.environ, "DM21_EXPLORER_DB": str(db)},
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["lessons"] == list(LESSONS) and report["computed"] > 0 and not report["not_converged"]
    return db, report


def test_every_lesson_after_class_prepare_reveals_from_the_store(
    prepared_database, tmp_path, serve_app, new_browser_context, wait_for_app, choose, screenshot
):
    db, report = prepared_database
    with serve_app(tmp_path / "server.log", db) as url:
        page = new_browser_context().new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        page.set_default_timeout(30_000)
        page.goto(f"{url}/")  # the app root first, then the deep link
        wait_for_app(page)
        page.goto(f"{url}/Lessons")
        wait_for_app(page)
        expect(page.get_by_role("heading", name="Lessons", exact=True)).to_be_visible()

        # The first lesson's worksheet, as a teacher downloads it.
        first = next(iter(LESSONS.values()))
        with page.expect_download() as download:
            page.get_by_role("button", name="Worksheet (HTML)").click()
        sheet = Path(download.value.path()).read_text(encoding="utf-8")
        assert first.question.replace("'", "&#x27;") in sheet and "Correct answer" not in sheet

        scfs = 0
        for n, lesson in enumerate(LESSONS.values()):
            choose(page, "Lesson", f"{lesson.order}. {lesson.title}")
            expect(page.get_by_role("heading", name=lesson.title)).to_be_visible()
            run = page.get_by_role("button", name="Run the calculation")
            expect(run).to_be_disabled()  # locked until a prediction is chosen
            right = n < len(LESSONS) - 1
            choice = lesson.answer if right else next(c for c in lesson.choices if c != lesson.answer)
            page.get_by_test_id("stRadio").get_by_text(choice, exact=True).click()
            expect(run).to_be_enabled()
            run.click()
            verdict = (
                f"Your prediction was right: {lesson.answer}"
                if right
                else f"Your prediction was not right. You chose: {choice}. The answer: {lesson.answer}"
            )
            expect(page.get_by_text(verdict)).to_be_visible(timeout=120_000)
            chart = page.get_by_test_id("stPlotlyChart")
            expect(chart).to_have_count(1)
            expect(chart.get_by_text(PLOT_TEXT[lesson.calculation["analysis"]])).to_be_visible()
            for functional in lesson.functionals:  # every functional's curve or column is in the legend
                expect(
                    chart.locator(".legendtext", has_text=re.compile(rf"^{functional}"))
                ).not_to_have_count(0)
            served = page.get_by_text(
                re.compile(r"(\d+) SCF calculations: 0 computed now, (\d+) from the results store")
            )
            expect(served).to_be_visible()
            count = re.search(r"(\d+) SCF calculations", served.inner_text()).group(1)
            scfs += int(count)
            expect(page.get_by_text(lesson.look_at.split("\n\n")[0][:60])).to_be_visible()
            wait_for_app(page)
            assert page.get_by_test_id("stException").count() == 0
            page.get_by_text(verdict).scroll_into_view_if_needed()
            screenshot(f"lesson_{lesson.id}", page)  # the verdict and the plot below it
            screenshot(f"lesson_{lesson.id}_plot", chart)
        # Every SCF of every lesson came from the store that class prepare filled: the same SCFs.
        assert scfs == report["calculations"]
