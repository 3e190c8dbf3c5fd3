"""The Lessons page in AppTest: the reveal is locked until a prediction is chosen; the calculation runs
on the cluster and is then served from the store; the reveal shows the lesson's plot with real
numbers and says whether the prediction was right; worksheet and answer key are offered."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
LESSON = "h_atom_fractional_spin"


@pytest.fixture
def fresh_store(tmp_path, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("DM21_EXPLORER_DB", str(tmp_path / "results.sqlite3"))
    st.cache_resource.clear()  # the app's cached ResultsStore and kept task values
    yield
    st.cache_resource.clear()


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page("pages/5_Lessons.py").run()
    assert not at.exception
    return at


def _rise(at: AppTest) -> dict:
    """{trace name: y values} of the reveal's plot (E(f) - E(0), kcal/mol)."""
    (chart,) = at.get("plotly_chart")
    return {trace["name"]: trace["y"] for trace in json.loads(chart.proto.spec)["data"]}


def test_predict_run_reveal_then_served_from_the_store(fresh_store):
    at = _page()
    at.selectbox(key="ls_lesson").set_value(LESSON).run()
    assert at.header[0].value == "Half an alpha, half a beta electron: fractional spin"
    downloads = [d.proto.label for d in at.get("download_button")]
    assert downloads == ["Worksheet (HTML)", "Answer key (HTML)"]
    # Locked until a prediction is chosen.
    assert at.button(key=f"ls_{LESSON}_run").disabled
    assert any("Choose your prediction first" in i.value for i in at.info)
    assert not at.get("plotly_chart")

    # A wrong prediction, then the calculation.
    at.radio(key=f"ls_{LESSON}_answer").set_value("The same (a flat line)").run()
    assert not at.button(key=f"ls_{LESSON}_run").disabled
    at.button(key=f"ls_{LESSON}_run").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Your prediction was not right. You chose: The same (a flat line). The answer: Clearly higher"
    ]
    curves = _rise(at)
    assert set(curves) == {"DM21", "B3LYP", "exact: flat"}
    assert curves["B3LYP"][1] == pytest.approx(34, abs=3) and abs(curves["DM21"][1]) < 0.5  # kcal/mol
    assert any("8 SCF calculations: 8 computed now, 0 from the results store" in c.value for c in at.caption)
    # From the next run on the prediction is locked as it was made.
    at.radio(key=f"ls_{LESSON}_answer").set_value("Clearly lower").run()
    radio = at.radio(key=f"ls_{LESSON}_answer")
    assert radio.disabled and radio.value == "The same (a flat line)"
    assert at.error[0].value.startswith("Your prediction was not right. You chose: The same (a flat line).")

    # Again, now right: every SCF from the store, the same numbers.
    at.button(key=f"ls_{LESSON}_again").click().run()
    assert at.radio(key=f"ls_{LESSON}_answer").value is None and not at.get("plotly_chart")
    at.radio(key=f"ls_{LESSON}_answer").set_value("Clearly higher").run()
    at.button(key=f"ls_{LESSON}_run").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == ["Your prediction was right: Clearly higher"]
    assert _rise(at) == curves
    assert any("8 SCF calculations: 0 computed now, 8 from the results store" in c.value for c in at.caption)
    assert any("Why." in m.value for m in at.markdown) and any(
        "What to look at." in m.value for m in at.markdown
    )
