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
