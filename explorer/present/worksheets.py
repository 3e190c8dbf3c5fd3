"""A lesson's presentation: its reveal plot (Plotly, from the plot functions of explorer.present.plots)
and its printable worksheet and answer key (standalone HTML).

The HTML is built from the lesson's text with every piece escaped (html.escape), so a lesson file
cannot inject markup or script; it has no external resources and prints on A4 or Letter as it is.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from explorer.analyses import fractional, spin_states
from explorer.analyses.lessons import Lesson
from explorer.chem import units
from explorer.functionals import B3LYP_NOTE
from explorer.present.plots import curves_figure, functional_color, profile_figure, spin_levels_figure

#: Energy unit of the lessons' plots.
UNIT = "kcal/mol"

_STYLE = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 44em; margin: 2em auto; line-height: 1.45;
       color: #000; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin-top: 1.4em; border-bottom: 1px solid #888; }
.meta { color: #333; font-size: 0.9em; }
ol.choices { list-style: upper-alpha; }
ol.choices li { margin: 0.4em 0; }
.box { border: 1px solid #444; min-height: 6em; margin: 0.5em 0 1em; }
.answer { font-weight: bold; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; }
               .box { page-break-inside: avoid; } }
"""


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_e(p.strip())}</p>" for p in str(text).split("\n\n") if p.strip())


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def _calculation_line(lesson: Lesson) -> str:
    c = lesson.calculation
    what = c.get("molecule") or c.get("preset")
    names = ", ".join(c["functionals"])
    return f"Calculation: {c['analysis']}, {what}, basis {c['basis']}, functionals {names}."


def _head(lesson: Lesson, kind: str) -> str:
    return (
        f"<h1>{_e(lesson.title)}</h1><p class='meta'>{_e(kind)} · DM21 Explorer lesson "
        f"<code>{_e(lesson.id)}</code> · {_e(_calculation_line(lesson))}</p>"
        f"<h2>Goal</h2>{_paragraphs(lesson.goal)}<h2>Background</h2>{_paragraphs(lesson.background)}"
    )


def worksheet_html(lesson: Lesson) -> str:
    """The student's worksheet (HTML): goal, background, the prediction question with its choices
    lettered A, B ..., room to write a reason, and the follow-up questions with room for answers.
    No answers."""
    choices = "".join(f"<li>{_e(c)}</li>" for c in lesson.choices)
    follow = "".join(
        f"<h3>Follow-up {n}</h3>{_paragraphs(item['question'])}<div class='box'></div>"
        for n, item in enumerate(lesson.follow_ups, 1)
    )
    body = (
        _head(lesson, "Worksheet")
        + f"<h2>Predict</h2>{_paragraphs(lesson.question)}<ol class='choices'>{choices}</ol>"
        "<p>Your choice and why:</p><div class='box'></div>"
        "<h2>Run the calculation</h2><p>Open the lesson in DM21 Explorer (Lessons), answer, and run the "
        "calculation. Then answer:</p>" + follow
    )
    return _page(f"{lesson.title}: worksheet", body)


def answer_key_html(lesson: Lesson) -> str:
    """The teacher's answer key (HTML): the question with the correct choice marked and named, the
    explanation, what to look at in the plot, and each follow-up with its answer."""
    letter = "ABCDEF"[lesson.choices.index(lesson.answer)]
    choices = "".join(
        f"<li{' class=answer' if c == lesson.answer else ''}>{_e(c)}{' ✔' if c == lesson.answer else ''}</li>"
        for c in lesson.choices
    )
    follow = "".join(
        f"<h3>Follow-up {n}</h3>{_paragraphs(item['question'])}"
        f"<p class='answer'>Answer:</p>{_paragraphs(item['answer'])}"
        for n, item in enumerate(lesson.follow_ups, 1)
    )
    notes = f"<p class='meta'>{_e(B3LYP_NOTE)}</p>" if "B3LYP" in lesson.functionals else ""
    body = (
        _head(lesson, "Answer key")
        + f"<h2>Predict</h2>{_paragraphs(lesson.question)}<ol class='choices'>{choices}</ol>"
        f"<p class='answer'>Correct answer: {letter}. {_e(lesson.answer)}</p>"
        f"<h2>Explanation</h2>{_paragraphs(lesson.explanation)}"
        f"<h2>What to look at in the plot</h2>{_paragraphs(lesson.look_at)}" + follow + notes
    )
    return _page(f"{lesson.title}: answer key", body)


