"""Worksheets and answer keys of every lesson (questions on both, answers only on the key, lesson text
escaped), and the reveal plot drawn from a real calculation."""

import dataclasses
import html
import re

import pytest

from explorer import ResultsStore
from explorer.analyses import lessons
from explorer.present.worksheets import answer_key_html, lesson_figure, worksheet_html

LESSONS = lessons.load_lessons()


def _text(page: str) -> str:
    """The page's visible text: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S)))


@pytest.mark.parametrize("lesson_id", list(LESSONS))
def test_worksheet_has_the_questions_and_no_answers(lesson_id):
    lesson = LESSONS[lesson_id]
    sheet = worksheet_html(lesson)
    text = _text(sheet)
    assert sheet.startswith("<!DOCTYPE html>") and "@media print" in sheet
    assert lesson.title in text and lesson.question in text and lesson.goal in text
    assert all(choice in text for choice in lesson.choices)
    assert all(item["question"] in text for item in lesson.follow_ups)
    # Nothing that gives the answer away.
    assert "Correct answer" not in text and lesson.explanation[:60] not in text
    assert not any(item["answer"][:60] in text for item in lesson.follow_ups)
    assert sheet.count("class='box'") == 1 + len(lesson.follow_ups)  # room to write


@pytest.mark.parametrize("lesson_id", list(LESSONS))
def test_answer_key_has_the_answers(lesson_id):
    lesson = LESSONS[lesson_id]
    text = _text(answer_key_html(lesson))
    letter = "ABCDEF"[lesson.choices.index(lesson.answer)]
    assert f"Correct answer: {letter}. {lesson.answer}" in text
    assert lesson.question in text and lesson.explanation.split("\n\n")[0].strip() in text
    assert lesson.look_at.split("\n\n")[0].strip() in text
    for item in lesson.follow_ups:
        assert item["question"] in text and item["answer"] in text
    assert ("VWN" in text) == ("B3LYP" in lesson.functionals)  # B3LYP's note where B3LYP is used


def test_lesson_text_cannot_inject_markup():
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    lesson = dataclasses.replace(
        LESSONS["h_atom_fractional_spin"],
        title=f"T {evil}",
        question=f"Q {evil}",
        choices=(f"A {evil}", "B"),
        answer=f"A {evil}",
        follow_ups=({"question": f"F {evil}", "answer": f"FA {evil}"},),
    )
    for page in (worksheet_html(lesson), answer_key_html(lesson)):
        assert "<script" not in page and "<img" not in page
        assert "&lt;script&gt;" in page and evil in _text(page)  # shown as text


def test_reveal_plot_of_a_real_fractional_spin_curve(tmp_path):
    lesson = dataclasses.replace(
        LESSONS["h_atom_fractional_spin"],
        calculation={**LESSONS["h_atom_fractional_spin"].calculation, "functionals": ["B3LYP"]},
    )
    store = ResultsStore(tmp_path / "results.sqlite3")
    results = [lessons.run_calculation(**call, store=store) for call in lessons.calls(lesson)]
    figure = lesson_figure(lesson, results)
    curve, flat = figure.data
    assert curve.name == "B3LYP" and flat.name == "exact: flat" and list(flat.y) == [0.0, 0.0]
    assert list(curve.x) == [0.0, 0.5, 1.0]
    assert curve.y[0] == 0.0 and curve.y[1] == pytest.approx(34, abs=3)  # kcal/mol above f = 0
    assert abs(curve.y[2]) < 0.01  # f = 1: the same atom, spin down
    assert figure.layout.yaxis.title.text == "E(f) - E(0) (kcal/mol)"
