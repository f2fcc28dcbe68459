"""Grading throughput: `course grade -j 1` and `-j 2` against plain sequential `nbgrader autograde`.

    python benchmarks/grading.py [--lesson 09-rag-vs-fine-tuning] [--n 40]

Generates N submissions of one lesson from the corpus in tests/test_hostile_submissions.py, a
mix of correct (40%), partly wrong (30%: a syntax error, an exception, sys.exit, an edited or
deleted test, a read outside the folder) and broken (30%: blank, os._exit, empty, corrupt JSON,
another lesson's notebook, a monkeypatched torch), then grades the same set three ways on this
machine, one after the other, and prints submissions per minute, the speed-ups, the CPU time each
run kept the machine busy (core-seconds, all processes) and how many cores that averages, the peak
memory of each worker (its own process plus its kernel's), and where the scores differ. Plain
nbgrader's kernel already runs torch on every core, so -j N can beat it by at most
N x its seconds / the core-seconds -j N needs; the last line prints that ceiling. Run as root,
`course grade` forks each kernel from a worker's zygote that imported the lesson's libraries once
(docs/grading.md), which is where most of its saving comes from. Cases that only
wait for a time limit (endless loops, sleeps) are left out: they measure the limit, not the grader.
Run it on an idle machine: the three runs share it with nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the corpus lives with the tests that pin its scores

from test_hostile_submissions import LESSON, write_corpus  # noqa: E402

from autograder.build import nbgrader_failure, tools_on_path  # noqa: E402
from autograder.config import CELL_TIMEOUT_S  # noqa: E402
from course.notebooks import QUIET_KERNEL_ARGS  # noqa: E402
from course.units import MiB  # noqa: E402

MIX = {"reference": 0.4,
       **dict.fromkeys(["syntax_error", "exception", "sys_exit", "edited_test", "deleted_test", "reads_outside"], 0.05),
       **dict.fromkeys(["blank", "os_exit", "empty_notebook", "corrupt_json", "other_lesson",
                        "monkeypatched_torch"], 0.05)}


def busy_core_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, over all cores (Linux /proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def make_submissions(folder: Path, n: int) -> None:
    """folder/<student>/exercise.ipynb for n students drawn from the corpus in MIX's proportions."""
    corpus = folder.parent / "corpus"
    write_corpus(corpus, {"port": 9, "solution": "", "gradebook": "", "lesson": LESSON, "other": "", "other_out": ""})
    names = [name for name, share in MIX.items() for _ in range(round(share * n))][:n]
    for i, name in enumerate(names):
        source = next((corpus / name).iterdir())
        target = folder / f"s{i:02d}-{name}" / source.name
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read_bytes())


def plain_nbgrader(folder: Path, work: Path, lesson: str) -> tuple[float, dict[str, float]]:
    """Sequential `nbgrader autograde` with the course's nbgrader settings, no sandbox: (seconds, totals)."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from autograder.config import nbgrader_config

    source = work / "source" / lesson
    source.mkdir(parents=True)
    (source / "exercise.ipynb").write_bytes((ROOT / "solutions" / lesson / "exercise.ipynb").read_bytes())
    for student in folder.iterdir():
        target = work / "submitted" / student.name / lesson
        target.mkdir(parents=True)
        for f in student.iterdir():
            (target / f.name).write_bytes(f.read_bytes())
    (work / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{work / 'gradebook.db'}'\n"
        f"c.Execute.timeout = {CELL_TIMEOUT_S}\nc.Execute.iopub_timeout = 60\n"
        f"c.Execute.extra_arguments = {QUIET_KERNEL_ARGS!r}\nc.OverwriteCells.add_missing_cells = True\n")
    with tools_on_path():
        result = NbGraderAPI(config=nbgrader_config(work)).generate_assignment(lesson, force=True)
        assert result["success"], nbgrader_failure(result)
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", lesson, "--force"], cwd=work,
                       env={**os.environ, "COURSE_PROFILE": "smoke"}, capture_output=True)
        seconds = time.perf_counter() - start
    totals = {}
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(lesson).submissions:
            totals[sub.student_id] = sub.score
    return seconds, totals


def course_grade(folder: Path, out: Path, lesson: str, jobs: int) -> tuple[float, dict[str, float], list[int], str]:
    """`course grade -j jobs`: (seconds, totals, peak bytes per worker: its process + its kernel, kernels forked)."""
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "course"), "grade", lesson, str(folder), "--out", str(out),
                           "-j", str(jobs)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    totals = {r["student"]: sum(c["points"] for c in r["cells"]) for r in records}
    peaks = [r["kernel_peak_rss"] + r["extra"].get("worker_peak_rss", 0) for r in records if r["kernel_peak_rss"]]
    ran = [r for r in records if r["kernel_peak_rss"]]  # the ones that got as far as a kernel
    return seconds, totals, peaks, f"{sum(r['extra'].get('kernel_forked', False) for r in ran)} of {len(ran)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", default=LESSON)
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_CACHE", tempfile.mkdtemp(prefix="course-bench-cache-"))
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        folder = Path(tmp) / "submissions"
        make_submissions(folder, args.n)
        from course.models import causal_lm_path

        causal_lm_path("smollm2-135m-instruct")  # convert the model before any clock starts
        print(f"{args.n} submissions of {args.lesson} on {os.cpu_count()} cores; running plain nbgrader ...", flush=True)
        before = busy_core_seconds()
        plain_s, plain = plain_nbgrader(folder, Path(tmp) / "plain", args.lesson)
        rows = [("plain nbgrader autograde (sequential)", plain_s, busy_core_seconds() - before, None, "")]
        results, core_seconds = {}, {}
        for jobs in (1, 2):
            print(f"running course grade -j {jobs} ...", flush=True)
            before = busy_core_seconds()
            seconds, totals, peaks, forked = course_grade(folder, Path(tmp) / f"j{jobs}", args.lesson, jobs)
            results[jobs], core_seconds[jobs] = totals, busy_core_seconds() - before
            rows.append((f"course grade -j {jobs} (sandboxed)", seconds, core_seconds[jobs], peaks, forked))
    print(f"\n{'run':40s} {'seconds':>8s} {'subs/min':>9s} {'vs plain':>9s} {'core-s':>7s} {'cores':>6s}"
          f"  {'kernels forked':>14s}  peak memory per worker (median / max)")
    for name, seconds, core_s, peaks, forked in rows:
        memory = (f"{statistics.median(peaks) / MiB:.0f} / {max(peaks) / MiB:.0f} MiB" if peaks else "")
        print(f"{name:40s} {seconds:8.1f} {args.n / seconds * 60:9.2f} {plain_s / seconds:8.2f}x {core_s:7.0f} "
              f"{core_s / seconds:6.2f}  {forked:>14s}  {memory}")
    cores = min(2, os.cpu_count() or 1)
    print(f"\nceiling: -j 2 using {cores} cores fully, with the core-seconds it needed, would take "
          f"{core_seconds[2] / cores:.1f} s: {plain_s * cores / core_seconds[2]:.2f}x plain")
    same = results[1] == results[2]
    differ = {s: (plain.get(s), results[2][s]) for s in results[2] if plain.get(s) != results[2][s]}
    print(f"\n-j 1 and -j 2 give the same scores: {same}")
    print(f"scores that differ from plain nbgrader ({len(differ)}; plain has no score for a file it cannot read):")
    for student, (theirs, ours) in sorted(differ.items()):
        print(f"  {student:28s} plain {theirs}  course {ours:g}")


if __name__ == "__main__":
    main()
