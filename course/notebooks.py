"""Reading notebooks with clear errors, and the nbgrader cell markup the course relies on."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from course.errors import CourseError

# kernel arguments for notebooks the course grades or checks: the kernel's own log (a warning about
# local TCP on every start) is noise, and the libraries are imported quietly before the first cell
# (course/preload.py), so that no import-time output lands in a graded cell
QUIET_KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR", "--IPKernelApp.exec_lines=import course.preload"]


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The notebook at `path`, or a CourseError that says why it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise CourseError(f"{path}: no such file")
    if path.is_dir():
        raise CourseError(f"{path}: is a folder, not a notebook")
    if path.suffix != ".ipynb":
        raise CourseError(f"{path}: not a notebook (expected a .ipynb file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CourseError(f"{path}: corrupt notebook, not valid JSON ({error})") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise CourseError(f"{path}: not a notebook (JSON without a 'cells' list)")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several types for a malformed notebook
        raise CourseError(f"{path}: invalid notebook ({str(error).splitlines()[0]})") from None
    return nb


def graded_cells(nb: nbformat.NotebookNode, tests_only: bool = False) -> list[nbformat.NotebookNode]:
    """The cells nbgrader gives points to (grade cells and manually graded tasks), in notebook order;
    `tests_only` keeps autograded tests."""
    marks = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
             or c.get("metadata", {}).get("nbgrader", {}).get("task")]
    return [c for c in marks if not (tests_only and not is_autograded(c))]


def is_autograded(cell: nbformat.NotebookNode) -> bool:
    """Whether nbgrader scores `cell` itself: a test cell (graded, not an answer, not a task); the others with
    points are graded by hand in formgrader."""
    marks = cell.get("metadata", {}).get("nbgrader", {})
    return bool(marks.get("grade")) and not marks.get("solution") and not marks.get("task")


def lesson_of(nb: nbformat.NotebookNode) -> str | None:
    """The lesson id recorded in the notebook's metadata (`course.lesson`), if any."""
    return nb.metadata.get("course", {}).get("lesson")


def write_clean(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write `nb` without outputs or execution counts, in a stable JSON layout."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
