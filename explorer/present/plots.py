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


def scf_progress_figure(history: list[dict], title: str = "") -> go.Figure:
    """Energy (Hartree) against SCF iteration, one line per stage (warm start, functional).

    ``history`` holds run_scf's iteration dicts: {"stage", "cycle", "energy", ...}.
    """
    figure = go.Figure()
    for stage in dict.fromkeys(h["stage"] for h in history):
        points = [h for h in history if h["stage"] == stage]
        figure.add_trace(
            go.Scatter(
                x=[h["cycle"] for h in points],
                y=[h["energy"] for h in points],
                mode="lines+markers",
                name=stage,
            )
        )
    figure.update_layout(
        title=title or None,
        xaxis_title="SCF iteration",
        yaxis_title="energy (Ha)",
        yaxis_tickformat=".6f",
        height=320,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0),
    )
    return figure


def difference_bar_figure(labels: list[str], values: list[float], axis_title: str) -> go.Figure:
    """Bar chart of one value per functional (e.g. energy differences to a baseline)."""
    # None (an unconverged result) draws no bar and no label.
    text = ["" if v is None else f"{v:.2f}" for v in values]
    colors = [functional_color(label, i) for i, label in enumerate(labels)]
    figure = go.Figure(go.Bar(x=labels, y=values, text=text, textposition="auto", marker_color=colors))
    figure.update_layout(yaxis_title=axis_title, height=320, margin=dict(l=10, r=10, t=10, b=10))
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
    figure.update_layout(
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0),
    )
    return figure


def spin_levels_figure(levels: dict[str, list[dict]], unit: str, height: int = 420) -> go.Figure:
    """Energy-level diagram of spin states, one column per functional.

    ``levels`` maps each functional to its states, each {"label" (e.g. "triplet"), "spin" (2S),
    "relative" (energy above the functional's lowest state, in ``unit``; None if missing), "s2"
    (<S^2>), "converged"}. Each state is a short horizontal line at its relative energy, labelled with
    its multiplicity and <S^2>, coloured by 2S; states whose SCF did not converge are dotted.
    """
    figure = go.Figure()
    names = list(levels)
    shown: set[int] = set()
    for column, functional in enumerate(names):
        for state in levels[functional]:
            if state.get("relative") is None:
                continue
            y = state["relative"]
            color = PALETTE[state["spin"] % len(PALETTE)]
            s2 = "" if state.get("s2") is None else f", <S²> = {state['s2']:.2f}"
            figure.add_trace(
                go.Scatter(
                    x=[column - 0.3, column + 0.3],
                    y=[y, y],
                    mode="lines",
                    line=dict(color=color, width=4, dash="solid" if state.get("converged", True) else "dot"),
                    name=state["label"],
                    legendgroup=state["label"],
                    showlegend=state["spin"] not in shown,
                    hovertemplate=f"{functional}: {state['label']}{s2}<br>%{{y:.3f}} {unit}<extra></extra>",
                )
            )
            shown.add(state["spin"])
            figure.add_annotation(
                x=column + 0.32,
                y=y,
                text=f"{state['label']}{s2}" + ("" if state.get("converged", True) else " (not converged)"),
                showarrow=False,
                xanchor="left",
                font=dict(size=11, color=color),
            )
    ys = [s["relative"] for states in levels.values() for s in states if s.get("relative") is not None]
    pad = 0.08 * ((max(ys) - min(ys)) or 1.0) if ys else 1.0
    figure.update_layout(
        xaxis=dict(tickvals=list(range(len(names))), ticktext=names, range=[-0.5, len(names) - 0.1]),
        yaxis_range=[min(ys) - pad, max(ys) + pad] if ys else None,
        yaxis_title=f"energy above the lowest state ({unit})",
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0),
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
            title_text="t (Å)" if col == 1 else None,
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
            )
        )
    fig.update_layout(
        xaxis={"title": "basis functions", "type": "log"},
        yaxis={"title": "SCF time (s)", "type": "log"},
        title="Time against basis size (2 cores)",
    )
    return fig
