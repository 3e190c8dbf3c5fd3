"""The Spin states page in AppTest: a preset runs, the gap table matches the states, each functional's error
against the (labelled) reference is highlighted, numbers are rounded for display, warnings show."""

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
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


def _display(dataframe) -> pd.DataFrame:
    """The strings a dataframe element shows (its Styler's display values, as sent to the browser)."""
    return pa.ipc.open_stream(dataframe.proto.arrow_data.styler.display_values).read_pandas()


def test_ch2_preset_gaps_each_error_against_the_labelled_reference():
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
        # Each functional against the reference (-9.0 kcal/mol), not one functional against the other.
        assert gap[f"{f} − reference (kcal/mol)"] == pytest.approx(expected + 9.0, abs=1e-9)
    assert not any("B3LYP (kcal/mol)" in c and "DM21" in c for c in gap.index)  # no DM21 − B3LYP column
    assert gap["reference (kcal/mol)"] == pytest.approx(-9.0) and "Leopold" in gap["source"]
    # What is compared with what: the computed gap is vertical, the reference adiabatic.
    assert gap["computed"].startswith("vertical") and "adiabatic" in gap["reference"]
    (note,) = [i.value for i in at.info if "Computed gaps" in i.value]
    assert "**Computed gaps: vertical**" in note and "**Reference: adiabatic" in note
    # The highlighted cards are the two errors, rounded to 0.01 kcal/mol.
    cards = {m.label: m.value for m in at.metric}
    assert cards == {
        f"{f} − reference": f"{gap[f'{f} − reference (kcal/mol)']:+.2f} kcal/mol" for f in ("B3LYP", "DM21")
    }
    # The table shows 2 decimals in kcal/mol (the values keep full precision).
    shown = _display(at.dataframe[0]).iloc[0]
    assert (
        shown["DM21 (kcal/mol)"] == f"{gap['DM21 (kcal/mol)']:.2f}"
        and shown["reference (kcal/mol)"] == "-9.00"
    )
    assert re.fullmatch(r"-?\d+\.\d\d", shown["B3LYP − reference (kcal/mol)"])
    assert list(states["kind"]) == ["RKS", "UKS", "RKS", "UKS"]
    # Independent check: plain PySCF B3LYP on its default grid (B3LYP moves < 1e-6 Ha between grids).
    mol = PRESETS["CH2 (methylene)"].molecule("sto-3g")
    singlet = dft.RKS(mol.to_pyscf(), xc="B3LYP").run().e_tot
    assert states.loc[("B3LYP", 0), "E (Ha)"] == pytest.approx(singlet, abs=1e-5)
    assert not at.warning  # RKS singlet and UKS triplet: <S^2> close to S(S+1)
    assert any("VWN-RPA" in c.value for c in at.caption)

    # In eV the same gaps show 3 decimals.
    at.selectbox(key="ss_unit").set_value("eV").run()
    shown = _display(at.dataframe[0]).iloc[0]
    ev = at.dataframe[0].value.iloc[0]
    assert shown["reference (eV)"] == "-0.390" and shown["DM21 (eV)"] == f"{ev['DM21 (eV)']:.3f}"
    assert ev["DM21 − reference (eV)"] == pytest.approx(
        gap["DM21 − reference (kcal/mol)"] / 23.0605, abs=1e-5
    )


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
