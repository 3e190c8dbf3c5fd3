"""The static HTML export of a view: one document with the title, every figure's traces, the tables as
formatted on the page, the molecule and its 3D view, plotly.js and 3Dmol.js inlined once each, no
request to any host, and user text escaped."""

import json
import re
from dataclasses import replace

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from explorer.chem.molecules import from_library
from explorer.functionals import B3LYP_NOTE
from explorer.present.plots import curves_figure, difference_bar_figure
from explorer.present.static_page import TEMPLATE, THREEDMOL_JS, format_cell, table_html, view_html

HOSTILE = "</script><script>alert(1)</script>"


def _figures():
    curves = curves_figure(
        [{"name": "DM21", "x": [1.0, 1.5, 2.0], "y": [-0.5, -0.55, -0.52], "converged": [True] * 3}],
        "r (Angstrom)",
        "energy (Ha)",
    )
    bars = difference_bar_figure(["DM21", "B3LYP"], [0.0, 3.25], "ΔE vs DM21 (kcal/mol)")
    return curves, bars


def _document(molecule=None, notes=()):
    curves, bars = _figures()
    sections = [
        {"heading": "Energy curve", "figure": curves},
        {"heading": "Differences", "text": "**Total energies** differ.", "figure": bars},
        {
            "heading": "Table",
            "table": [
                {"functional": "DM21", "E (Ha)": -76.0107465123, "<S²>": 0.0, "converged": True},
                {"functional": "B3LYP", "E (Ha)": None, "<S²>": 0.75321, "converged": False},
            ],
            "formats": {"E (Ha)": "%.6f", "<S²>": "%.3f"},
        },
    ]
    return view_html("Compare functionals: water / sto-3g", sections, molecule=molecule, notes=notes)


def _plotly_divs(html: str) -> dict[str, list]:
    """{div id: the traces Plotly.newPlot draws into it} for every figure in the document."""
    calls = re.findall(r'Plotly\.newPlot\(\s*"([^"]+)",\s*(\[.*?\]),\s*\{', html, flags=re.S)
    return {div: json.loads(traces) for div, traces in calls}


def _outside_libraries(html: str) -> str:
    """The document without the two inlined libraries (whose own source mentions URLs it never loads
    for our figures, e.g. map tiles)."""
    return html.replace(get_plotlyjs(), "").replace(THREEDMOL_JS.read_text(encoding="utf-8"), "")


def test_document_has_title_figures_table_and_notes():
    html = _document(from_library("water", "sto-3g"), notes=["Energies on the DM21 reference grid."])
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>Compare functionals: water / sto-3g</title>" in html
    assert "<h1>Compare functionals: water / sto-3g</h1>" in html
    # One Plotly div per figure, each with its own traces and numbers.
    divs = _plotly_divs(html)
    assert list(divs) == ["figure-1", "figure-2"]
    assert [t["name"] for t in divs["figure-1"]] == ["DM21"]
    assert divs["figure-1"][0]["y"] == [-0.5, -0.55, -0.52]
    bars = [(x, y) for t in divs["figure-2"] for x, y in zip(t["x"], t["y"], strict=True)]
    assert bars == [("DM21", 0.0), ("B3LYP", 3.25)]
    assert html.count('class="plotly-graph-div"') == 2
    # The table as on the page: Hartree to 1e-6, <S²> to 1e-3, blanks and booleans readable.
    assert "<th>E (Ha)</th>" in html and "<th>&lt;S²&gt;</th>" in html
    assert '<td class="number">-76.010747</td>' in html
    assert '<td class="number">0.753</td>' in html
    assert "<td>—</td>" in html and "<td>yes</td>" in html and "<td>no</td>" in html
    assert "<p><strong>Total energies</strong> differ.</p>" in html
    # The molecule: facts and the 3D view, with its atoms.
    assert "<dt>Formula</dt><dd>H2O</dd>" in html and "<dt>Basis set</dt><dd>sto-3g</dd>" in html
    assert "<dt>2S (unpaired electrons)</dt><dd>0</dd>" in html
    assert html.count('.addModel("3\\n') == 1
    assert "Energies on the DM21 reference grid." in html
    # B3LYP appears (a bar and a table row): its note is added once.
    assert html.count(_escaped(B3LYP_NOTE)) == 1


