"""course.notebook_client: each cell's reply is read as it comes, in `course check`, the labs' tests and
the grader's Execute step (on a kernel outside the jail here)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from queue import Empty

import nbformat
import pytest

from autograder.execute import SandboxedExecute
from course.notebook_client import STEP_S, SteadyNotebookClient, polled_in_steps
from course.notebooks import QUIET_KERNEL_ARGS

# an Output widget shown with many displays in it: nbclient answers each display with a message on the
# shell socket while it waits there for the cell's reply (what a lesson's explorer does, a hundred times over)
WIDGET_CELL = "out = w.Output()\nfor i in range(100):\n    with out:\n        display(i)\nout"


def _at(cell: nbformat.NotebookNode, key: str) -> datetime:
    return datetime.fromisoformat(cell.metadata["execution"][key].rstrip("Z"))


def _run(client: str, nb: nbformat.NotebookNode, folder: Path) -> None:
    if client == "grader":
        SandboxedExecute(timeout=10, kernel_name="python3", extra_arguments=QUIET_KERNEL_ARGS
                         ).preprocess(nb, {"metadata": {"path": str(folder)}})
    else:
        SteadyNotebookClient(nb, timeout=10, kernel_name="python3", extra_arguments=QUIET_KERNEL_ARGS,
                             record_timing=True, resources={"metadata": {"path": str(folder)}}).execute()


@pytest.mark.parametrize("client", ["grader", "check"])
def test_a_reply_that_comes_while_nbclient_answers_a_widget_is_read_at_once(tmp_path, client):
    cells = [nbformat.v4.new_code_cell("import ipywidgets as w\nfrom IPython.display import display")]
    for _ in range(10):
        cells += [nbformat.v4.new_code_cell(WIDGET_CELL), nbformat.v4.new_code_cell("6 * 7")]
    nb = nbformat.v4.new_notebook(cells=cells)
    _run(client, nb, tmp_path)
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    waits = [(_at(after, "iopub.execute_input") - _at(before, "shell.execute_reply")).total_seconds()
             for before, after in zip(nb.cells, nb.cells[1:])]
    # with the shell polled until the 10 s limit, about half of these cells waited it out (19 and 13 of 30)
    assert max(waits) < 2, sorted(waits)[-5:]


def test_polling_in_steps_keeps_the_callers_timeout():
    calls = []

    async def get_msg(timeout=None):  # a channel whose message comes on the fifth poll
        calls.append(timeout)
        if len(calls) < 5:
            await asyncio.sleep(timeout)
            raise Empty
        return {"msg": "reply"}

    assert asyncio.run(polled_in_steps(get_msg)(timeout=None)) == {"msg": "reply"}  # no timeout: waits on
    assert calls[:4] == [STEP_S] * 4
    calls.clear()
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(polled_in_steps(get_msg)(timeout=2.5 * STEP_S))
    assert len(calls) == 3 and calls[-1] < STEP_S and time.monotonic() - start < 4 * STEP_S, calls
