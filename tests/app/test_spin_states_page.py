"""The Spin states page in AppTest: a preset runs, the gap table matches the states, warnings show."""

from pathlib import Path

import pytest
from pyscf import dft
from streamlit.testing.v1 import AppTest

from explorer.analyses.spin_states import PRESETS
from explorer.chem import units

ROOT = Path(__file__).resolve().parents[2]


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page("pages/3_Spin_states.py").run()
    assert not at.exception
    return at


def test_ch2_preset_gaps_reference_and_dm21_minus_b3lyp():
    at = _page()
    at.selectbox(key="ss_preset").set_value("CH2 (methylene)").run()
    assert at.text_input(key="ss_spins").value == "0, 2"  # the preset's spins
    at.selectbox(key="ss_basis").set_value("sto-3g")
    at.multiselect(key="ss_functionals").set_value(["B3LYP", "DM21"])
    at.selectbox(key="ss_unit").set_value("kcal/mol")
    at.button(key="ss_run").click().run()
    assert not at.exception and not at.error
    states = at.dataframe[1].value.set_index(["functional", "2S"])
    gap = at.dataframe[0].value.iloc[0]
    for f in ("B3LYP", "DM21"):
        expected = units.from_hartree(states.loc[(f, 2), "E (Ha)"] - states.loc[(f, 0), "E (Ha)"], "kcal/mol")
        assert gap[f"{f} (kcal/mol)"] == pytest.approx(expected, abs=1e-9)
    assert gap["DM21 − B3LYP (kcal/mol)"] == pytest.approx(gap["DM21 (kcal/mol)"] - gap["B3LYP (kcal/mol)"])
    assert gap["reference (kcal/mol)"] == pytest.approx(-9.0) and "Leopold" in gap["source"]
    assert list(states["kind"]) == ["RKS", "UKS", "RKS", "UKS"]
    # Independent check: plain PySCF B3LYP on its default grid (B3LYP moves < 1e-6 Ha between grids).
    mol = PRESETS["CH2 (methylene)"].molecule("sto-3g")
    singlet = dft.RKS(mol.to_pyscf(), xc="B3LYP").run().e_tot
    assert states.loc[("B3LYP", 0), "E (Ha)"] == pytest.approx(singlet, abs=1e-5)
    assert not at.warning  # RKS singlet and UKS triplet: <S^2> close to S(S+1)
    assert any("VWN-RPA" in c.value for c in at.caption)


def test_broken_symmetry_singlet_warns_about_contamination():
    at = _page()
    at.selectbox(key="ss_preset").set_value("O2 (oxygen)").run()
    at.selectbox(key="ss_basis").set_value("sto-3g")
    at.multiselect(key="ss_functionals").set_value(["B3LYP"])
    at.toggle(key="ss_bs").set_value(True)
    at.button(key="ss_run").click().run()
    assert not at.exception and not at.error
    states = at.dataframe[1].value.set_index("2S")
    assert states.loc[0, "kind"] == "UKS broken symmetry" and states.loc[0, "<S²>"] > 0.5
    assert any("spin-contaminated" in w.value and "broken-symmetry" in w.value for w in at.warning)
    gap = at.dataframe[0].value.iloc[0]
    assert "B3LYP spin-projected (kcal/mol)" in gap.index
