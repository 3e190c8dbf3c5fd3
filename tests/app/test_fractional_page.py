"""The Fractional electrons page in AppTest: a paper demo runs on its own system (the molecule the other
pages share is left alone), several results are kept and shown together, and the orbital-energy chart
colours each functional with the app's palette, its HOMO and LUMO told apart by line and marker."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.present.plots import FUNCTIONAL_COLORS

ROOT = Path(__file__).resolve().parents[2]
#: The titles of the two results of the first test (view: system, functionals, points).
DEMO = "Fractional spin: H / aug-cc-pvtz, DM21, B3LYP, 5 points"
SMALL = "Fractional spin: H / 6-31g, B3LYP, 3 points"


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page("pages/2_Fractional_electrons.py").run()
    assert not at.exception
    return at


def _spin_rise(at: AppTest, index: int) -> dict:
    """{functional: E(f=0.5) - E(0) in kcal/mol} of the index-th fractional-spin table shown."""
    table = at.dataframe[index].value.set_index("functional")
    return table["E(f=0.5) - E(0) (kcal/mol)"].to_dict()


def test_demo_keeps_the_shared_molecule_and_two_results_show_together():
    at = _page()
    # The student's own choice on the shared chooser: the H atom in 6-31G.
    at.selectbox(key="mi_library").set_value("H").run()
    at.selectbox(key="mi_basis").set_value("6-31g").run()
    at.button(key="fe_demo_H atom fractional spin").click().run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader] == [DEMO]
    assert any(
        "Paper demo system: H (1 electron, charge 0, 2S = 1) in aug-cc-pvtz" in i.value for i in at.info
    )
    demo = _spin_rise(at, 0)
    # Static correlation error of the H atom (paper, Fig. 1): B3LYP rises by tens of kcal/mol at f = 1/2,
    # DM21 stays within a few (measured: B3LYP 34.1, DM21 -0.53 kcal/mol in aug-cc-pVTZ; B3LYP 35.6 in 6-31G).
    assert 25 < demo["B3LYP"] < 45 and abs(demo["DM21"]) < 3

    # The other pages still open on the student's molecule, not on the demo's.
    at.switch_page("pages/1_Compare.py").run()
    assert at.selectbox(key="mi_library").value == "H" and at.selectbox(key="mi_basis").value == "6-31g"

    # Back on the page, the chooser again, a second run: both results are shown, newest first.
    at.switch_page("pages/2_Fractional_electrons.py").run()
    assert [h.value for h in at.subheader] == [DEMO]  # kept across pages
    at.button(key="fe_demo_leave").click().run()
    assert at.selectbox(key="mi_basis").value == "6-31g"
    at.multiselect(key="fe_functionals").set_value(["B3LYP"])
    at.slider(key="fe_points").set_value(3)
    at.button(key="fe_run").click().run()
    assert not at.exception and not at.error
    assert [h.value for h in at.subheader] == [SMALL, DEMO]
    assert at.multiselect(key="fe_shown").value == [SMALL, DEMO]
    small = _spin_rise(at, 0)
    assert _spin_rise(at, 1) == demo  # the older result is drawn unchanged
    assert 25 < small["B3LYP"] < 45 and small["B3LYP"] - demo["B3LYP"] == pytest.approx(1.5, abs=0.3)
    assert len(at.get("plotly_chart")) == 2

    # Hiding one leaves the other.
    at.multiselect(key="fe_shown").set_value([DEMO]).run()
    assert [h.value for h in at.subheader] == [DEMO]


def test_orbital_chart_colours_functionals_and_dashes_the_lumo():
    at = _page()
    at.selectbox(key="mi_library").set_value("H").run()
    at.selectbox(key="mi_basis").set_value("6-31g").run()
    at.multiselect(key="fe_functionals").set_value(["B3LYP", "PBE"])
    at.slider(key="fe_points").set_value(3)
    at.button(key="fe_run").click().run()
    assert not at.exception and not at.error
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    orbitals = next(c for c in charts if "orbital energy" in c["layout"]["yaxis"]["title"]["text"])
    assert orbitals["layout"]["xaxis"]["title"]["text"] == "number of electrons N"
    assert orbitals["layout"]["yaxis"]["title"]["text"] == "orbital energy (eV)"
    traces = {t["name"]: t for t in orbitals["data"]}
    assert set(traces) == {"B3LYP HOMO", "B3LYP LUMO", "PBE HOMO", "PBE LUMO"}
    for f in ("B3LYP", "PBE"):
        homo, lumo = traces[f"{f} HOMO"], traces[f"{f} LUMO"]
        assert homo["line"]["color"] == lumo["line"]["color"] == FUNCTIONAL_COLORS[f]
        assert (homo["line"]["dash"], lumo["line"]["dash"]) == ("solid", "dash")
        assert (homo["marker"]["symbol"], lumo["marker"]["symbol"]) == ("circle", "diamond")
        # H atom at N = 0, 1, 2: no HOMO without electrons; where both exist the HOMO lies below the LUMO.
        assert homo["x"][0] > 0 and len(homo["x"]) >= 2
        lumo_at = dict(zip(lumo["x"], lumo["y"], strict=True))
        assert set(homo["x"]) & set(lumo_at)
        assert all(y < lumo_at[x] for x, y in zip(homo["x"], homo["y"], strict=True) if x in lumo_at)
    # The energy chart uses the same colours for the same functionals.
    energy = next(c for c in charts if c["layout"]["yaxis"]["title"]["text"] == "energy (Ha)")
    for t in energy["data"]:
        if t["name"] in FUNCTIONAL_COLORS:
            assert t["line"]["color"] == FUNCTIONAL_COLORS[t["name"]]


def test_dissociation_caption_is_made_of_sentences():
    """The exact-limit note ended without a full stop, so the caption read '... -1/2 Ha Energies on ...'."""
    at = _page()
    at.segmented_control(key="fe_view").set_value("Dissociation").run()
    at.selectbox(key="fe_preset").set_value("H2+")
    at.text_input(key="fe_values").set_value("1.0, 4.0")
    at.selectbox(key="fe_scan_basis").set_value("sto-3g")
    at.multiselect(key="fe_functionals").set_value(["B3LYP"])
    at.button(key="fe_run").click().run()
    assert not at.exception and not at.error
    (caption,) = [c.value for c in at.caption if "Exact limit" in c.value]
    assert "-1/2 Ha Energies" not in caption
    assert (
        "Exact limit: -0.500000 Ha (H atom + bare proton: exact nonrelativistic H atom energy -1/2 Ha). "
        in caption
    )
