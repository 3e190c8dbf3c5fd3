"""The Geometry and vibrations page in AppTest: water/STO-3G optimised with B3LYP and PBE side by side,
each trajectory animated, the bond/angle table against experiment (with its source), then frequencies,
the IR stick spectrum and a chosen mode animated. Numbers checked against PySCF's own B3LYP."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from pyscf import dft
from pyscf.hessian import thermo
from streamlit.testing.v1 import AppTest

from explorer.analyses.geometry import EXPERIMENTAL_HARMONIC_CM1
from explorer.chem.molecules import Molecule, library_entry
from explorer.present.plots import FUNCTIONAL_COLORS

ROOT = Path(__file__).resolve().parents[2]


def _frames(html: str) -> int:
    """How many frames a trajectory view gives 3Dmol.js."""
    data = json.loads(re.search(r"\.addModelsAsFrames\((\".*?\"),\"xyz\"\)", html).group(1))
    return len(re.findall(r"^frame \d+$", data, flags=re.M))


def _molecule(atoms) -> Molecule:
    return Molecule(tuple((s, (x, y, z)) for s, x, y, z in atoms), 0, 0, "sto-3g")


def test_water_optimised_side_by_side_then_frequencies_and_a_mode():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    at.switch_page("pages/6_Geometry.py").run()
    assert not at.exception and at.title[0].value == "Geometry and vibrations"
    at.selectbox(key="mi_library").set_value("water")
    at.selectbox(key="mi_basis").set_value("sto-3g")
    at.multiselect(key="geo_functionals").set_value(["B3LYP", "PBE"]).run()
    at.button(key="geo_run").click().run()
    assert not at.exception and not at.error

    summary = at.dataframe[0].value.set_index("functional")
    assert list(summary.index) == ["B3LYP", "PBE"]
    assert (summary["max |gradient| (Ha/bohr)"] < 3e-4).all()  # the convergence criterion
    optimizations = at.session_state["geo_last"]["optimizations"]
    # Each trajectory is drawn with one frame per step (the molecule chooser's view is the first frame).
    frames = at.get("iframe")
    assert len(frames) == 3
    assert [_frames(f.proto.srcdoc) for f in frames[1:]] == [optimizations[f].steps for f in ("B3LYP", "PBE")]

    # The bond/angle tables: each functional against the library's experimental structure (water:
    # r(OH) 0.9578 A, HOH 104.48 degrees, NIST CCCBDB), deviations and mean absolute deviations.
    bonds, angles, mad = (at.dataframe[i].value.iloc[0] for i in (1, 2, 3))
    entry = library_entry("water")
    assert bonds["experiment"] == pytest.approx(0.9578, abs=1e-4) and "CCCBDB" in entry.source
    assert angles["experiment"] == pytest.approx(104.48, abs=1e-2)
    for f in ("B3LYP", "PBE"):
        assert bonds[f"{f} − exp"] == pytest.approx(bonds[f] - bonds["experiment"], abs=1e-12)
        assert angles[f"{f} − exp"] == pytest.approx(angles[f] - angles["experiment"], abs=1e-12)
    assert bonds["B3LYP − PBE"] == pytest.approx(bonds["B3LYP"] - bonds["PBE"], abs=1e-12)
    assert mad["B3LYP"] == pytest.approx(abs(bonds["B3LYP − exp"]), abs=1e-12)  # one (symmetric) bond kind
    assert any(entry.source in m.value for m in at.markdown)
    assert any("VWN-RPA" in c.value for c in at.caption)
    # Independent check: plain PySCF B3LYP (its own default grid) finds no force at the page's
    # geometry beyond the optimiser's threshold and the grid difference (6e-4 Ha/bohr).
    b3lyp = _molecule(optimizations["B3LYP"].atoms).to_pyscf()
    mf = dft.RKS(b3lyp, xc="B3LYP").run(conv_tol=1e-10)
    assert np.abs(mf.nuc_grad_method().kernel()).max() < 6e-4
    # A minimum of STO-3G B3LYP water: O-H 1.027 A, 97.19 degrees (PySCF's own geomeTRIC optimisation:
    # 1.02714 A, 97.186 degrees).
    assert bonds["B3LYP"] == pytest.approx(1.02714, abs=1e-3) and angles["B3LYP"] == pytest.approx(
        97.19, abs=0.2
    )

    at.button(key="geofreq_run").click().run()
    assert not at.exception and not at.error and not at.warning  # real minima: no imaginary mode
    modes = at.dataframe[4].value
    assert list(modes["mode"]) == [1, 2, 3]  # 3N - 6
    vibrations = at.session_state["geofreq_last"]["vibrations"]
    # PySCF's analytic B3LYP Hessian at the same geometry: the finite differences of gradients (0.005
    # bohr) on the DM21 grid agree within 3 cm-1 (measured: 0.2).
    analytic = thermo.harmonic_analysis(b3lyp, mf.Hessian().kernel())["freq_wavenumber"]
    assert list(modes["B3LYP (cm⁻¹)"]) == pytest.approx(list(analytic), abs=3.0)
    cards = {m.label: m.value for m in at.metric}
    assert cards["B3LYP: zero-point energy"] == f"{vibrations['B3LYP'].zpe_kcal:.2f} kcal/mol"
    # ZPE = h c sum(nu) / 2 over the three modes (kcal/mol per cm-1: 2.8591e-3).
    assert vibrations["B3LYP"].zpe_kcal == pytest.approx(
        sum(modes["B3LYP (cm⁻¹)"]) / 2 * 2.859144e-3, rel=1e-4
    )

    # The IR sticks: one line trace per functional in its colour, at the table's wavenumbers.
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (figure,) = [f for f in figures if "wavenumber" in f["layout"]["xaxis"].get("title", {}).get("text", "")]
    sticks = [t for t in figure["data"] if t["mode"] == "lines" and t.get("legendgroup") != "reference"]
    # Water is in the library with experiment's harmonic wavenumbers: grey dashed lines there, and each
    # functional's deviation in the table.
    experiment = list(EXPERIMENTAL_HARMONIC_CM1["water"][0])
    reference = [t["x"][0] for t in figure["data"] if t.get("legendgroup") == "reference"]
    assert reference == pytest.approx(experiment)
    assert list(modes["experiment (cm⁻¹)"]) == pytest.approx(experiment)
    assert list(modes["PBE − exp. (cm⁻¹)"]) == pytest.approx(
        [v - e for v, e in zip(modes["PBE (cm⁻¹)"], experiment, strict=True)]
    )
    assert [(t["name"], t["line"]["color"]) for t in sticks] == [
        (f, FUNCTIONAL_COLORS[f]) for f in ("B3LYP", "PBE")
    ]
    assert sticks[1]["x"][0::3] == pytest.approx(list(modes["PBE (cm⁻¹)"]))
    assert sticks[1]["y"][1::3] == pytest.approx(list(modes["PBE IR (km/mol)"]))
    assert "cm⁻¹" in figure["layout"]["xaxis"]["title"]["text"]
    assert "km/mol" in figure["layout"]["yaxis"]["title"]["text"]

    # A chosen mode is animated: its displacements go to 3Dmol.js's vibrate.
    at.selectbox(key="geo_mode_functional").set_value("PBE").run()
    at.selectbox(key="geo_mode").set_value(2).run()
    assert not at.exception
    html = at.get("iframe")[-1].proto.srcdoc
    assert ".vibrate(10,1,true)" in html and "PBE, mode 3" in html
    model = json.loads(re.search(r"\.addModel\((\".*?\"),\"xyz\"\)", html).group(1))
    shown = np.array([[float(v) for v in line.split()[4:7]] for line in model.splitlines()[2:]])
    mode = np.array(vibrations["PBE"].modes[2])
    # The same motion, turned with the molecule and scaled: equal up to one factor in every dot product.
    scale = np.linalg.norm(shown, axis=1).max() / np.linalg.norm(mode, axis=1).max()
    assert np.allclose(shown @ shown.T, scale**2 * (mode @ mode.T), atol=1e-5)


def test_one_atom_has_no_geometry_to_optimise():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/6_Geometry.py").run()
    at.selectbox(key="mi_library").set_value("He").run()
    assert not at.exception and not at.error
    assert any("at least two atoms" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "geo_run"]  # nothing to run
