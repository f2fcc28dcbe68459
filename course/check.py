"""`course check`: run a student's notebook and report its public tests, no grading server needed.

Scoring is nbgrader's own rule (`nbgrader.utils.determine_grade`, pinned equal by the tests): a test
cell earns its points when it runs without an error and without writing to stderr. It is written
out here so that self-checking needs no nbgrader, whose server stack Colab must not install.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from course.environ import environ
from course.errors import CourseError
from course.notebooks import QUIET_KERNEL_ARGS, graded_cells, lesson_of, read_notebook
from course.syllabus import require_lesson

CHECK_TIMEOUT_S = 300


@dataclass(frozen=True)
class TestResult:
    """One public test cell after the run."""

    cell: str
    points: float
    max_points: float
    message: str  # the error's last line, 'wrote to stderr', or 'ok'


def why_failed(cell) -> str:
    """Why a test cell scores 0 under nbgrader's rule, in one line: its error, its stderr, or 'ok'."""
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            return (f"{out.ename}: {out.evalue}" if out.evalue else out.ename).splitlines()[0][:200]
        if out.output_type == "stream" and out.name == "stderr":
            return "wrote to stderr (nbgrader scores that as a fail): " + out.text.strip()[:120]
    return "ok"


def cell_points(cell) -> float:
    """The points nbgrader gives an executed test cell: 0 after an error or stderr, else full or partial.

    As nbgrader: the cell's first result (`execute_result`) is partial credit when it reads as a
    number from 0 to the cell's points (above them is an error); anything else earns full points.
    """
    max_points = float(cell.metadata.nbgrader["points"])
    for out in cell.get("outputs", []):
        if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr"):
            return 0.0
        if out.output_type == "execute_result":
            text = out.data["text/plain"]
            try:
                value = float(text[0] if isinstance(text, list) and len(text) == 1 else text)
            except (TypeError, ValueError):
                return max_points
            if value > max_points:
                raise ValueError(f"partial credit {value} is above the cell's {max_points:g} points")
            return value if value >= 0 else max_points
    return max_points


def check(lesson: str, notebook: str | Path, timeout: int = CHECK_TIMEOUT_S) -> list[TestResult]:
    """Execute `notebook` in a fresh kernel and score its test cells as nbgrader would."""
    from course.notebook_client import SteadyNotebookClient

    require_lesson(lesson)
    path = Path(notebook)
    nb = read_notebook(path)
    recorded = lesson_of(nb)
    if recorded is not None and recorded != lesson:
        raise CourseError(f"{path}: this notebook belongs to lesson {recorded!r}, not {lesson!r}")
    if not graded_cells(nb, tests_only=True):
        raise CourseError(f"{path}: no graded test cells: is this the exercise notebook of {lesson}?")
    client = SteadyNotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                                  extra_arguments=QUIET_KERNEL_ARGS,
                                  resources={"metadata": {"path": str(path.resolve().parent)}})
    with environ(COURSE_CHECKING="1"):  # a run_check cell inside the notebook must not recurse
        client.execute()
    results = []
    for cell in graded_cells(nb, tests_only=True):
        results.append(TestResult(cell.metadata.nbgrader["grade_id"], cell_points(cell),
                                  float(cell.metadata.nbgrader["points"]), why_failed(cell)))
    return results


def current_notebook(lesson: str) -> Path:
    """The notebook this kernel runs, where the front end tells (JupyterLab sets JPY_SESSION_NAME)."""
    name = os.environ.get("JPY_SESSION_NAME")
    if name and Path(name).suffix == ".ipynb" and Path(name).exists():
        return Path(name)
    try:  # Colab keeps the notebook in the browser: ask it for the current contents
        from google.colab import _message  # type: ignore[import-not-found]
    except ImportError:
        raise CourseError("cannot tell which notebook this is: pass its path, "
                          f"e.g. run_check({lesson!r}, 'exercise.ipynb')") from None
    import json
    import tempfile

    nb = _message.blocking_request("get_ipynb", timeout_sec=60)["ipynb"]
    out = Path(tempfile.mkdtemp()) / "exercise.ipynb"
    out.write_text(json.dumps(nb))
    return out


def run_check(lesson: str, notebook: str | Path | None = None) -> float:
    """Check from inside a notebook (save it first); prints the table and returns the points earned.

    Does nothing while the notebook is itself being checked or graded.
    """
    if os.environ.get("COURSE_CHECKING") or os.environ.get("NBGRADER_EXECUTION"):
        print("(skipped: this notebook is being checked or graded)")
        return 0.0
    results = check(lesson, notebook or current_notebook(lesson))
    print(format_results(results))
    return sum(r.points for r in results)


def format_results(results: list[TestResult]) -> str:
    """A plain-text table: one line per test, then the total."""
    width = max(len(r.cell) for r in results)
    lines = [f"{'PASS' if r.points == r.max_points else 'FAIL'}  {r.cell:<{width}}  "
             f"{r.points:g}/{r.max_points:g}  {r.message}" for r in results]
    earned, possible = sum(r.points for r in results), sum(r.max_points for r in results)
    return "\n".join(lines + [f"total: {earned:g} / {possible:g}"])
