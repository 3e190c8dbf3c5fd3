"""The Streamlit pages render and run in AppTest (no browser)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_home_renders_with_weights_status():
    at = AppTest.from_file(str(ROOT / "app.py")).run(timeout=60)
    assert not at.exception
    assert "DM21 Explorer" in at.title[0].value
    table = at.dataframe[0].value
    assert list(table["functional"]) == ["DM21", "DM21m", "DM21mc", "DM21mu"] and table["found"].all()


def test_single_point_runs_b3lyp_and_reports_bad_atoms():
    at = AppTest.from_file(str(ROOT / "pages" / "1_Single_point.py")).run(timeout=60)
    assert not at.exception
    at.selectbox[2].set_value("B3LYP")
    at.button[0].click().run(timeout=120)
    assert not at.exception
    table = at.dataframe[0].value
    energy = float(table.loc[table["quantity"] == "total energy", "Hartree"].iloc[0])
    assert -75.35 < energy < -75.25  # water B3LYP/STO-3G
    at.text_input[0].set_value("Xx 0 0 0")
    at.button[0].click().run(timeout=60)
    assert "element" in at.error[0].value