# --- the reveal plot ----------------------------------------------------------------------------


def _energy(point: dict) -> float | None:
    return point["energy"] if point.get("converged") else None


def _curve(result: dict, x_key: str, y=lambda p: _energy(p)) -> dict:
    pts = result["points"]
    return {
        "name": result["functional"],
        "x": [p[x_key] for p in pts],
        "y": [y(p) for p in pts],
        "converged": [bool(p["converged"]) for p in pts],
    }


def lesson_figure(lesson: Lesson, results: list[dict]) -> go.Figure:
    """The reveal's plot from ``results`` (one explorer.analyses.lessons.run_calculation result per
    functional): E(N) with each functional's straight lines between the integers (Hartree);
    E(f) - E(0) with the exact flat line (kcal/mol); a bond scan with the exact large-R limit
    (Hartree); the spin-state level diagram with the reference gap (kcal/mol); or the density along
    a line with DM21 minus the other functional below (electrons/bohr^3). Points that did not
    converge are crosses or left out, never drawn as results."""
    analysis = lesson.calculation["analysis"]
    if analysis == "fractional-charge":
        series = [_curve(r, "n_electrons") for r in results]
        lines = []
        for r in results:
            ints = [p for p in r["points"] if abs(p["delta"] - round(p["delta"])) < 1e-9 and p["converged"]]
            lines.append({"name": f"{r['functional']}: straight lines between integers",
                          "x": [p["n_electrons"] for p in ints], "y": [p["energy"] for p in ints],
                          "color": functional_color(r["functional"])})  # fmt: skip
        return curves_figure(series, "number of electrons N", "energy (Ha)", lines)
    if analysis == "fractional-spin":
        series = []
        for r in results:
            origin = _energy(r["points"][0])

            def rise(p, origin=origin):
                e = _energy(p)
                return None if e is None or origin is None else units.from_hartree(e - origin, UNIT)

            series.append(_curve(r, "fraction", rise))
        flat = {"name": "exact: flat", "x": [0.0, 1.0], "y": [0.0, 0.0]}
        return curves_figure(series, "fraction f of the electron moved from alpha to beta",
                             f"E(f) - E(0) ({UNIT})", [flat])  # fmt: skip
    if analysis == "scan":
        preset = fractional.DISSOCIATION_PRESETS[lesson.calculation["preset"]]
        series = [_curve(r, "value") for r in results]
        xs = lesson.calculation["values"]
        exact = {"name": "exact large-R limit", "x": [min(xs), max(xs)], "y": [preset["exact_limit"]] * 2}
        return curves_figure(series, "r (Angstrom)", "energy (Ha)", [exact])
    if analysis == "spin-states":
        levels = {}
        for r in results:
            energies = [s["energy"] for s in r["states"] if s["energy"] is not None]
            low = min(energies) if energies else None
            levels[r["functional"]] = [
                {
                    **s,
                    "relative": None if s["energy"] is None else units.from_hartree(s["energy"] - low, UNIT),
                }
                for s in r["states"]
            ]
        preset = spin_states.PRESETS[lesson.calculation["preset"]]
        return spin_levels_figure(levels, UNIT, spin_states.reference_levels(preset.reference, UNIT))
    # density-profile
    first = results[0]
    curves = [{"name": r["functional"], "y": r["rho"]} for r in results if r["rho"] is not None]
    difference = {"name": "no difference", "y": [0.0] * len(first["x"])}
    if len(curves) >= 2:
        a, b = curves[0], curves[1]
        difference = {
            "name": f"{a['name']} − {b['name']}",
            "y": [p - q for p, q in zip(a["y"], b["y"], strict=True)],
        }
    return profile_figure(first["x"], curves, difference, "position along the line (Angstrom)",
                          "density (electrons/bohr³)", "difference (electrons/bohr³)", log=True,
                          atoms=first["atoms"])  # fmt: skip
