"""Where the course's source notebooks are, and which lessons they hold."""

from __future__ import annotations

import os
from pathlib import Path

from course.errors import CourseError
from course.syllabus import require_lesson

ROOT_ENV = "COURSE_ROOT"
GRADED_NOTEBOOK = "exercise.ipynb"


def course_root() -> Path:
    """The repository that holds `solutions/`: `$COURSE_ROOT`, else the cwd or a parent, else the install."""
    if os.environ.get(ROOT_ENV):
        candidates = [Path(os.environ[ROOT_ENV])]
    else:
        cwd = Path.cwd().resolve()
        candidates = [cwd, *cwd.parents, Path(__file__).resolve().parent.parent]
    for path in candidates:
        if (path / "solutions").is_dir():
            return path
    raise CourseError("no solutions/ folder found: run from the course repository or set COURSE_ROOT")


def solution_dir(root: Path, lesson: str) -> Path:
    """solutions/<lesson>, checked to exist and to hold the graded notebook."""
    require_lesson(lesson)
    folder = root / "solutions" / lesson
    if not (folder / GRADED_NOTEBOOK).exists():
        raise CourseError(f"{folder / GRADED_NOTEBOOK}: missing (the source of lesson {lesson})")
    return folder
