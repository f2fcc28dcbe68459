"""Controls that redraw a plotly figure: the one way lessons make a result explorable.

A lesson supplies `draw(**values) -> go.Figure`; `explorer` puts the controls above the figure
and redraws it whenever a control moves. Put the values that matter in the figure's title, so a
reader (and the browser test) sees the change in words as well as in the plot.
"""

from __future__ import annotations

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


def explorer(draw: Callable[..., go.Figure], **controls: Any) -> Any:
    """The controls (keyword = `draw`'s argument) above the figure `draw(**values)`, redrawn on every change."""
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()

    def redraw(**values: Any) -> None:
        with out:
            out.clear_output(wait=True)
            display(draw(**values))

    widgets.interactive_output(redraw, controls)
    return widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}), out])
