"""Shared test setup: smoke profile, a fresh model cache, and helpers to run the `course` CLI."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = str(Path(sys.executable).parent / "course")

# Every test, and every kernel the tests start, runs the smoke profile and fills its own model
# cache, as a fresh machine would (the first load converts the GGUF, about 25 s).
# The cache is removed when the tests end (about 0.5 GB each run; CI machines are reused).
os.environ["COURSE_PROFILE"] = "smoke"
if "COURSE_CACHE" not in os.environ:
    os.environ["COURSE_CACHE"] = tempfile.mkdtemp(prefix="course-test-cache-")
    atexit.register(shutil.rmtree, os.environ["COURSE_CACHE"], ignore_errors=True)
os.environ["COURSE_ROOT"] = str(ROOT)
if os.environ.get("PYTEST_XDIST_WORKER"):  # two test processes share the cores (run.py test): a thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def run_course(*args: str, root: Path = ROOT, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the installed `course` command on the course folder `root`, capturing its output."""
    return subprocess.run([COURSE, *map(str, args)], cwd=root, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COURSE_ROOT": str(root)})


@pytest.fixture
def submissions(tmp_path: Path):
    """Copy a notebook into tmp_path/<student>/exercise.ipynb and return the path."""

    def make(student: str, source: Path) -> Path:
        target = tmp_path / student / "exercise.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return target

    return make
