"""Every figure of the app follows the same conventions (issue 20): each axis a trace uses has a title,
with its unit in parentheses unless the quantity has none, the figure has a legend, and a trace that
belongs to a functional is drawn in that functional's colour from the one palette (FUNCTIONAL_COLORS)."""

import inspect

import numpy as np
import pytest

from explorer.present import plots
from explorer.present.plots import FUNCTIONAL_COLORS

#: Axis titles of quantities without a unit (counts, categories, ratios).
UNITLESS = {"SCF iteration", "functional", "basis functions", "number of electrons N", "fractional spin f"}


def _examples() -> dict:
    """One figure per plotting function of explorer.present.plots, from small made-up data."""
    x = np.linspace(-1.0, 1.0, 5)
    return {
        "scf_progress_figure": plots.scf_progress_figure(
            [
                {"stage": "warm start (B3LYP)", "cycle": 1, "energy": -76.0},
                {"stage": "DM21", "cycle": 1, "energy": -76.3},
                {"stage": "DM21", "cycle": 2, "energy": -76.4},
            ]
        ),
        "difference_bar_figure": plots.difference_bar_figure(["DM21", "B3LYP"], [0.0, -3.0], "ΔE (kcal/mol)"),
        "curves_figure": plots.curves_figure(
            [
                {"name": "DM21", "x": [0, 1], "y": [0.0, -0.5]},
                {"name": "B3LYP", "x": [0, 1], "y": [0.0, -0.49]},
            ],
            "number of electrons N",
            "energy (Ha)",
            references=[{"name": "exact", "x": [0, 1], "y": [0, -0.5]}],
        ),
        "spin_levels_figure": plots.spin_levels_figure(
            {
                "DM21 (vertical)": [
                    {"label": "triplet", "spin": 2, "relative": 0.0, "s2": 2.0, "converged": True},
                    {"label": "singlet", "spin": 0, "relative": 30.0, "s2": 0.0, "converged": True},
                ],
                "B3LYP (vertical)": [
                    {"label": "triplet", "spin": 2, "relative": 0.0, "s2": 2.0, "converged": True},
                    {"label": "singlet", "spin": 0, "relative": 31.0, "s2": 0.0, "converged": True},
                ],
            },
            "kcal/mol",
        ),
        "plane_maps_figure": plots.plane_maps_figure(
            [{"title": "DM21", "z": np.outer(x, x)}, {"title": "B3LYP", "z": np.outer(x, x) * 0.9}],
            x,
            x,
            "e_xc (Ha/bohr³)",
            atoms=[{"symbol": "O", "x": 0.0, "y": 0.0}],
        ),
        "scaling_figure": plots.scaling_figure(
            [
                {
                    "case": "water",
                    "n_basis": 24,
                    "functional": "DM21",
                    "b3lyp": {"scf_seconds": 0.5},
                    "dm21": {"scf_seconds": 2.0},
                },
                {
                    "case": "benzene",
                    "n_basis": 114,
                    "functional": "DM21",
                    "b3lyp": {"scf_seconds": 5.0},
                    "dm21": {"scf_seconds": 40.0},
                },
            ]
        ),  # fmt: skip
        "orbital_levels_figure": plots.orbital_levels_figure(
            ["DM21", "B3LYP"], [-12.0, -9.0], [2.0, 1.0], 12.62
        ),
        "property_bars_figure": plots.property_bars_figure(
            ["DM21", "B3LYP"], [{"title": "|dipole| (D)", "values": [1.9, 2.0]}]
        ),
        "frontier_orbitals_figure": plots.frontier_orbitals_figure(
            [
                {"functional": "DM21", "orbital": "HOMO", "x": [0, 1], "y": [-13.0, -7.0]},
                {"functional": "DM21", "orbital": "LUMO", "x": [0, 1], "y": [-1.0, 2.0]},
                {"functional": "B3LYP", "orbital": "HOMO", "x": [0, 1], "y": [-9.0, -5.0]},
            ],
            "number of electrons N",
            "orbital energy (eV)",
        ),
        "profile_figure": plots.profile_figure(
            x,
            [{"name": "DM21", "y": np.exp(-(x**2))}, {"name": "B3LYP", "y": np.exp(-(x**2)) * 0.99}],
            {"name": "DM21 − B3LYP", "y": np.exp(-(x**2)) * 0.01},
            "position (Å)",
            "ρ (electrons/bohr³)",
            "difference (electrons/bohr³)",
        ),
    }


def test_every_plotting_function_has_an_example():
    functions = {
        name for name, f in inspect.getmembers(plots, inspect.isfunction) if name.endswith("_figure")
    }
    assert functions == set(_examples())


def _axis_title(figure, axis_id: str) -> str:
    """The title text of a trace's axis ("x", "x2", "y3" ...), or of the axis it is shared with (side
    by side panels and stacked rows title their shared axis once)."""
    letter = axis_id[0]
    axes = {a: figure.layout[a] for a in figure.layout if a.startswith(letter + "axis")}
    own = axes[letter + "axis" + axis_id[1:]]
    shared = [a.title.text for a in axes.values() if a.matches == axis_id or (own.matches and a is not own)]
    return own.title.text or next((t for t in shared if t), "")


def _functional(name: str) -> str | None:
    head = (name or "").split(" ")[0].split(":")[0]
    return head if head in FUNCTIONAL_COLORS else None


@pytest.mark.parametrize("name", sorted(_examples()))
def test_axes_have_titles_with_units_and_functionals_their_colours(name):
    figure = _examples()[name]
    assert figure.data
    for trace in figure.data:
        for axis in (trace.xaxis or "x", trace.yaxis or "y"):
            title = _axis_title(figure, axis)
            assert title, f"{name}: axis {axis} has no title"
            numeric = figure.layout[axis[0] + "axis" + axis[1:]].type != "category"
            if numeric and title not in UNITLESS:
                assert "(" in title and title.endswith(")"), (
                    f"{name}: axis {axis} title {title!r} has no unit"
                )
    assert figure.layout.showlegend is not False or name == "plane_maps_figure", f"{name}: legend hidden"
    for trace in figure.data:
        functional = _functional(trace.name)
        if functional is None or trace.type == "heatmap":
            continue
        colours = {getattr(getattr(trace, part, None), "color", None) for part in ("line", "marker")}
        assert FUNCTIONAL_COLORS[functional] in colours, f"{name}: {trace.name} drawn in {colours}"
