"""nbgrader's Execute step, hardened: a jailed kernel, a tamper check, and limits on time and output.

Differences from `nbgrader.preprocessors.Execute`, each one a way a submission could otherwise
break grading:
- the kernel starts in the sandbox (`autograder.sandbox`);
- `kernel_guard.py` runs before the first cell, and its check runs before every graded test cell
  (as a user expression, which no input transformer rewrites); a failed check fails the cell;
- the notebook as a whole has a time budget: each cell's limit shrinks to what is left, and
  cells after the budget are not run;
- a cell that runs past its limit is interrupted and every process the kernel started is killed
  (a fork bomb's copies would otherwise keep its cores while the later cells run);
- a kernel that dies (os._exit, a crash, the memory limit) fails the cell it died in, and every
  later cell is marked as not run, instead of the whole submission failing;
- printed output past `max_output_bytes` is dropped, with a note in the cell;
- each cell's reply is read as it comes, even after a widget (`course.notebook_client`).
A cell that is not run gets an error output, because nbgrader gives full points to a test cell
without one.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder import sandbox
from course.notebook_client import SteadyShell
from course.units import MiB

GUARD_SETUP = (Path(__file__).parent / "kernel_guard.py").read_text()
GUARD_CALL = "__course_guard__()"
TAMPERING = "TamperingError"
KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
TRUNCATED = "[grader] output truncated: this notebook printed more than {}"


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output as nbclient records one (nbgrader scores a test cell with it as 0)."""
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def is_test_cell(cell: NotebookNode) -> bool:
    nb = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(nb.get("grade")) and not nb.get("solution")


class SandboxedExecute(SteadyShell, Execute):
    """Execute with the course's jail, tamper check, notebook time budget and output cap."""

    notebook_timeout = Integer(900, help="seconds for the whole notebook").tag(config=True)
    max_output_bytes = Integer(2 * MiB, help="printed output kept per notebook").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", sandbox.SandboxKernelManager)
        super().__init__(**kwargs)
        self.cell_timeout = self.timeout  # the configured limit; self.timeout shrinks with the notebook's budget
        self._deadline: float | None = None
        self._stopped = ""  # why the remaining cells are not run
        self._printed = 0
        self._truncated: set[int] = set()

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, execution_count=None,
                                 store_history: bool = True) -> NotebookNode:
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._deadline is None:
            self._deadline = time.monotonic() + self.notebook_timeout
            await self._setup_guard(cell_index)
        remaining = self._deadline - time.monotonic()
        if not self._stopped and remaining < 1:
            self._stopped = f"the notebook ran past its {self.notebook_timeout} s limit"
        if self._stopped:
            cell.outputs = [error_output(NOT_RUN, f"not run: {self._stopped}")]
            return cell
        self.timeout = max(1, min(self.cell_timeout, int(remaining)))
        try:
            tampered = await self._guard() if is_test_cell(cell) else None
            if tampered is not None:
                cell.outputs = [tampered]
                return cell
            await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            if sandbox.ACTIVE is not None and self.km.has_kernel:
                sandbox.ACTIVE.peak_rss = max(sandbox.ACTIVE.peak_rss, sandbox.peak_rss(self.km.provisioner.pid))
                with contextlib.suppress(OSError):  # a kernel that has just died
                    sandbox.ACTIVE.cpus = sorted(os.sched_getaffinity(self.km.provisioner.pid))
            return cell
        except DeadKernelError:
            self._stopped = f"the kernel died in cell {cell_index}"
            cell.outputs.append(error_output(
                KERNEL_DIED, "the kernel stopped while running this cell (os._exit, a crash, or the memory limit)"))
            return cell

    # nbclient binds the synchronous name to its own coroutine: bind it to this one
    execute_cell = run_sync(async_execute_cell)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> dict | None:
        reply = await super()._async_handle_timeout(timeout, cell)  # interrupts the kernel
        if sandbox.ACTIVE is not None and self.km.has_kernel:
            started = self.km.provisioner.pid  # a forked kernel itself, else its jail's first process
            kernel = started if sandbox.ACTIVE.forked else sandbox.kernel_process(started)
            if kernel is not None:
                sandbox.ACTIVE.killed += sandbox.end_descendants(kernel)
        return reply

    async def _guard(self) -> NotebookNode | None:
        """Run the tamper check, as a user expression (no input transformer touches it); its error or None."""
        msg_id = await ensure_async(self.kc.execute("", silent=True, store_history=False,
                                                    user_expressions={"guard": GUARD_CALL}))
        reply = await self.async_wait_for_reply(msg_id)
        result = (reply or {}).get("content", {}).get("user_expressions", {}).get("guard", {})
        if result.get("status") == "ok":
            return None
        return error_output(result.get("ename", TAMPERING), result.get("evalue", "the tamper check did not answer"))

    async def _setup_guard(self, cell_index: int) -> None:
        """Run kernel_guard.py in the kernel before any student code."""
        setup = NotebookNode(cell_type="code", source=GUARD_SETUP, metadata={}, outputs=[], execution_count=None)
        await super().async_execute_cell(setup, cell_index, store_history=False)
        errors = [o for o in setup.outputs if o.output_type == "error" or o.get("name") == "stderr"]
        if errors:
            raise RuntimeError(f"the grader's tamper check could not start: {errors[0]}")

    def output(self, outs, msg, display_id, cell_index):
        kind = msg["msg_type"]
        # a test cell's execute_result can carry partial credit: it is never dropped
        if kind in ("stream", "display_data", "update_display_data"):
            self._printed += len(str(msg["content"].get("text", ""))) + len(str(msg["content"].get("data", "")))
            if self._printed > self.max_output_bytes:
                if cell_index not in self._truncated:  # one note per cell, on the stream that was cut
                    self._truncated.add(cell_index)
                    name = msg["content"].get("name", "stdout")
                    outs.append(NotebookNode(output_type="stream", name=name,
                                             text=TRUNCATED.format(f"{self.max_output_bytes} bytes") + "\n"))
                return None
        return super().output(outs, msg, display_id, cell_index)
