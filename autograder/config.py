"""The nbgrader configuration the course needs, as one function.

Each build or grading run works in a fresh folder laid out the nbgrader way
(`source/<lesson>/`, `release/`, `submitted/<student>/<lesson>/`, `gradebook.db`), so no
gradebook or generated file is left in the repository.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from course.notebooks import QUIET_KERNEL_ARGS

# Per-cell execution limit while grading. The graded training cells run smoke-sized LoRA and
# QLoRA runs (about 15 s each on a 2-core CPU, plus about 25 s once to convert the model).
CELL_TIMEOUT_S = 180


def nbgrader_config(workdir: Path, timeout: int = CELL_TIMEOUT_S) -> Config:
    """Config for nbgrader's API rooted at `workdir`."""
    c = Config()
    c.CourseDirectory.root = str(workdir)
    c.CourseDirectory.db_url = f"sqlite:///{workdir / 'gradebook.db'}"
    c.Execute.timeout = timeout
    # nbgrader fails the whole submission when output arrives over 4 s after a cell's reply (IOPub
    # timeout); on a loaded machine (load average 10 on 2 cores) that happens to correct notebooks
    c.Execute.iopub_timeout = 60
    c.Execute.allow_errors = True
    c.Execute.extra_arguments = QUIET_KERNEL_ARGS
    # a student who deletes a test cell still gets it graded
    c.OverwriteCells.add_missing_cells = True
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    return c
