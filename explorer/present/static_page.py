"""A view as one self-contained HTML document (plots, tables, molecule) that opens from a file, with no
server and no network.

plotly.js (from the installed plotly package) and 3Dmol.js (static/3Dmol-min.js, which setup.sh copies
from npm's `3dmol`) are written into the document once each; the document loads nothing from anywhere.
Every piece of user text (titles, molecule names from XYZ comment lines, table cells, notes) is
escaped, so none of it can become markup or script.

A section is plain data, a dict with any of (drawn in this order):
    "heading": str                 a sub-heading
    "text": str                    paragraphs (blank-line separated); **bold** is kept as bold
    "figure": plotly Figure        drawn with its traces and layout, as on the page
    "table": list[dict]            rows; columns are every key in order of first appearance
    "formats": {column: "%.6f"}    printf formats of numeric columns (as the page's column_config);
                                   other floats are written with 6 significant digits
"""

from __future__ import annotations

import functools
import html
import math
import re
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from explorer.chem.molecules import Molecule
from explorer.functionals import B3LYP_NOTE
from explorer.present.viewer3d import molecule_view_html

#: static/3Dmol-min.js at the repository root (setup.sh copies it from the npm package `3dmol`).
THREEDMOL_JS = Path(__file__).resolve().parents[2] / "static" / "3Dmol-min.js"

#: The 3D view's loader is never used (3Dmol.js is already in the document, see _THREEDMOL_READY);
#: should it run anyway, this empty data: script is fetched from nowhere.
_INERT_JS_URL = "data:text/javascript,"

#: Run after the inlined 3Dmol.js: py3Dmol's loader waits on $3Dmolpromise and only loads the library
#: itself when that is undefined.
_THREEDMOL_READY = "window.$3Dmolpromise = Promise.resolve();"

#: The exported figures' Plotly template. Not the process's default: importing Streamlit makes that
#: "streamlit", whose colours are placeholders only the app's frontend fills in.
TEMPLATE = "plotly_white"

#: A figure's height in pixels when its layout sets none (Plotly's own default).
DEFAULT_FIGURE_HEIGHT = 450

#: Height in pixels of the molecule's 3D view.
VIEWER_HEIGHT = 360

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; max-width: 70em;
       margin: 1.5em auto; padding: 0 1em; line-height: 1.45; color: #111; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.3em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table.data { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
