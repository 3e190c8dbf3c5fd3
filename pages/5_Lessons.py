"""Lessons: guided lessons on DM21 against B3LYP; predict, run (or fetch from the store), see and read why."""

import streamlit as st

from explorer.analyses.lessons import calls, load_lessons, run_calculation, tally
from explorer.functionals import B3LYP_NOTE
from explorer.present.worksheets import answer_key_html, lesson_figure, worksheet_html
from explorer.runs import tasks
from pages.ui.jobs import run_batch
from pages.ui.molecule_input import keep_choice, kept
from pages.ui.page_export import page_html_button
from pages.ui.resources import results_store

st.title("Lessons")
st.markdown(
    "Short guided lessons on what DM21 does differently. Each one states its goal and background, asks "
    "you to **predict** what the calculation will show, runs it (or fetches it from the results store "
    "when someone ran it before), and then reveals the plot, whether your prediction was right, and why. "
    "Teachers: each lesson has a printable worksheet and answer key below its background."
)

LESSONS = load_lessons()
keep_choice(("ls_lesson",), {"ls_lesson": next(iter(LESSONS))})
lesson_id = st.selectbox(
    "Lesson",
    list(LESSONS),
    format_func=lambda i: f"{LESSONS[i].order}. {LESSONS[i].title}",
    **kept("ls_lesson"),
)
lesson = LESSONS[lesson_id]
prefix = f"ls_{lesson.id}"  # each lesson keeps its own answer and result
answer_key, last_key = f"{prefix}_answer", f"{prefix}_last"

st.header(lesson.title)
st.markdown(f"**Goal.** {lesson.goal}")
st.markdown("**Background.**\n\n" + lesson.background)
left, right, _ = st.columns([1, 1, 3])
left.download_button(
    "Worksheet (HTML)", worksheet_html(lesson), f"{lesson.id}_worksheet.html", "text/html", key=f"{prefix}_ws"
)
right.download_button(
    "Answer key (HTML)",
    answer_key_html(lesson),
    f"{lesson.id}_answer_key.html",
    "text/html",
    key=f"{prefix}_key",
)


def _start_again() -> None:
    for key in (answer_key, last_key):
        st.session_state.pop(key, None)


st.subheader("Your prediction")
revealed = st.session_state.get(last_key)
if revealed is not None:
    # The prediction stays as it was made when the calculation was asked for: the reveal judges that one.
    st.session_state[answer_key] = revealed["answer"]
answer = st.radio(lesson.question, lesson.choices, index=None, key=answer_key, disabled=revealed is not None)
if answer is None:
    st.info("Choose your prediction first: the calculation and the reveal unlock once you have.")


def _submit() -> dict:
    results_store()  # a broken or locked database is reported before anything runs
    batch = calls(lesson)
    jobs = tasks.fan_out(run_calculation, batch, labels=[call["functional"] for call in batch])
    return {"jobs": jobs, "answer": answer}


def _collect(batch: dict) -> dict:
    return {"results": [tasks.result(job) for job in batch["jobs"]], "answer": batch["answer"]}


st.subheader("The calculation")
c = lesson.calculation
st.caption(
    f"{c['analysis']}: {c.get('molecule') or c.get('preset')}, basis {c['basis']}, "
    f"{', '.join(c['functionals'])}. The first run computes (seconds); later runs come from the results "
    "store."
)
last = run_batch(prefix, _submit, _collect, label="Run the calculation", disabled=answer is None)

if last is not None:
    results, predicted = last["results"], last["answer"]
    st.subheader("The reveal")
    if lesson.is_right(predicted):
        verdict = f"Your prediction was right: {predicted}"
        st.success(verdict, icon=":material/check_circle:")
    else:
        verdict = f"Your prediction was not right. You chose: {predicted}. The answer: {lesson.answer}"
        st.error(verdict, icon=":material/cancel:")
    figure = lesson_figure(lesson, results)
    st.plotly_chart(figure, key=f"{prefix}_figure")
    counts = tally(results)
    notes = [
        f"{counts['calculations']} SCF calculations: {counts['computed']} computed now, "
        f"{counts['cached']} from the results store.",
        "Points whose SCF did not converge are crosses (or left out): they are not results.",
    ]
    if "B3LYP" in lesson.functionals:
        notes.append(B3LYP_NOTE)
    st.caption(" ".join(notes))
    st.markdown("**Why.** " + lesson.explanation)
    st.markdown("**What to look at.** " + lesson.look_at)
    st.markdown("**Follow-up questions**")
    for n, item in enumerate(lesson.follow_ups, 1):
        st.markdown(f"{n}. {item['question']}")
        with st.expander(f"Answer to follow-up {n}"):
            st.markdown(item["answer"])
    # The reveal as a page of its own: question, verdict, plot, explanation (built when clicked).
    exported = [
        {"heading": "Your prediction", "text": f"{lesson.question}\n\n{verdict}"},
        {"heading": "The reveal", "figure": figure},
        {"heading": "Why", "text": lesson.explanation},
        {"heading": "What to look at", "text": lesson.look_at},
    ]
    page_html_button(
        f"Lesson: {lesson.title}",
        exported,
        f"{lesson.id}_reveal.html",
        f"{prefix}_html",
        notes=notes,
        subtitle=lesson.goal,
    )
    st.button("Start this lesson again", on_click=_start_again, key=f"{prefix}_again")
