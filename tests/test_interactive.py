"""course.interactive: the controls redraw the figure with their current values; progress is off while grading."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from course.interactive import dropdown, explorer, slider
from course.progress import enabled, progress


def test_explorer_redraws_with_the_controls_values():
    calls = []

    def draw(r: int, targets: str) -> go.Figure:
        calls.append((r, targets))
        return go.Figure(layout_title_text=f"r = {r} on {targets}")

    r, targets = slider("rank r", 8, 1, 64), dropdown("targets", [("q, v", "qv"), ("all", "all")])
    box = explorer(draw, r=r, targets=targets)
    assert isinstance(r, widgets.IntSlider) and not r.continuous_update and targets.value == "qv"
    assert box.children[0].children == (r, targets) and isinstance(box.children[1], widgets.Output)
    r.value = 16
    targets.value = "all"
    assert calls == [(8, "qv"), (16, "qv"), (16, "all")]


def test_slider_kind_follows_its_bounds():
    assert isinstance(slider("beta", 0.1, 0.01, 1.0, 0.01), widgets.FloatSlider)
    assert dropdown("k", [1, 2, 4], value=4).value == 4


def test_progress_is_off_while_grading(monkeypatch):
    monkeypatch.delenv("COURSE_CHECKING", raising=False)
    monkeypatch.delenv("COURSE_PROGRESS", raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert not enabled() and list(progress(range(3), "steps")) == [0, 1, 2]
    monkeypatch.delenv("NBGRADER_EXECUTION")
    assert enabled()
    monkeypatch.setenv("COURSE_PROGRESS", "0")
    assert not enabled()