table.data th, table.data td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
table.data th { background: #f2f2f2; text-align: left; }
table.data td.number { text-align: right; font-variant-numeric: tabular-nums; }
.molecule dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
.molecule dt { font-weight: bold; }
.molecule dd { margin: 0; }
.viewer { border: 1px solid #ccc; max-width: 40em; }
.notes { color: #444; font-size: 0.9em; }
.figure { margin: 0.8em 0; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _paragraphs(text: str) -> str:
    """Escaped paragraphs; **bold** (as the pages write it in Markdown) becomes <strong>."""
    out = []
    for part in str(text).split("\n\n"):
        if part.strip():
            escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _e(part.strip()))
            out.append(f"<p>{escaped}</p>")
    return "".join(out)


@functools.cache
def _plotly_js() -> str:
    return get_plotlyjs()


@functools.cache
def _threedmol_js() -> str:
    if not THREEDMOL_JS.is_file():
        raise FileNotFoundError(
            f"{THREEDMOL_JS} is missing: run `bash setup.sh` (it copies it from npm's 3dmol)"
        )
    return THREEDMOL_JS.read_text(encoding="utf-8")


def format_cell(value, fmt: str | None = None) -> str:
    """A table cell's text: `fmt` (printf, e.g. "%.6f") for a number when given, else 6 significant
    digits for a float; "—" for a missing value (None or NaN); "yes"/"no" for a bool."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if fmt:
            return fmt % value
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    return str(value)


def table_html(rows: list[dict], formats: dict | None = None) -> str:
    """An escaped HTML table of `rows` (columns in order of first appearance), numbers formatted by
    format_cell with the column's printf format from `formats`."""
    if not rows:
        return ""
    formats = formats or {}
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            css = ' class="number"' if number else ""
            cells.append(f"<td{css}>{_e(format_cell(value, formats.get(c)))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def figure_html(figure, div_id: str) -> str:
    """One Plotly figure as a <div> and its plotting script, without plotly.js (view_html writes it
    once for the whole document), drawn with TEMPLATE (on a copy: the caller's figure is unchanged).
    The figure's JSON is escaped by Plotly so that no text in it closes the script."""
    height = figure.layout.height or DEFAULT_FIGURE_HEIGHT
    return pio.to_html(
        go.Figure(figure).update_layout(template=TEMPLATE),
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        default_width="100%",
        default_height=f"{int(height)}px",
        config={"displaylogo": False, "responsive": True},
    )


def _viewer_body(molecule: Molecule) -> str:
    """The body of viewer3d.molecule_view_html (its <div> and <script>), to sit inside this document."""
    page = molecule_view_html(molecule, js_url=_INERT_JS_URL, height=VIEWER_HEIGHT)
    return page.split("<body>\n", 1)[1].rsplit("</body>", 1)[0]


def molecule_html(molecule: Molecule) -> str:
    """The molecule's facts (name, formula, electrons, charge, 2S, basis) and its 3D view."""
    facts = [
        ("Name", molecule.name or molecule.formula()),
        ("Formula", molecule.formula()),
        ("Electrons", molecule.n_electrons),
        ("Charge", molecule.charge),
        ("2S (unpaired electrons)", molecule.spin),
        ("Basis set", molecule.basis),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return (
        f'<section class="molecule"><h2>Molecule</h2><dl>{items}</dl>'
        f'<div class="viewer">{_viewer_body(molecule)}</div></section>'
    )


def _mentions_b3lyp(title: str, sections: list[dict]) -> bool:
    """Whether B3LYP appears in the title, a trace name, a table's columns or cells, or a text."""
    texts = [title]
    for section in sections:
        texts += [section.get("heading", ""), section.get("text", "")]
        if section.get("figure") is not None:
            texts += [trace.name or "" for trace in section["figure"].data]
        for row in section.get("table") or []:
            texts += [str(k) for k in row] + [str(v) for v in row.values()]
    return any("B3LYP" in str(t) for t in texts)


def view_html(
    title: str, sections: list[dict], molecule: Molecule | None = None, notes=(), subtitle: str = ""
) -> str:
    """One self-contained HTML document: `title` (and `subtitle`), the molecule's facts and 3D view when
    given, each section (see the module docstring) in order, and the `notes`; B3LYP_NOTE is added when
    B3LYP appears and the notes lack it. plotly.js and 3Dmol.js are inlined once each; nothing is loaded
    from any host."""
    notes = [n for n in notes if n]
    if B3LYP_NOTE not in notes and _mentions_b3lyp(title, sections):
        notes.append(B3LYP_NOTE)
    parts = [f"<h1>{_e(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="notes">{_e(subtitle)}</p>')
    if molecule is not None:
        parts.append(molecule_html(molecule))
    n_figures = 0
    for section in sections:
        parts.append("<section>")
        if section.get("heading"):
            parts.append(f"<h2>{_e(section['heading'])}</h2>")
        if section.get("text"):
            parts.append(_paragraphs(section["text"]))
        if section.get("figure") is not None:
            n_figures += 1
            parts.append(f'<div class="figure">{figure_html(section["figure"], f"figure-{n_figures}")}</div>')
        if section.get("table"):
            parts.append(table_html(section["table"], section.get("formats")))
        parts.append("</section>")
    if notes:
        parts.append(
            f'<section class="notes"><h2>Notes</h2>{"".join(_paragraphs(n) for n in notes)}</section>'
        )
    parts.append('<p class="notes">Exported from DM21 Explorer; opens without the app or a network.</p>')
    scripts = f"<script>{_plotly_js()}</script>\n"
    if molecule is not None:
        scripts += f"<script>{_threedmol_js()}</script>\n<script>{_THREEDMOL_READY}</script>\n"
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
        f"<style>{_STYLE}</style>\n{scripts}</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )
