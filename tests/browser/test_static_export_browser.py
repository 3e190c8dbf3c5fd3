"""The static HTML export in a real Chromium: a DM21 vs B3LYP comparison on Compare (water / STO-3G) is
downloaded as "Page as HTML" and opened from file:// in a fresh browser with no server and no network,
where every Plotly chart, the tables and the 3D viewer draw."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

BUTTON = "Page as HTML (opens without the app)"


def test_compare_exports_a_page_that_opens_without_the_app(
    choose,
    open_app,
    page,
    wait_for_app,
    new_browser_context,
    request_log,
    outside_requests,
    screenshot,
    tmp_path,
):
    page.set_viewport_size({"width": 1280, "height": 800})
    open_app("")
    open_app("Compare")
    expect(page.get_by_role("combobox", name="Library molecule")).to_have_value(re.compile("^water"))
    choose(page, "Basis set", "sto-3g")
    expect(page.get_by_text(re.compile(r"^7 basis functions"))).to_be_visible(timeout=120_000)
    wait_for_app(page, timeout=120_000)
    page.get_by_role("button", name="Run comparison").click(timeout=120_000)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(3, timeout=300_000)  # chemistry, energies, run
    wait_for_app(page, timeout=120_000)
    charts_on_page = page.get_by_test_id("stPlotlyChart").count()
    assert charts_on_page == 3

    button = page.get_by_role("button", name=BUTTON)
    expect(button).to_be_visible()
    with page.expect_download(timeout=120_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "water_compare.html"
    path = tmp_path / "export.html"
    download.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert "<h1>Compare functionals: water / sto-3g</h1>" in text
    assert page.get_by_test_id("stException").count() == 0
    assert outside_requests() == []

    # A fresh browser (own profile, nothing cached), outside requests aborted by the fixture: the file
    # alone must draw everything.
    seen = len(request_log)
    offline = new_browser_context()
    # The fixture aborts every URL off 127.0.0.1, file:// included: let this one file through, only it.
    offline.route(path.as_uri(), lambda route: route.continue_())
    view = offline.pages[0] if offline.pages else offline.new_page()
    view.set_viewport_size({"width": 1280, "height": 800})
    errors = []
    view.on("pageerror", lambda err: errors.append(str(err)))
    view.goto(path.as_uri())
    expect(view.get_by_role("heading", name="Compare functionals: water / sto-3g")).to_be_visible()
    plots = view.locator(".js-plotly-plot")
    expect(plots).to_have_count(charts_on_page, timeout=30_000)  # the same figures as the page
    for i in range(charts_on_page):
        expect(plots.nth(i).locator("svg.main-svg").first).to_be_visible(timeout=30_000)
    legend = [t.text_content() for t in plots.first.locator(".legendtext").all()]
    assert legend[:2] == ["DM21", "B3LYP"]
    tables = view.locator("table.data")
    expect(tables).to_have_count(3)  # chemistry, energies, run details
    assert tables.first.locator("tbody tr").count() == 2  # DM21, B3LYP
    expect(tables.first.locator("td").filter(has_text="DM21")).to_have_count(1)
    expect(view.locator(".viewer canvas")).to_have_count(1, timeout=30_000)
    atoms = view.evaluate(
        """() => {
            const name = Object.keys(window).find(k => k.startsWith('viewer_v') && window[k]);
            return name ? window[name].selectedAtoms({}).length : 0;
        }"""
    )
    assert atoms == 3
    expect(view.get_by_text("B3LYP is PySCF's VWN-RPA flavour", exact=False)).to_be_visible()
    screenshot("static_export_offline", view)
    assert errors == []
    # The fresh browser asked for nothing but the file itself.
    asked = request_log[seen:]
    assert path.as_uri() in asked  # the log records this browser's requests
    assert [url for url in asked if not url.startswith("file://")] == []
    assert [url for url in outside_requests() if not url.startswith("file://")] == []
