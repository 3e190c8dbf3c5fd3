"""The Compare page in a real Chromium: a typed and a drawn molecule reach the 3D viewer, and a
DM21 vs B3LYP comparison runs to its table, all without a request leaving 127.0.0.1."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

VIEWER = 'iframe[data-testid="stIFrame"]'
KETCHER = 'iframe[title="streamlit_ketcher.streamlit_ketcher"]'


def _viewer_atoms(page) -> int:
    """Number of atoms the 3Dmol.js viewer on the page holds (0 if none is drawn yet)."""
    for frame in page.frames:
        if frame.url != "about:srcdoc":
            continue
        count = frame.evaluate(
            """() => {
                if (typeof $3Dmol !== 'object') return 0;
                const name = Object.keys(window).find(k => k.startsWith('viewer_v') && window[k]);
                return name ? window[name].selectedAtoms({}).length : 0;
            }"""
        )
        if count:
            return count
    return 0


def _choose_source(page, label: str) -> None:
    page.get_by_test_id("stButtonGroup").get_by_role("radio", name=label, exact=True).click()


def test_typed_smiles_reaches_the_3d_viewer_and_comparison_completes(
    choose, open_app, page, wait_for_app, outside_requests, screenshot
):
    open_app("Compare")
    expect(page.get_by_role("heading", name="Compare functionals")).to_be_visible()
    _choose_source(page, "SMILES")
    box = page.get_by_role("textbox", name="SMILES")
    expect(box).to_be_visible()
    box.fill("C#N")  # hydrogen cyanide: 3 atoms
    box.press("Enter")
    expect(page.get_by_text(re.compile(r"CHN, 14 electrons"))).to_be_visible(timeout=60_000)
    wait_for_app(page)
    expect(page.frame_locator(VIEWER).first.locator("canvas")).to_have_count(1, timeout=30_000)
    assert _wait_for(lambda: _viewer_atoms(page) == 3, page)
    screenshot("compare_typed_smiles")

    choose(page, "Basis set", "sto-3g")
    # The rerun after the basis change has drawn the new size (HCN/STO-3G: 3 + 3 + 5 functions) before
    # Run is clicked: waiting for "not running" alone can pass before that rerun starts.
    expect(page.get_by_text(re.compile(r"^11 basis functions"))).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)
    page.get_by_role("button", name="Run comparison").click(timeout=120_000)
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_be_visible(timeout=300_000)
    expect(page.get_by_text(re.compile(r"CHN / sto-3g|C#N / sto-3g"))).to_be_visible()
    wait_for_app(page, timeout=120_000)
    screenshot("compare_result")
    screenshot("compare_table", table)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []


def test_drawn_molecule_reaches_the_3d_viewer(open_app, page, wait_for_app, outside_requests, screenshot):
    open_app("Compare")
    _choose_source(page, "Draw")
    ketcher = page.frame_locator(KETCHER)
    expect(ketcher.get_by_role("button", name="Apply")).to_be_enabled(timeout=90_000)
    formic_acid = page.get_by_text(re.compile(r"CH2O2, 24 electrons"))
    # Ketcher converts pasted SMILES with a WebAssembly engine that may still be starting on first use:
    # the whole paste-and-apply is repeated until the app reports the new molecule.
    for attempt in range(4):
        ketcher.locator('button[title^="Open..."]').click()
        ketcher.get_by_text("Paste from clipboard").click()
        ketcher.get_by_role("dialog").locator("textarea").fill("OC=O")  # formic acid: 5 atoms
        ketcher.locator('input[value="Open as New Project"]').click()
        expect(ketcher.get_by_role("dialog")).to_have_count(0, timeout=30_000)
        page.wait_for_timeout(1000 * (attempt + 1))
        ketcher.get_by_role("button", name="Apply").click()
        if _wait_for(formic_acid.is_visible, page, timeout_ms=15_000):
            break
    else:
        screenshot("compare_drawn_molecule_failed")
    expect(formic_acid).to_be_visible()
    wait_for_app(page)
    assert _wait_for(lambda: _viewer_atoms(page) == 5, page)
    screenshot("compare_drawn_molecule")
    assert outside_requests() == []


def _wait_for(condition, page, timeout_ms: int = 30_000, step_ms: int = 250) -> bool:
    """Polls ``condition`` until it is true or ``timeout_ms`` passes; returns its last value."""
    for _ in range(timeout_ms // step_ms):
        if condition():
            return True
        page.wait_for_timeout(step_ms)
    return bool(condition())
