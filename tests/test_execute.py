"""The grader's Execute step (autograder.execute), on a kernel outside the jail."""

from __future__ import annotations

from datetime import datetime

import nbformat

from autograder.execute import SandboxedExecute
from course.notebooks import QUIET_KERNEL_ARGS

# an Output widget shown with many displays in it: nbclient answers each display with a message on the
# shell socket while it waits there for the cell's reply (what a lesson's explorer does, a hundred times over)
WIDGET_CELL = "out = w.Output()\nfor i in range(100):\n    with out:\n        display(i)\nout"


def _at(cell: nbformat.NotebookNode, key: str) -> datetime:
    return datetime.fromisoformat(cell.metadata["execution"][key].rstrip("Z"))


def test_a_reply_that_comes_while_nbclient_answers_a_widget_is_read_at_once(tmp_path):
    cells = [nbformat.v4.new_code_cell("import ipywidgets as w\nfrom IPython.display import display")]
    for _ in range(10):
        cells += [nbformat.v4.new_code_cell(WIDGET_CELL), nbformat.v4.new_code_cell("6 * 7")]
    nb = nbformat.v4.new_notebook(cells=cells)
    SandboxedExecute(timeout=10, kernel_name="python3", extra_arguments=QUIET_KERNEL_ARGS
                     ).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    waits = [(_at(after, "iopub.execute_input") - _at(before, "shell.execute_reply")).total_seconds()
             for before, after in zip(nb.cells, nb.cells[1:])]
    # with the shell polled until the 10 s limit, about half of these cells waited it out (19 and 13 of 30)
    assert max(waits) < 2, sorted(waits)[-5:]
