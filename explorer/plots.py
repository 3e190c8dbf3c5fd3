"""Plotly figures for the app's views (pure functions of data; no Streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go


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
    figure = go.Figure(go.Bar(x=labels, y=values, text=[f"{v:.2f}" for v in values], textposition="auto"))
    figure.update_layout(yaxis_title=axis_title, height=320, margin=dict(l=10, r=10, t=10, b=10))
    return figure


#: Colours of successive series in curves_figure (references may reuse them to match a series).
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


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
        color = PALETTE[index % len(PALETTE)]
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
                line=dict(dash="dash", color=ref.get("color", "#7f7f7f")),
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
