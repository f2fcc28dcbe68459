"""The comparison's rows read back and shown: mean ± sd over seeds as a table, bar charts and a trade-off plot."""

from __future__ import annotations

import statistics
from pathlib import Path

from course.profiles import PROFILES
from course.results import read_csv
from course.units import MiB


def stored_results(folder: str | Path) -> dict[str, list[dict]]:
    """The runs stored in `folder` as <profile>.csv, by profile."""
    paths = {name: Path(folder) / f"{name}.csv" for name in PROFILES}
    return {name: read_csv(path) for name, path in paths.items() if path.exists()}


SUMMARY = ["policy_accuracy", "decision_accuracy", "val_loss_after", "forgetting", "method_bytes", "s_per_step",
           "tokens_per_s"]


def summary(rows: list[dict]) -> list[dict]:
    """One row per method, in order: its first row's fields, with each `SUMMARY` column's mean over the seeds
    and its sample standard deviation as `<column>_sd` (0 with one seed), and the seeds counted as `seeds`."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in methods:
        runs = [r for r in rows if r["method"] == method]
        row = dict(runs[0]) | {"seeds": len(runs)}
        for column in SUMMARY:
            values = [r[column] for r in runs if r[column] is not None]
            row[column] = statistics.fmean(values) if values else None
            row[f"{column}_sd"] = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
        out.append(row)
    return out


# (column, header, format) of the printed table; mean ± sd where the column is in SUMMARY
TABLE = [("name", "method", "{}"), ("trainable_params", "trainable", "{:,}"), ("trainable_pct", "%", "{:.3g}"),
         ("lr", "lr", "{:.3g}"), ("method_bytes", "MiB", "{:,.0f}"), ("s_per_step", "s/step", "{:.2f}"),
         ("tokens_per_s", "tokens/s", "{:,.0f}"), ("policy_accuracy", "policy acc. (pairs)", "{:.0%}"),
         ("decision_accuracy", "per request", "{:.0%}"), ("val_loss_after", "val loss after", "{:.3f}"),
         ("forgetting", "forgetting %", "{:+.1f}")]


def _cell(row: dict, column: str, fmt: str) -> str:
    """A table cell: the value, or mean ± sd over seeds; '-' when there is none."""
    value = row[column]
    if value is None:
        return "-"
    scale = 1 / MiB if column == "method_bytes" else 1
    text = fmt.format(value * scale)
    sd = row.get(f"{column}_sd")
    if sd and row["seeds"] > 1:
        text += " ± " + fmt.format(sd * scale).lstrip("+")
    return text


def table(rows: list[dict]) -> str:
    """The comparison as aligned text, mean ± standard deviation over seeds, with the budget and device below."""
    methods = summary(rows)
    cells = [[header for _, header, _ in TABLE]]
    cells += [[_cell(row, col, fmt) for col, _, fmt in TABLE] for row in methods]
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    first = rows[0]
    seeds = max(row["seeds"] for row in methods)
    lines.append(f"{seeds} seed(s) per method at the learning rate its sweep chose; {first['steps']} steps of "
                 f"{first['batch']} x {first['max_len']} tokens; policy accuracy: {first['n_eval']} new requests in "
                 f"pairs, a one-decision answer scores {first['trivial_accuracy']:.0%}; MiB: the method's tensors "
                 "(weights, gradients, AdamW state, saved activations); forgetting: general-text perplexity change")
    lines.append(f"model {first['model']}, profile {first['profile']}, device {first['device']}")
    return "\n".join(lines)


# (column, subplot title, log axis, label format) of the chart
CHART = [("trainable_pct", "trainable parameters (% of the model, log)", True, "{:.3g}"),
         ("method_bytes", "the method's memory (MiB, from its tensors)", False, "{:,.0f}"),
         ("s_per_step", "seconds per training step", False, "{:.2f}"),
         ("val_loss_after", "validation loss after training", False, "{:.2f}"),
         ("policy_accuracy", "policy accuracy, held-out pairs (%)", False, "{:.0f}"),
         ("forgetting", "forgetting: general-text perplexity change (%)", False, "{:+.1f}")]


def figure(rows: list[dict]):
    """Six bar charts, one bar per method: the mean over seeds with ± one standard deviation as error bars."""
    from plotly.subplots import make_subplots

    methods = summary(rows)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[title for _, title, _, _ in CHART], vertical_spacing=0.16)
    names = [row["name"] for row in methods]
    for i, (column, _, log, fmt) in enumerate(CHART):
        scale = {"policy_accuracy": 100, "method_bytes": 1 / MiB}.get(column, 1)
        values = [None if row[column] is None else scale * row[column] for row in methods]
        errors = [None if row.get(f"{column}_sd") is None else scale * row[f"{column}_sd"] for row in methods]
        fig.add_bar(x=names, y=values, showlegend=False, row=i // 3 + 1, col=i % 3 + 1,
                    error_y={"type": "data", "array": errors, "visible": column in SUMMARY},
                    text=["" if v is None else fmt.format(v) for v in values], textposition="outside")
        fig.update_yaxes(type="log" if log else "linear", row=i // 3 + 1, col=i % 3 + 1)
    fig.add_hline(y=25, line_dash="dot", annotation_text="coin: 25%", row=2, col=2)
    first = rows[0]
    budget = f"{first['steps']} steps of {first['batch']} x {first['max_len']} tokens each"
    seeds = max(row["seeds"] for row in methods)
    fig.update_layout(height=720, title=f"{first['model']}, {budget}, {seeds} seed(s) ({first['profile']} profile; "
                                        f"{first['device']})<br><sup>bars: mean over seeds; error bars: ± one "
                                        "standard deviation</sup>")
    return fig


# what the explorer can put on an axis: label -> column (means over seeds)
AXES = {"trainable parameters (% of the model)": "trainable_pct", "the method's memory (bytes)": "method_bytes",
        "seconds per training step": "s_per_step", "training tokens per second": "tokens_per_s",
        "policy accuracy (pairs)": "policy_accuracy", "validation loss after training": "val_loss_after",
        "forgetting (% perplexity change)": "forgetting"}


LOG_AXES = {"trainable_pct"}  # spans five orders of magnitude


def _plottable(row: dict, label: str) -> bool:
    """Whether `row` has a value for the axis `label` (a log axis cannot show 0)."""
    value = row[AXES[label]]
    return value is not None and (AXES[label] not in LOG_AXES or value > 0)


def trade_off(rows: list[dict], x: str, y: str):
    """One point per method (its mean over seeds), `y` against `x` (labels of `AXES`); the title names the methods
    it cannot show."""
    import plotly.graph_objects as go

    methods = summary(rows)
    shown = [row for row in methods if _plottable(row, x) and _plottable(row, y)]
    fig = go.Figure(go.Scatter(x=[row[AXES[x]] for row in shown], y=[row[AXES[y]] for row in shown],
                               text=[row["name"] for row in shown], mode="markers+text", textposition="top center",
                               marker={"size": 14}))
    missing = [row["name"] for row in methods if row not in shown]
    fig.update_layout(title=f"{y} against {x}" + (f" (not shown: {', '.join(missing)})" if missing else ""),
                      xaxis_title=x, yaxis_title=y, height=460)
    fig.update_xaxes(type="log" if AXES[x] in LOG_AXES else "linear")
    fig.update_yaxes(type="log" if AXES[y] in LOG_AXES else "linear")
    return fig
