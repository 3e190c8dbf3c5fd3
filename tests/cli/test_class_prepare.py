"""``python -m explorer class prepare``: a teacher computes the lessons' calculations ahead of a class
(on the Dask cluster, through the results store); a second run computes nothing, and the lessons'
own calculation path (the page's: tasks.fan_out of run_calculation) is then served entirely from the
store. Real subprocesses, a real SQLite store, real DM21."""

import json
import os
import subprocess
import sys

import pytest

from explorer.analyses import lessons
from explorer.runs import tasks

CHOSEN = ["h_atom_fractional_spin", "ch2_singlet_triplet"]


def _prepare(db, *args):
    env = {**os.environ, "DM21_EXPLORER_DB": str(db)}
    return subprocess.run(
        [sys.executable, "-m", "explorer", "class", "prepare", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.fixture
def own_database(tmp_path, monkeypatch):
    """A fresh results database for this process's cluster client too (tasks pass it to the workers)."""
    db = tmp_path / "class.sqlite3"
    monkeypatch.setenv("DM21_EXPLORER_DB", str(db))
    return db


def test_prepare_then_again_computes_nothing_and_lessons_are_served_from_the_store(own_database):
    first = _prepare(own_database, "--lessons", *CHOSEN, "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    # Fractional spin: f = 0, 0.5, 1 (f = 1 from two starts) = 4 SCFs per functional; CH2: 2 states each.
    assert out == {"lessons": CHOSEN, "calculations": 12, "computed": 12, "cached": 0, "not_converged": []}
    assert "class prepare: 2 lessons, 4 tasks on the cluster" in first.stderr
    assert "h_atom_fractional_spin / DM21: done" in first.stderr  # progress, one line per SCF

    second = _prepare(own_database, "--lessons", *CHOSEN, "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) | {"lessons": None} == {
        "lessons": None, "calculations": 12, "computed": 0, "cached": 12, "not_converged": []
    }  # fmt: skip

    human = _prepare(own_database, "--lessons", CHOSEN[0])
    assert human.returncode == 0, human.stderr
    assert "SCF calculations: 8 (0 computed now, 8 from the store)" in human.stdout

    # Opening the lessons: the page submits exactly these tasks; every SCF comes from the store.
    for lesson in lessons.chosen(lessons.load_lessons(), CHOSEN):
        jobs = tasks.fan_out(lessons.run_calculation, lessons.calls(lesson))
        results = [tasks.result(job, timeout=300) for job in jobs]
        counts = lessons.tally(results)
        assert counts["computed"] == 0 and counts["cached"] == counts["calculations"] > 0


def test_unknown_lesson_is_one_line_and_status_2(own_database):
    bad = _prepare(own_database, "--lessons", "nope", "--json")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().startswith("error: unknown lesson 'nope'; lessons: h_atom_fractional_charge")
    assert len(bad.stderr.strip().splitlines()) == 1
