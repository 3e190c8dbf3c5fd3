"""Plotly figures for the app's views (pure functions of data; no Streamlit)."""

from __future__ import annotations

import re

import plotly.graph_objects as go

#: The app's one palette: each functional keeps its colour in every plot of every view (Okabe-Ito and
#: Paul Tol colours, told apart with the common colour-vision deficiencies and on light and dark themes).
FUNCTIONAL_COLORS = {
    "DM21": "#0072B2",
    "DM21m": "#56B4E9",
    "DM21mc": "#009E73",
    "DM21mu": "#CC79A7",
    "B3LYP": "#D55E00",
    "PBE": "#E69F00",
    "PBE0": "#882255",
    "SCAN": "#999933",
    "HF": "#44AA99",
}
#: Colours for series that are not a functional (e.g. spin states, other names), in order.
PALETTE = ("#332288", "#AA4499", "#117733", "#DDCC77", "#88CCEE", "#661100", "#6699CC", "#888888")
#: Reference curves (exact lines, experiment): grey, dashed.
REFERENCE_COLOR = "#7f7f7f"


def functional_color(name: str, index: int = 0) -> str:
    """The colour of functional ``name`` (a label that starts with a functional's name, such as
    "DM21 (neighbour start)", counts as that functional); other names get PALETTE[index]."""
    head = re.split(r"[\s:(/,]", name.strip(), maxsplit=1)[0]
    for key, color in FUNCTIONAL_COLORS.items():
        if key.lower() == head.lower():
            return color
    return PALETTE[index % len(PALETTE)]


#: The legend in one row above the plot, where it hides no data.
LEGEND_ABOVE = dict(orientation="h", yanchor="bottom", y=1.0)


