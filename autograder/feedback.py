"""One line of feedback per graded test cell, and a feedback page that does not give hidden tests away.

A hidden test that fails would show, in nbgrader's feedback, its source and the traceback of the
failing assert: the expected values. Here a failure inside the hidden part is reported as the
`# checks:` line its author wrote after `### BEGIN HIDDEN TESTS` (what was checked, not the
answer), and the feedback page keeps neither the hidden source nor its traceback. The grader's notes
(an edited read-only cell, a cell not run) head the page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.execute import KERNEL_DIED, NOT_RUN, TAMPERING, error_output, is_test_cell
from course.check import why_failed

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"(?:Cell In\[\d+\]|<ipython-input-[^>]*>), line (\d+)")


def hidden_start(source: str) -> int | None:
    """1-based line number of the hidden-tests marker, or None."""
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == HIDDEN_BEGIN:
            return number
    return None


def checks_of(source: str) -> str:
    """The `# checks:` line after the hidden-tests marker: what the hidden tests verify."""
    lines = source.splitlines()
    start = hidden_start(source)
    for line in lines[start:start + 3] if start else []:
        if line.strip().startswith("# checks:"):
            return line.strip()[len("# checks:"):].strip()
    return "the hidden tests"


def _failed_line(error: NotebookNode) -> int | None:
    """The line of the test cell's source where the error was raised."""
    numbers = [int(m.group(1)) for line in error.get("traceback", []) for m in _CELL_LINE.finditer(_ANSI.sub("", line))]
    return numbers[0] if numbers else None


def _failed_in_hidden(cell: NotebookNode, error: NotebookNode) -> bool:
    start = hidden_start(cell.source)
    if start is None:
        return False
    line = _failed_line(error)
    return line is None or line > start  # where it failed is unknown: say nothing of the hidden code


def explain(cell: NotebookNode) -> str:
    """Why a graded test cell lost its points, in one line; 'ok' when it passed."""
    outputs = cell.get("outputs", [])
    if any(out.output_type == "error" and out.ename == "CellTimeoutError" for out in outputs):
        return "the cell ran past its time limit (an endless loop?)"
    errors = [out for out in outputs if out.output_type == "error"]
    if errors and errors[0].ename in (KERNEL_DIED, NOT_RUN, TAMPERING):
        return errors[0].evalue
    if errors and _failed_in_hidden(cell, errors[0]):
        return f"hidden test failed ({errors[0].ename}): checks {checks_of(cell.source)}"
    return why_failed(cell)  # as `course check` says it: the error's first line, stderr, or ok


class HideHiddenFailures(NbGraderPreprocessor):
    """For the feedback page: a hidden test's error becomes its one-line explanation, no traceback."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            errors = [out for out in cell.outputs if out.output_type == "error"]
            if errors and _failed_in_hidden(cell, errors[0]):
                message = explain(cell)
                cell.outputs = [out for out in cell.outputs if out.output_type != "error"]
                cell.outputs.append(error_output("HiddenTestFailed", message))
        return cell, resources


def add_notes(page: Path, notes: list[str]) -> None:
    """Put the grader's notes at the top of the feedback page's body, where the student reads first."""
    if not notes or not page.exists():
        return
    text = page.read_text()
    block = ('<div class="grader-notes" style="border:2px solid #c60;padding:0.5em 1em;margin:1em">'
             "<h2>Notes from the grader</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul></div>")
    body = text.find("<body")
    at = text.find(">", body) + 1 if body >= 0 else 0
    page.write_text(text[:at] + block + text[at:])
