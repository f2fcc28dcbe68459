"""Run a lab as a learner opens it (the released copy), in the smoke profile, and read what it shows."""

from __future__ import annotations

import json

import nbformat

from conftest import ROOT
from course.notebook_client import SteadyNotebookClient


def run_lab(lesson: str) -> tuple[str, list[dict], dict]:
    """Execute lessons/<lesson>/lab.ipynb; returns (stdout text, all outputs, the RESULTS dict it printed).

    Fails if any cell raises or writes to stderr.
    """
    nb = nbformat.read(ROOT / "lessons" / lesson / "lab.ipynb", as_version=4)
    SteadyNotebookClient(nb, timeout=600, kernel_name="python3",
                         resources={"metadata": {"path": str(ROOT / "lessons" / lesson)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, stderr
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "profile: smoke" in text
    results = json.loads(text.split("RESULTS ", 1)[1].splitlines()[0])
    return text, outputs, results


def has_plot(outputs: list[dict]) -> bool:
    """Whether any output is a plotly figure."""
    return any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)


def has_widget(outputs: list[dict], control: str = "") -> bool:
    """Whether any output is an ipywidgets view whose text form names `control` ('Slider', 'Dropdown'; a progress bar names neither)."""
    return any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) and control in o["data"].get("text/plain", "")
               for o in outputs)
