"""course.interactive: the controls redraw the figure with their current values; progress is off while grading."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
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


@pytest.mark.filterwarnings("error")  # a warning would print on the learner's screen
def test_on_colab_the_explorer_shows_each_figure_as_a_page_of_its_own(monkeypatch):
    """Colab never draws a plotly figure inside a widget's output; a page in an iframe loads plotly.js first."""
    import html
    import sys
    import types

    from IPython.display import HTML

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    explorer(lambda n: go.Figure(go.Bar(y=list(range(n))), layout_title_text=f"n = {n}"), n=slider("n", 3, 1, 9))
    assert len(shown) == 1 and isinstance(shown[0], HTML)
    frame = shown[0].data
    assert frame.startswith("<div><iframe srcdoc=") and "<script" not in frame  # the page lives escaped in srcdoc
    page = html.unescape(frame.split('srcdoc="')[1].split('"')[0])
    assert page.index('src="https://cdn.plot.ly/') < page.index("Plotly.newPlot") and "n = 3" in page
