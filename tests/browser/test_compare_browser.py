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
    choose, ensure_functionals, open_app, page, wait_for_app, outside_requests, screenshot
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
    expect(page.get_by_text(re.compile(r"CHN, 14 electrons"))).to_be_visible(timeout=60_000)
    wait_for_app(page, timeout=120_000)
    ensure_functionals(page)
    expect(page.get_by_text(re.compile(r"^11 basis functions"))).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)
    page.get_by_role("button", name="Run comparison").click(timeout=120_000)
    table = page.get_by_test_id("stDataFrame").first  # the chemistry table, then energies, run details
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


def _rgb(hex_color: str) -> str:
    """ "#0072B2" -> "rgb(0, 114, 178)", as the browser reports an SVG stroke or fill."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_compare_leads_with_chemistry_and_keeps_every_table_whole(
    choose, open_app, page, wait_for_app, outside_requests, screenshot
):
    """Issue 20 (2): at 1280x800 the first plot after a comparison is chemistry (HOMO/LUMO against
    -IE, in the functionals' colours), the total-energy difference comes last, and no table is cut
    off at the right (each part fits without a horizontal scroll bar)."""
    from explorer.present.plots import FUNCTIONAL_COLORS, REFERENCE_COLOR

    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("Compare")
    expect(page.get_by_role("combobox", name="Library molecule")).to_have_value(re.compile("^water"))
    choose(page, "Basis set", "sto-3g")
    expect(page.get_by_text(re.compile(r"^7 basis functions"))).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)
    # Atomization energies and D3(BJ): the widest tables the page can show.
    for option in ("Atomization energies", "Add D3(BJ) dispersion"):
        page.get_by_test_id("stCheckbox").filter(has_text=option).click()
        expect(page.get_by_role("checkbox", name=option)).to_be_checked()
        wait_for_app(page, timeout=120_000)
    page.get_by_role("button", name="Run comparison").click(timeout=120_000)
    tables = page.get_by_test_id("stDataFrame")
    expect(tables).to_have_count(3, timeout=300_000)
    expect(page.get_by_text(re.compile(r"Experimental ionization energy 12\.62 eV"))).to_be_visible()
    wait_for_app(page, timeout=120_000)
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(3)
    expect(charts.first.locator(".legendtext").first).to_be_visible(timeout=30_000)
    screenshot("compare_chemistry_first_1280x800")

    # The first plot: orbital energies in eV, one legend entry per functional in its colour, and
    # the experimental -IE as the grey dashed reference; not total energies.
    first = charts.first
    assert first.locator(".ytitle").text_content() == "orbital energy (eV)"
    assert "ΔE" not in first.inner_text() and "total" not in first.inner_text().lower()
    legend = first.locator(".legend .traces")
    names = [legend.nth(i).locator(".legendtext").text_content() for i in range(legend.count())]
    assert names == ["DM21", "B3LYP", "−IE, experiment (12.62 eV)"]
    strokes = [
        legend.nth(i).locator(".legendlines path").evaluate("p => getComputedStyle(p).stroke")
        for i in range(legend.count())
    ]
    assert strokes == [
        _rgb(FUNCTIONAL_COLORS["DM21"]),
        _rgb(FUNCTIONAL_COLORS["B3LYP"]),
        _rgb(REFERENCE_COLOR),
    ]
    screenshot("compare_orbital_levels", first)
    # Then the per-functional bars (dipole, -HOMO and atomization errors), the ΔE bars last.
    second = charts.nth(1)
    axis_titles = second.locator('text[class^="y"][class$="title"]')  # ytitle, y2title, ...
    assert axis_titles.all_text_contents() == [
        "|dipole| (D)",
        "−HOMO − experimental IE (eV)",
        "atomization − reference (kcal/mol)",
    ]
    screenshot("compare_errors", second)
    assert charts.last.locator(".ytitle").text_content() == "ΔE vs DM21 (kcal/mol)"

    # Every table whole at 1280 px: inside the window, and nothing to scroll sideways to.
    for i, name in enumerate(("chemistry", "energies", "run_details")):
        table = tables.nth(i)
        table.scroll_into_view_if_needed()
        box = table.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, name
        scroll, visible = table.locator(".dvn-scroller").evaluate("s => [s.scrollWidth, s.clientWidth]")
        assert scroll <= visible, f"the {name} table scrolls sideways ({scroll} > {visible} px)"
        screenshot(f"compare_table_{name}", table)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert outside_requests() == []
