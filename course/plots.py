"""Plotly figures shared by the lessons."""

from __future__ import annotations

import plotly.graph_objects as go


def loss_curve(losses: list[float], val_before: float | None = None, val_after: float | None = None,
               title: str = "Training loss") -> go.Figure:
    """Training loss per step, with the validation loss before and after as dashed lines."""
    fig = go.Figure(go.Scatter(x=list(range(1, len(losses) + 1)), y=losses, mode="lines+markers",
                               name="train loss (per batch)"))
    for value, label, color in [(val_before, "validation before", "gray"), (val_after, "validation after", "green")]:
        if value is not None:
            fig.add_hline(y=value, line_dash="dash", line_color=color,
                          annotation_text=f"{label}: {value:.3f}", annotation_position="top right")
    fig.update_layout(title=title, xaxis_title="optimizer step", yaxis_title="cross-entropy per reply token",
                      height=380, margin=dict(l=40, r=20, t=50, b=40))
    return fig


def bars(labels: list[str], values: list[float], title: str, yaxis: str, log: bool = False) -> go.Figure:
    """A labelled bar chart (log scale optional) for comparing a few quantities."""
    fig = go.Figure(go.Bar(x=labels, y=values, text=[f"{v:,.0f}" for v in values], textposition="outside"))
    fig.update_layout(title=title, yaxis_title=yaxis, height=360, margin=dict(l=40, r=20, t=50, b=40))
    if log:
        fig.update_yaxes(type="log")
    return fig


def loss_curves(curves: dict[str, list[float]], title: str = "Training loss") -> go.Figure:
    """Several training-loss curves (name -> loss per step) on one chart."""
    fig = go.Figure([go.Scatter(x=list(range(1, len(v) + 1)), y=v, mode="lines+markers", name=k)
                     for k, v in curves.items()])
    fig.update_layout(title=title, xaxis_title="optimizer step", yaxis_title="cross-entropy per reply token",
                      height=380, margin=dict(l=40, r=20, t=50, b=40))
    return fig
