"""`course build` and `course grade`: nbgrader's generate_assignment and autograde, wrapped."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.config import nbgrader_config
from autograder.lessons import GRADED_NOTEBOOK, solution_dir
from course.environ import environ
from course.errors import CourseError
from course.notebooks import graded_cells, read_notebook, write_clean
from course.quiet import no_stderr
from course.syllabus import LESSONS


@dataclass(frozen=True)
class GradeRow:
    """One graded cell of one student's submission (the CSV's columns)."""

    student: str
    lesson: str
    cell: str
    points: float
    max_points: float
    failure: str = ""  # why nbgrader could not grade this submission (its cells then score 0); not in the CSV


@contextlib.contextmanager
def _nbgrader(root: Path, lesson: str, notebooks: list[Path]) -> Iterator[tuple[object, Path]]:
    """A throw-away nbgrader course folder with `notebooks` as the source of `lesson`."""
    from nbgrader.apps import NbGraderAPI

    # nbgrader runs the `alembic` command to open its gradebook: find it beside this Python even when
    # `course` was started by its full path, without activating the environment
    scripts = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="course-nbgrader-") as tmp, environ(PATH=scripts):
        work = Path(tmp)
        source = work / "source" / lesson
        source.mkdir(parents=True)
        for nb in notebooks:
            shutil.copy(nb, source / nb.name)
        with no_stderr():  # nbgrader logs every step to stderr
            api = NbGraderAPI(config=nbgrader_config(work))
            result = api.generate_assignment(lesson, force=True)
        if not result["success"]:
            raise CourseError(f"nbgrader could not generate {lesson}: {_reason(result)}")
        yield api, work


_EXCEPTION = re.compile(r"^\s*([\w.]+(Error|Exception)(: .*)?)$")


def _reason(result: dict) -> str:
    """The underlying exception from an nbgrader result, not its closing 'see the traceback above'."""
    lines = f"{result.get('log') or ''}\n{result.get('error') or ''}".splitlines()
    causes = [m.group(1) for m in map(_EXCEPTION.match, lines) if m and "NbGraderException" not in m.group(1)]
    return (causes or [line for line in lines if line.strip()] or ["no message"])[0].strip()


def build(root: Path, lessons: list[str] | None = None) -> list[Path]:
    """Regenerate lessons/<id>/ from solutions/<id>/ for each ready lesson; returns the files written."""
    written = []
    for lesson in lessons or list(LESSONS):
        notebooks = sorted(solution_dir(root, lesson).glob("*.ipynb"))
        for nb in notebooks:
            read_notebook(nb)  # a clear error for a corrupt source, before nbgrader sees it
        with _nbgrader(root, lesson, notebooks) as (_, work):
            target = root / "lessons" / lesson
            for stale in target.glob("*.ipynb"):
                stale.unlink()
            for released in sorted((work / "release" / lesson).glob("*.ipynb")):
                write_clean(read_notebook(released), target / released.name)
                written.append(target / released.name)
    return written


def student_of(submission: Path) -> str:
    """The student id: the name of the folder that holds the submitted notebook."""
    return submission.resolve().parent.name


def check_submissions(submissions: list[Path]) -> None:
    """CourseError for a missing, non-notebook or corrupt file, or two files of one student."""
    if not submissions:
        raise CourseError("no submissions given")
    seen: dict[str, Path] = {}
    for path in submissions:
        read_notebook(path)
        student = student_of(path)
        if student in seen:
            raise CourseError(f"{path} and {seen[student]} are both in folder {student!r}: one notebook per student")
        seen[student] = path


def grade(root: Path, lesson: str, submissions: list[Path], keep: Path | None = None) -> list[GradeRow]:
    """nbgrader autograde of each submission; one row per graded cell per student.

    A submission that nbgrader cannot grade (its code kills the kernel, say) scores 0 on every cell
    and says why in `GradeRow.failure`; the other submissions are graded as usual.
    With `keep`, the executed notebooks are saved as keep/<student>/<notebook> (feedback).
    """
    from nbgrader.api import Gradebook

    source = solution_dir(root, lesson) / GRADED_NOTEBOOK
    check_submissions(submissions)
    max_points = {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
                  for c in graded_cells(read_notebook(source))}
    failures: dict[str, str] = {}
    # graded cells run at smoke size, whatever the machine
    with _nbgrader(root, lesson, [source]) as (api, work), environ(COURSE_PROFILE="smoke"):
        for path in submissions:
            student = student_of(path)
            target = work / "submitted" / student / lesson / GRADED_NOTEBOOK
            target.parent.mkdir(parents=True)
            shutil.copy(path, target)
            with no_stderr():
                result = api.autograde(lesson, student, force=True, create=True)
            if not result["success"]:
                failures[student] = f"nbgrader autograde failed: {_reason(result)}"
                continue
            if keep is not None:
                graded = work / "autograded" / student / lesson / GRADED_NOTEBOOK
                (keep / student).mkdir(parents=True, exist_ok=True)
                shutil.copy(graded, keep / student / GRADED_NOTEBOOK)
        rows: list[GradeRow] = []
        with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
            for path in submissions:
                student = student_of(path)
                if student in failures:
                    rows += [GradeRow(student, lesson, cell, 0.0, top, failures[student])
                             for cell, top in max_points.items()]
                    continue
                grades = gb.find_submission_notebook(Path(GRADED_NOTEBOOK).stem, lesson, student).grades
                by_cell = {g.name: g for g in grades}
                rows += [GradeRow(student, lesson, cell, float(by_cell[cell].score or 0.0),
                                  float(by_cell[cell].max_score)) for cell in max_points]
    return rows