def _escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_b3lyp_note_only_when_b3lyp_appears_and_never_twice():
    curves, _ = _figures()
    assert _escaped(B3LYP_NOTE) not in view_html("DM21 only", [{"figure": curves}])
    with_note = view_html("B3LYP", [{"figure": curves}], notes=[B3LYP_NOTE])
    assert with_note.count(_escaped(B3LYP_NOTE)) == 1


def test_libraries_inlined_exactly_once_and_nothing_loaded_from_a_host():
    html = _document(from_library("water", "sto-3g"))
    plotly_js = get_plotlyjs()
    threedmol_js = THREEDMOL_JS.read_text(encoding="utf-8")
    assert html.count(plotly_js) == 1
    assert html.count(threedmol_js) == 1
    assert html.count("plotly.js v") == 1  # plotly.js's banner: not once per figure
    # No external script or stylesheet; outside the libraries' own source (whose strings name map
    # tiles and attribution links our figures never use) no src/href to a host and no URL at all.
    assert not re.search(r"<script[^>]*\ssrc=", html)
    assert "<link" not in html
    rest = _outside_libraries(html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", rest)
    assert not re.search(r"https?://", rest), re.findall(r"https?://[^\s\"']+", rest)[:5]
    assert "cdn" not in rest.lower()
    # The 3D view's loader finds 3Dmol.js already there: it is told so right after the library.
    assert "window.$3Dmolpromise = Promise.resolve();" in html
    assert html.index(threedmol_js) < html.index("window.$3Dmolpromise") < html.index("$3Dmol.createViewer")


def test_without_molecule_3dmol_is_left_out():
    curves, _ = _figures()
    html = view_html("A curve", [{"figure": curves}])
    assert THREEDMOL_JS.read_text(encoding="utf-8")[:200] not in html
    assert html.count(get_plotlyjs()) == 1
    assert "Molecule" not in html


def test_hostile_names_are_escaped_everywhere():
    molecule = replace(from_library("water", "sto-3g"), name=HOSTILE)
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name=HOSTILE))
    html = view_html(
        HOSTILE,
        [{"heading": HOSTILE, "text": HOSTILE, "figure": figure, "table": [{HOSTILE: HOSTILE}]}],
        molecule=molecule,
        notes=[HOSTILE],
        subtitle=HOSTILE,
    )
    # No injected element: neither as markup nor closing one of the document's scripts.
    assert "<script>alert(1)" not in html
    assert "</script><script>alert" not in html
    escaped = "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    # title, h1, subtitle, molecule name, heading, text, table header and cell, note
    assert html.count(escaped) == 9
    # The trace name is still the name (JSON inside the script, with "<" and "/" escaped by Plotly).
    assert _plotly_divs(html)["figure-1"][0]["name"] == HOSTILE
    # Every <script> the document has is one of ours: the two libraries, the 3Dmol.js signal, the
    # 3D view and the one figure.
    assert html.count("<script") == 5


def test_cells_formatted_as_on_the_page():
    assert format_cell(-76.0107465123, "%.6f") == "-76.010747"
    assert format_cell(12.6249, "%.2f") == "12.62"
    assert format_cell(0.1234567891) == "0.123457"
    assert format_cell(3) == "3"
    assert format_cell(None) == "—" and format_cell(float("nan"), "%.2f") == "—"
    assert format_cell(True) == "yes" and format_cell("DM21") == "DM21"
    assert table_html([]) == ""
    # Columns are every key in order of first appearance, blank where a row lacks one.
    table = table_html([{"a": 1}, {"b": 2.5}])
    assert table.count("<th>") == 2 and table.index("<th>a</th>") < table.index("<th>b</th>")
    assert table.count("<td>—</td>") == 2


def test_figures_drawn_with_a_fixed_template_and_left_unchanged():
    """A figure made where Streamlit set the default template (placeholder colours only the app fills
    in) is exported with TEMPLATE; the page's own figure object is not changed."""
    placeholder = go.layout.Template(layout={"colorway": ["#000001"], "paper_bgcolor": "#000002"})
    figure = go.Figure(go.Heatmap(z=[[1.0, 2.0], [3.0, 4.0]]), layout={"template": placeholder})
    html = view_html("A map", [{"figure": figure}])
    assert "#000001" not in html and "#000002" not in html
    expected = json.dumps(pio.templates[TEMPLATE].layout.colorway[0])
    assert f'"colorway":[{expected}' in html.replace(" ", "")
    assert _plotly_divs(html)["figure-1"][0]["z"] == [[1.0, 2.0], [3.0, 4.0]]
    assert figure.layout.template.layout.colorway == ("#000001",)