def _lines_layout(figure: go.Figure, x_title: str, y_title: str, height: int) -> go.Figure:
    """The layout of a chart of curves: axis titles, height (px), legend above."""
    figure.update_layout(
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def scf_progress_figure(history: list[dict], title: str = "") -> go.Figure:
    """Energy (Hartree) against SCF iteration, one line per stage (warm start, functional).

    ``history`` holds run_scf's iteration dicts: {"stage", "cycle", "energy", ...}.
    """
    figure = go.Figure()
    for stage in dict.fromkeys(h["stage"] for h in history):
        points = [h for h in history if h["stage"] == stage]
        warm = stage.startswith("warm start")  # the classical start: grey, dotted
        figure.add_trace(
            go.Scatter(
                x=[h["cycle"] for h in points],
                y=[h["energy"] for h in points],
                mode="lines+markers",
                name=stage,
                line=dict(
                    color=REFERENCE_COLOR if warm else functional_color(stage), dash="dot" if warm else None
                ),
            )
        )
    figure.update_layout(
        title=title or None,
        xaxis_title="SCF iteration",
        yaxis_title="energy (Ha)",
        yaxis_tickformat=".6f",
        height=320,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def difference_bar_figure(
    labels: list[str], values: list[float], axis_title: str, title: str = ""
) -> go.Figure:
    """Bar chart of one value per functional (e.g. energy differences to a baseline, ``axis_title``
    naming the quantity and its unit), one bar and legend entry per functional in its colour."""
    figure = go.Figure()
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        # None (an unconverged result) draws no bar and no label.
        figure.add_trace(
            go.Bar(
                x=[label],
                y=[value],
                name=label,
                text=["" if value is None else f"{value:.2f}"],
                textposition="auto",
                marker_color=functional_color(label, index),
            )
        )
    figure.update_layout(
        title=title or None,
        xaxis_title="functional",
        yaxis_title=axis_title,
        height=320,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def curves_figure(
    series: list[dict],
    x_title: str,
    y_title: str,
    references: list[dict] | None = None,
    height: int = 380,
) -> go.Figure:
    """Curves of several functionals on shared axes.

    Each series is {"name", "x", "y", "converged"} (lists; converged optional): converged points are
    joined by a line; points whose SCF did not converge are drawn as open crosses, labelled, and
    never joined. Each reference is {"name", "x", "y"} drawn dashed (e.g. the exact straight lines
    between integer electron numbers, or an exact large-R limit).
    """
    figure = go.Figure()
    for index, s in enumerate(series):
        color = s.get("color") or functional_color(s["name"], index)
        ok = s.get("converged") or [True] * len(s["x"])
        good = [(x, y) for x, y, c in zip(s["x"], s["y"], ok, strict=True) if c and y is not None]
        bad = [(x, y) for x, y, c in zip(s["x"], s["y"], ok, strict=True) if not c and y is not None]
        figure.add_trace(
            go.Scatter(
                x=[p[0] for p in good],
                y=[p[1] for p in good],
                mode="lines+markers",
                name=s["name"],
                line=dict(color=color),
            )
        )
        if bad:
            figure.add_trace(
                go.Scatter(
                    x=[p[0] for p in bad],
                    y=[p[1] for p in bad],
                    mode="markers",
                    name=f"{s['name']}: not converged",
                    marker=dict(symbol="x-open", size=11, color=color),
                )
            )
    for ref in references or []:
        figure.add_trace(
            go.Scatter(
                x=ref["x"],
                y=ref["y"],
                mode="lines",
                name=ref["name"],
                line=dict(dash="dash", color=ref.get("color", REFERENCE_COLOR)),
            )
        )
    return _lines_layout(figure, x_title, y_title, height)


def spin_levels_figure(
    levels: dict[str, list[dict]], unit: str, reference: dict | None = None, height: int = 420
) -> go.Figure:
    """Energy-level diagram of spin states, one column per functional, in its colour (functional_color).

    ``levels`` maps each functional (or a label starting with one, e.g. "DM21 (vertical)") to its states,
    each {"label" (e.g. "triplet"), "spin" (2S), "relative" (energy above the functional's lowest state,
    in ``unit``; None if missing), "s2" (<S^2>), "converged"}. Each state is a short horizontal line at
    its relative energy, labelled above with its multiplicity and <S^2>; states whose SCF did not
    converge are dotted. ``reference`` {"name", "states": [{"label", "relative"}]} (e.g. experiment's
    gap) is a last column, grey and dashed. The legend names the columns.
    """
    figure = go.Figure()
    columns = [(name, functional_color(name, i), states) for i, (name, states) in enumerate(levels.items())]
    if reference is not None:
        columns.append((reference["name"], REFERENCE_COLOR, reference["states"]))
    for column, (name, color, states) in enumerate(columns):
        is_reference = reference is not None and column == len(columns) - 1
        shown = False
        for state in states:
            if state.get("relative") is None:
                continue
            y = state["relative"]
            converged = state.get("converged", True)
            s2 = "" if state.get("s2") is None else f", <S²> = {state['s2']:.2f}"
            figure.add_trace(
                go.Scatter(
                    x=[column - 0.3, column + 0.3],
                    y=[y, y],
                    mode="lines",
                    line=dict(
                        color=color, width=4, dash="dash" if is_reference else "solid" if converged else "dot"
                    ),
                    name=name,
                    legendgroup=name,
                    showlegend=not shown,
                    hovertemplate=f"{name}: {state['label']}{s2}<br>%{{y:.3f}} {unit}<extra></extra>",
                )
            )
            shown = True
            # Above its line, centred: a label to the right ran into the next column's levels.
            figure.add_annotation(
                x=column,
                y=y,
                text=f"{state['label']}{s2}" + ("" if converged else " (not converged)"),
                showarrow=False,
                xanchor="center",
                yanchor="bottom",
                font=dict(size=11, color=color),
            )
    ys = [s["relative"] for _, _, states in columns for s in states if s.get("relative") is not None]
    pad = 0.1 * ((max(ys) - min(ys)) or 1.0) if ys else 1.0
    figure.update_layout(
        xaxis=dict(
            title="functional",
            tickvals=list(range(len(columns))),
            ticktext=[name for name, _, _ in columns],
            range=[-0.5, len(columns) - 0.5],
        ),
        yaxis_range=[min(ys) - pad, max(ys) + pad] if ys else None,
        yaxis_title=f"energy above the lowest state ({unit})",
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def robust_range(arrays, lower: float = 0.02, upper: float = 0.98, symmetric: bool = False) -> tuple:
    """(zmin, zmax) spanning the ``lower`` to ``upper`` quantiles of the finite values of all
    ``arrays`` (so that a few huge values near nuclei do not wash out a map); with ``symmetric``,
    +-the larger magnitude (for differences, zero in the middle of the colour scale)."""
    import numpy as np

    values = np.concatenate([np.ravel(a)[np.isfinite(np.ravel(a))] for a in arrays] or [np.zeros(1)])
    if values.size == 0:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    lo, hi = np.quantile(values, [lower, upper])
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        return -float(m), float(m)
    if lo == hi:
        hi = lo + (abs(lo) or 1.0) * 1e-6
    return float(lo), float(hi)


def plane_maps_figure(
    panels: list[dict],
    x,
    y,
    colorbar_title: str,
    *,
    atoms: list[dict] | None = None,
    diverging: bool = False,
    zrange: tuple | None = None,
    log: bool = False,
    height: int = 420,
) -> go.Figure:
    """Heatmaps of maps on one plane side by side, all on one colour scale.

    Each panel is {"title", "z"} with z a (len(y), len(x)) array (NaN: not drawn); ``x``, ``y`` the
    in-plane coordinates (Angstrom). ``atoms`` [{"symbol", "x", "y"}] are marked on every panel.
    The colour range is ``zrange`` or robust_range of all panels (values beyond it saturate; the hover
    shows the true value); ``diverging`` centres a red-white-blue scale on zero (blue positive).
    With ``log`` the colour is log10 |z| (for maps of one sign spanning decades, such as energy
    densities), the hover still the value itself.
    """
    import numpy as np
    from plotly.subplots import make_subplots

    shown = [np.log10(np.maximum(np.abs(p["z"]), 1e-300)) if log else p["z"] for p in panels]
    zmin, zmax = zrange or robust_range(shown, symmetric=diverging and not log)
    figure = make_subplots(
        rows=1, cols=len(panels), subplot_titles=[p["title"] for p in panels], horizontal_spacing=0.06
    )
    for col, panel in enumerate(panels, start=1):
        figure.add_trace(
            go.Heatmap(
                z=shown[col - 1],
                x=list(x),
                y=list(y),
                customdata=panel["z"],
                coloraxis="coloraxis",
                hovertemplate="s=%{x:.2f} Å, t=%{y:.2f} Å<br>%{customdata:.4g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        if atoms:
            figure.add_trace(
                go.Scatter(
                    x=[a["x"] for a in atoms],
                    y=[a["y"] for a in atoms],
                    text=[a["symbol"] for a in atoms],
                    mode="markers+text",
                    textposition="top center",
                    marker=dict(size=7, color="white", line=dict(color="black", width=1)),
                    textfont=dict(color="black"),
                    showlegend=False,
                    hoverinfo="text",
                ),
                row=1,
                col=col,
            )
        figure.update_xaxes(title_text="s (Å)", constrain="domain", row=1, col=col)
        figure.update_yaxes(
            title_text="t (Å)",
            scaleanchor=f"x{col if col > 1 else ''}",
            constrain="domain",
            row=1,
            col=col,
        )
    figure.update_layout(
        coloraxis=dict(
            colorscale="RdBu" if diverging and not log else "Viridis",
            cmin=zmin,
            cmax=zmax,
            colorbar=dict(
                title=dict(text=f"log10 |{colorbar_title}|" if log else colorbar_title, side="right")
            ),
        ),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return figure


def scaling_figure(series: list[dict]) -> go.Figure:
    """SCF seconds against basis functions for B3LYP and DM21 (log-log), from the bench's rows
    (explorer.analyses.bench.run: "case", "n_basis", "b3lyp"/"dm21" {"scf_seconds"}, "functional")."""
    fig = go.Figure()
    for key, label in (("b3lyp", "B3LYP (VWN-RPA)"), ("dm21", series[0]["functional"] if series else "DM21")):
        fig.add_trace(
            go.Scatter(
                x=[row["n_basis"] for row in series],
                y=[row[key]["scf_seconds"] for row in series],
                text=[row["case"] for row in series],
                mode="lines+markers",
                name=label,
                line=dict(color=functional_color(label)),
            )
        )
    fig.update_layout(
        xaxis={"title": "basis functions", "type": "log"},
        yaxis={"title": "SCF time (s)", "type": "log"},
        title="Time against basis size (2 cores)",
    )
    return fig


def orbital_levels_figure(
    labels: list[str],
    homo: list[float | None],
    lumo: list[float | None],
    ionization: float | None = None,
    height: int = 380,
) -> go.Figure:
    """HOMO and LUMO energies (eV) of each functional as short horizontal levels, one column per
    functional in its colour, the gap (eV) written between them. With ``ionization`` (the
    experimental first ionization energy, eV) a dashed line at -IE: where the HOMO of the exact
    functional lies. None (no converged value) draws no level."""
    figure = go.Figure()
    for column, (label, homo_ev, lumo_ev) in enumerate(zip(labels, homo, lumo, strict=True)):
        color = functional_color(label, column)
        x, y, text = [], [], []
        for name, level in (("HOMO", homo_ev), ("LUMO", lumo_ev)):
            if level is not None:
                x += [column - 0.3, column + 0.3, None]
                y += [level, level, None]
                text += [f"{name} {level:.2f} eV"] * 2 + [None]
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line=dict(color=color, width=4),
                name=label,
                text=text,
                hovertemplate=f"{label}: %{{text}}<extra></extra>",
            )
        )
        for name, level in (("HOMO", homo_ev), ("LUMO", lumo_ev)):
            if level is not None:
                position = "bottom" if name == "HOMO" else "top"
                figure.add_annotation(
                    x=column + 0.3, y=level, text=name, showarrow=False, xanchor="left", yanchor=position
                )
        if homo_ev is not None and lumo_ev is not None:
            figure.add_annotation(
                x=column,
                y=(homo_ev + lumo_ev) / 2,
                text=f"gap {lumo_ev - homo_ev:.2f} eV",
                showarrow=False,
                font=dict(color=color),
            )
    if ionization is not None:
        figure.add_trace(
            go.Scatter(
                x=[-0.5, len(labels) - 0.5],
                y=[-ionization, -ionization],
                mode="lines",
                line=dict(dash="dash", color=REFERENCE_COLOR),
                name=f"−IE, experiment ({ionization:.2f} eV)",
            )
        )
    figure.update_layout(
        xaxis=dict(
            title="functional",
            tickvals=list(range(len(labels))),
            ticktext=labels,
            range=[-0.5, len(labels) - 0.5],
        ),
        yaxis_title="orbital energy (eV)",
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def property_bars_figure(labels: list[str], panels: list[dict], height: int = 380) -> go.Figure:
    """Bar charts of per-functional quantities side by side, one panel per {"title" (quantity and
    unit), "values" (in the order of ``labels``; None: no bar)}, each bar in its functional's colour
    and one legend entry per functional."""
    from plotly.subplots import make_subplots

    # The panels' titles are their y-axis titles (quantity and unit): no subplot titles to clash with.
    figure = make_subplots(rows=1, cols=max(len(panels), 1), horizontal_spacing=0.12)
    for index, label in enumerate(labels):
        color = functional_color(label, index)
        for col, panel in enumerate(panels, start=1):
            value = panel["values"][index]
            figure.add_trace(
                go.Bar(
                    x=[label],
                    y=[value],
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    marker_color=color,
                    text=["" if value is None else f"{value:.2f}"],
                    textposition="auto",
                ),
                row=1,
                col=col,
            )
    for col, panel in enumerate(panels, start=1):
        figure.update_xaxes(title_text="functional", row=1, col=col)
        figure.update_yaxes(title_text=panel["title"], zeroline=True, row=1, col=col)
    figure.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=LEGEND_ABOVE,
    )
    return figure


def frontier_orbitals_figure(series: list[dict], x_title: str, y_title: str, height: int = 380) -> go.Figure:
    """Frontier orbital energies of several functionals on shared axes: each series {"functional",
    "orbital" ("HOMO" or "LUMO"), "x", "y"} is drawn in its functional's colour (functional_color);
    the HOMO solid with circles, the LUMO dashed with diamonds, so one functional's two orbitals share
    a colour and differ by line and marker."""
    styles = {"HOMO": ("solid", "circle"), "LUMO": ("dash", "diamond")}
    figure = go.Figure()
    for index, s in enumerate(series):
        dash, symbol = styles[s["orbital"]]
        color = functional_color(s["functional"], index)
        figure.add_trace(
            go.Scatter(
                x=s["x"],
                y=s["y"],
                mode="lines+markers",
                name=f"{s['functional']} {s['orbital']}",
                line=dict(color=color, dash=dash),
                marker=dict(symbol=symbol, size=8, color=color),
            )
        )
    return _lines_layout(figure, x_title, y_title, height)


def profile_figure(
    x,
    curves: list[dict],
    difference: dict,
    x_title: str,
    y_title: str,
    difference_title: str,
    *,
    log: bool = False,
    y_range: tuple | None = None,
    difference_range: tuple | None = None,
    atoms: list[dict] | None = None,
    height: int = 520,
) -> go.Figure:
    """A profile along a line in two rows sharing the x axis: on top the ``curves`` [{"name", "y"}] of
    the functionals, below their ``difference`` {"name", "y"} on its own axis (two curves that nearly
    coincide hide their difference on a shared scale). Colours from functional_color; the first curve
    is wide and solid, the others narrower and dashed on top of it, so that both stay visible where
    they coincide. ``log``: logarithmic top axis; ``y_range``, ``difference_range``: the rows'
    vertical ranges (None: fitted to all values); ``atoms`` [{"symbol", "x"}]: dotted vertical lines
    at the nuclei. Units are in the titles: ``x_title`` for x, ``y_title`` and ``difference_title``."""
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.6, 0.4])
    for index, curve in enumerate(curves):
        first = index == 0
        figure.add_trace(
            go.Scatter(
                x=list(x),
                y=list(curve["y"]),
                mode="lines",
                name=curve["name"],
                line=dict(color=functional_color(curve["name"], index), width=4 if first else 2,
                          dash="solid" if first else "dash"),
            ),
            row=1,
            col=1,
        )  # fmt: skip
    figure.add_trace(
        go.Scatter(
            x=list(x),
            y=list(difference["y"]),
            mode="lines",
            name=difference["name"],
            line=dict(color=functional_color(difference["name"], len(curves)), width=2),
        ),
        row=2,
        col=1,
    )
    figure.add_hline(y=0, line=dict(color=REFERENCE_COLOR, width=1), row=2, col=1)
    for atom in atoms or []:
        figure.add_vline(x=atom["x"], line=dict(color=REFERENCE_COLOR, width=1, dash="dot"), row="all", col=1)
        figure.add_annotation(
            x=atom["x"],
            y=1,
            yref="y domain",
            text=atom["symbol"],
            showarrow=False,
            yanchor="bottom",
            row=1,
            col=1,
        )
    figure.update_yaxes(title_text=y_title, type="log" if log else None, range=y_range, row=1, col=1)
    figure.update_yaxes(title_text=difference_title, range=difference_range, row=2, col=1)
    figure.update_xaxes(title_text=x_title, row=2, col=1)
    figure.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.04),
    )
    return figure
