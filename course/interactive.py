"""Controls that redraw a plotly figure: the one way lessons make a result explorable.

A lesson supplies `draw(**values) -> go.Figure`; `explorer` puts the controls above the figure
and redraws it whenever a control moves. Put the values that matter in the figure's title, so a
reader (and the browser test) sees the change in words as well as in the plot.

On Colab a plotly figure displayed inside a widget's output never draws ("Plotly is not defined",
googlecolab/colabtools#5889: the figure's script runs before plotly.js has loaded). There the
explorer shows each figure as a whole page of its own, in an iframe, where plotly.js (from plotly's
CDN: Colab is online) loads before the figure's script runs.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go


def slider(description: str, value: float, low: float, high: float, step: float = 1) -> Any:
    """An int slider when every bound is an int, else a float slider; updates when released."""
    import ipywidgets as widgets

    kind = widgets.IntSlider if all(isinstance(v, int) for v in (value, low, high, step)) else widgets.FloatSlider
    return kind(value=value, min=low, max=high, step=step, description=description, continuous_update=False,
                style={"description_width": "initial"}, layout={"width": "480px"})


def dropdown(description: str, options: list[Any], value: Any = None) -> Any:
    """A dropdown over `options` (values, or (label, value) pairs); the first one selected unless `value` is given."""
    import ipywidgets as widgets

    first = options[0][1] if isinstance(options[0], tuple) else options[0]
    return widgets.Dropdown(options=options, value=first if value is None else value, description=description,
                            style={"description_width": "initial"})


def on_colab() -> bool:
    """True inside a Colab runtime (its `google.colab` module is loaded)."""
    return "google.colab" in sys.modules


def framed(fig: go.Figure) -> Any:
    """`fig` as a page of its own in an iframe: plotly.js loads first there, inside a widget's output too."""
    from IPython.display import HTML

    page = fig.to_html(include_plotlyjs="cdn", full_html=True)
    height = (fig.layout.height or 450) + 30
    return HTML(f'<div><iframe srcdoc="{html.escape(page, quote=True)}" '
                f'style="width: 100%; height: {height}px; border: 0"></iframe></div>')


def explorer(draw: Callable[..., go.Figure], **controls: Any) -> Any:
    """The controls (keyword = `draw`'s argument) above the figure `draw(**values)`, redrawn on every change."""
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()

    def redraw(**values: Any) -> None:
        with out:
            out.clear_output(wait=True)
            fig = draw(**values)
            display(framed(fig) if on_colab() else fig)

    widgets.interactive_output(redraw, controls)
    return widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), out])
