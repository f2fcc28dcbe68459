"""The `course` command: build, grade, check, and main (build + grade the reference solutions)."""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

from course.errors import CourseError

CSV_COLUMNS = ["student", "lesson", "cell", "points", "max_points"]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths])]
                     + [fmt.format(*map(str, r)) for r in rows])


def cmd_build(args) -> int:
    from autograder.lessons import course_root
    from autograder.run import build

    root = course_root()
    for path in build(root, args.lessons or None):
        print(f"wrote {path.relative_to(root)}")
    return 0


def cmd_grade(args) -> int:
    from autograder.lessons import course_root
    from autograder.run import grade

    start = time.perf_counter()
    rows = grade(course_root(), args.lesson, [Path(p) for p in args.submissions],
                 keep=Path(args.keep) if args.keep else None)
    print(_table([[r.student, r.lesson, r.cell, f"{r.points:g}", f"{r.max_points:g}"] for r in rows], CSV_COLUMNS))
    for student in dict.fromkeys(r.student for r in rows):
        mine = [r for r in rows if r.student == student]
        failure = f"  ({mine[0].failure})" if mine[0].failure else ""
        print(f"{student}: {sum(r.points for r in mine):g} / {sum(r.max_points for r in mine):g}{failure}")
    print(f"graded {len(args.submissions)} submission(s) in {time.perf_counter() - start:.1f} s")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows([r.student, r.lesson, r.cell, f"{r.points:g}", f"{r.max_points:g}"] for r in rows)
    return 0


def cmd_check(args) -> int:
    from course.check import check, format_results

    print(format_results(check(args.lesson, args.notebook)))
    return 0


def cmd_main(args) -> int:
    """Build every ready lesson, then grade each reference solution: the course's self-test."""
    from autograder.lessons import course_root, solution_dir
    from autograder.run import build, grade
    from course.syllabus import LESSONS

    root = course_root()
    build(root)
    table, complete = [], True
    for lesson in LESSONS:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:  # the student id is the folder name: "reference"
            submission = Path(tmp) / "reference" / "exercise.ipynb"
            submission.parent.mkdir()
            shutil.copy(solution_dir(root, lesson) / "exercise.ipynb", submission)
            rows = grade(root, lesson, [submission])
        earned, possible = sum(r.points for r in rows), sum(r.max_points for r in rows)
        complete &= earned == possible
        table.append([lesson, f"{earned:g} / {possible:g}", f"{time.perf_counter() - start:.0f} s"])
    print("built lessons/ from solutions/; reference solutions graded by nbgrader autograde:")
    print(_table(table, ["lesson", "points earned / possible", "grading time"]))
    return 0 if complete else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="regenerate lessons/ from solutions/ with nbgrader")
    b.add_argument("lessons", nargs="*", help="lesson ids (default: all ready lessons)")
    b.set_defaults(run=cmd_build)
    g = sub.add_parser("grade", help="autograde submissions; the student id is the file's folder name")
    g.add_argument("lesson")
    g.add_argument("submissions", nargs="+")
    g.add_argument("--csv", help="also write student,lesson,cell,points,max_points rows here")
    g.add_argument("--keep", metavar="DIR", help="save each executed notebook as DIR/<student>/exercise.ipynb")
    g.set_defaults(run=cmd_grade)
    c = sub.add_parser("check", help="run a notebook and report which public tests pass")
    c.add_argument("lesson")
    c.add_argument("notebook")
    c.set_defaults(run=cmd_check)
    m = sub.add_parser("main", help="build all lessons and grade the reference solutions")
    m.set_defaults(run=cmd_main)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CourseError as error:
        print(f"course {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
