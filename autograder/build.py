"""`course build`: nbgrader's generate_assignment in a throw-away nbgrader folder, plus the lesson's README and
stored results."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from autograder.config import nbgrader_config
from autograder.lessons import solution_dir
from course.colab import add_colab_cells
from course.environ import environ
from course.errors import CourseError
from course.notebooks import read_notebook, write_clean
from course.quiet import no_stderr
from course.syllabus import GRADED, LESSONS, require_lesson

RESULTS = "results"  # a lab's stored measurements, released with it
README = "README.md"  # what the lesson teaches and its measured figures, released with it


def tools_on_path():
    """PATH with this Python's scripts first, as a context manager.

    nbgrader runs the `alembic` command to open its gradebook: find it beside this Python even when
    `course` was started by its full path, without activating the environment.
    """
    return environ(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


@contextlib.contextmanager
def nbgrader_course(root: Path, lesson: str, notebooks: list[Path]) -> Iterator[tuple[object, Path]]:
    """A throw-away nbgrader course folder with `notebooks` as the source of `lesson`."""
    from nbgrader.apps import NbGraderAPI

    with tempfile.TemporaryDirectory(prefix="course-nbgrader-") as tmp, tools_on_path():
        work = Path(tmp)
        source = work / "source" / lesson
        source.mkdir(parents=True)
        for nb in notebooks:
            shutil.copy(nb, source / nb.name)
        with no_stderr():  # nbgrader logs every step to stderr
            api = NbGraderAPI(config=nbgrader_config(work))
            result = api.generate_assignment(lesson, force=True)
        if not result["success"]:
            raise CourseError(f"nbgrader could not generate {lesson}: {nbgrader_failure(result)}")
        yield api, work


_EXCEPTION = re.compile(r"^\s*([\w.]+(Error|Exception)(: .*)?)$")


def nbgrader_failure(result: dict) -> str:
    """The underlying exception from an nbgrader result, not its closing 'see the traceback above'."""
    lines = f"{result.get('log') or ''}\n{result.get('error') or ''}".splitlines()
    causes = [m.group(1) for m in map(_EXCEPTION.match, lines) if m and "NbGraderException" not in m.group(1)]
    return (causes or [line for line in lines if line.strip()] or ["no message"])[0].strip()


def source_notebooks(root: Path, lesson: str) -> list[Path]:
    """The notebooks in solutions/<lesson>: a graded lesson must hold its exercise, a lab-only one some notebook."""
    folder = solution_dir(root, lesson) if lesson in GRADED else root / "solutions" / require_lesson(lesson)
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise CourseError(f"{folder}: no notebooks (the source of lesson {lesson})")
    return notebooks


def copy_readme(source: Path, target: Path) -> list[Path]:
    """Replace target/README.md with source/README.md (or remove it, when the source has none)."""
    (target / README).unlink(missing_ok=True)
    if not (source / README).is_file():
        return []
    shutil.copyfile(source / README, target / README)
    return [target / README]


def copy_results(source: Path, target: Path) -> list[Path]:
    """Replace target/results/ with a copy of source/results/ (the only folder a lesson releases)."""
    shutil.rmtree(target / RESULTS, ignore_errors=True)
    if not (source / RESULTS).is_dir():
        return []
    shutil.copytree(source / RESULTS, target / RESULTS)
    return sorted(p for p in (target / RESULTS).rglob("*") if p.is_file())


def build(root: Path, lessons: list[str] | None = None) -> list[Path]:
    """Regenerate lessons/<id>/ from solutions/<id>/ for each lesson (or all); returns the files written."""
    written = []
    for lesson in lessons or list(LESSONS):
        notebooks = source_notebooks(root, lesson)
        for nb in notebooks:
            read_notebook(nb)  # a clear error for a corrupt source, before nbgrader sees it
        with nbgrader_course(root, lesson, notebooks) as (_, work):
            target = root / "lessons" / lesson
            for stale in target.glob("*.ipynb"):
                stale.unlink()
            for released in sorted((work / "release" / lesson).glob("*.ipynb")):
                write_clean(add_colab_cells(read_notebook(released), lesson, released.name), target / released.name)
                written.append(target / released.name)
        written += copy_readme(notebooks[0].parent, target) + copy_results(notebooks[0].parent, target)
    return written
