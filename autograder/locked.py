"""Checked values come from the course's code: the cells a student adds before a locked run are not run.

An exercise's given code cells are read-only nbgrader cells ("locked"): nbgrader's OverwriteCells
restores an edited one from the source. That alone would leave a way round it: a cell added
between a locked cell that computes what a test checks (a training run) and that test could
assign the checked values, or patch what the locked cell calls. So, while grading, a code cell
the student added is not run when it sits in the stretch between the student's last answer and a
test cell, and that stretch holds a locked cell: its code is kept, commented out, with a note.
Cells added anywhere else (after an answer, before a stretch with no locked cell) run as written.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

NOT_RUN = "# [grader] not run: a cell added before a locked cell's test; put helpers in your answer cell\n"


def _role(cell: NotebookNode) -> str:
    """'answer', 'test', 'locked' (a read-only code cell of the source) or 'added' (no nbgrader metadata)."""
    nb = cell.metadata.get("nbgrader", {})
    if nb.get("solution"):
        return "answer"
    if nb.get("grade"):
        return "test"
    if nb.get("locked") and cell.cell_type == "code":
        return "locked"
    return "added" if cell.cell_type == "code" and not nb else "other"


def skipped_cells(cells: list[NotebookNode]) -> list[int]:
    """Indices of the added code cells that grading does not run (see the module's docstring)."""
    skipped, stretch = [], []
    for i, cell in enumerate(cells):
        role = _role(cell)
        if role == "answer":
            stretch = []
        elif role == "test":
            if any(_role(cells[j]) == "locked" for j in stretch):
                skipped += [j for j in stretch if _role(cells[j]) == "added"]
            stretch = []
        else:
            stretch.append(i)
    return skipped


def is_locked_cell(cell: NotebookNode) -> bool:
    """A read-only code cell of the lesson (given code that computes what a test checks)."""
    return _role(cell) == "locked"


class SkipAddedCells(NbGraderPreprocessor):
    """Comment out the added cells `skipped_cells` names; runs after OverwriteCells has restored the locked ones."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        for i in skipped_cells(nb.cells):
            cell = nb.cells[i]
            cell.source = NOT_RUN + "".join(f"# {line}\n" for line in cell.source.splitlines())
        return nb, resources
