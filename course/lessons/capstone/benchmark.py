"""Every method of the comparison, each measured in a fresh Python process; the rows, a CSV and a chart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from course.lessons.capstone.methods import COLUMNS, METHODS, SIZES, require_methods, require_profile
from course.lessons.capstone.report import figure
from course.errors import CourseError
from course.results import writable_folder, write_csv


def run_method(method: str, profile: str, seeds: int | None = None) -> list[dict]:
    """`measure` in a fresh Python process, so that no method inherits another's memory; the rows it printed."""
    import course

    paths = [str(Path(course.__file__).parent.parent), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env = {**os.environ, "COURSE_PROGRESS": "0", "COURSE_PROFILE": profile,
           "PYTHONPATH": os.pathsep.join(filter(None, paths))}  # the same `course` as this process
    command = [sys.executable, "-m", "course.lessons.capstone.measure", "--method", method, "--profile", profile, "--json"]
    done = subprocess.run(command + (["--seeds", str(seeds)] if seeds else []), capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{method} failed (exit {done.returncode}):\n{tail}")
    return [json.loads(line) for line in done.stdout.strip().splitlines() if line.startswith("{")]


def benchmark(profile: str, methods: list[str] | None = None, out: str | Path | None = None,
              seeds: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Run each method in its own process; write `out/<profile>.csv` and `out/<profile>.html` when `out` is given.

    Bad input (an unknown profile or method, fewer than one seed, an output folder that cannot be written) fails
    before any work.
    """
    profile, methods = require_profile(profile), require_methods(methods or list(METHODS))
    if seeds is not None and seeds < 1:
        raise CourseError(f"--seeds must be at least 1, not {seeds}")
    folder = writable_folder(out) if out is not None else None
    n = seeds or SIZES[profile].seeds
    log(f"capstone: {len(methods)} method(s), profile {profile}, {n} seed(s), each method in its own process")
    rows = []
    for method in methods:
        start = time.perf_counter()
        done = run_method(method, profile, seeds)
        accuracy = [r["policy_accuracy"] for r in done]
        lr = f"{done[0]['lr']:.3g}" if done[0]["lr"] else "-"
        log(f"{method:>14}: {time.perf_counter() - start:6.1f} s, lr {lr}, policy accuracy "
            + ", ".join(f"{a:.0%}" for a in accuracy))
        rows += done
    if folder is not None:
        write_csv(rows, folder / f"{profile}.csv", COLUMNS)
        figure(rows).write_html(folder / f"{profile}.html", include_plotlyjs="directory")
    return rows
