"""The `course` command: build, grade, export, check, main (build + grade the reference solutions), and capstone.

It lives with the grader, which imports the students' package (`course`); `course` never imports it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from course.errors import CourseError
from course.units import GiB


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*["-" * w for w in widths])]
                     + [fmt.format(*map(str, r)) for r in rows])


def cmd_build(args) -> int:
    from autograder.lessons import course_root
    from autograder.build import build

    root = course_root()
    for path in build(root, args.lessons or None):
        print(f"wrote {path.relative_to(root)}")
    return 0


def cmd_grade(args) -> int:
    from autograder.batch import grade, write_csv
    from autograder.course_root import parse_due, read_roster
    from autograder.lessons import course_root
    from autograder.sandbox import Limits
    from course.syllabus import require_graded

    require_graded(args.lesson)
    roster = read_roster(Path(args.roster)) if args.roster else None
    if args.due is not None:
        parse_due(args.due)  # a bad date fails here, before any grading
    start = time.perf_counter()
    out = Path(args.out or Path("grading") / args.lesson)
    given = {"cell_timeout": args.cell_timeout, "notebook_timeout": args.notebook_timeout,
             "memory": args.memory_gib and int(args.memory_gib * GiB)}
    limits = Limits(**{name: value for name, value in given.items() if value is not None})
    records = grade(course_root(), args.lesson, [Path(p) for p in args.submissions], out, jobs=args.jobs,
                    limits=limits, regrade=args.regrade, roster=roster, due=args.due)
    rows = [[r.student, f"{r.score:g} / {r.max_points:g}" + (f" (late: -{r.late_penalty:g})" if r.late_penalty else ""),
             r.failure or _first_problem(r.cells) or "; ".join(r.notes)] for r in records]
    print(_table(rows, ["student", "points", "first problem"]))
    print(f"{len(records)} submission(s) in {time.perf_counter() - start:.1f} s; gradebook, feedback and "
          f"grades.csv in {out}")
    if args.csv:
        write_csv(Path(args.csv), records)
    return 0


def cmd_export(args) -> int:
    from autograder.export import export

    print(export(Path(args.root), Path(args.to), args.format))
    return 0


def _first_problem(cells: list[dict]) -> str:
    return next((f"{c['cell']}: {c['message']}" for c in cells if c["message"] != "ok" and c["points"] is not None), "")


def cmd_check(args) -> int:
    from course.check import check, format_results
    from course.syllabus import require_graded

    require_graded(args.lesson)
    print(format_results(check(args.lesson, args.notebook)))
    return 0


def cmd_main(args) -> int:
    """Build every lesson, then grade each graded lesson's (or each named one's) reference solution."""
    from autograder.batch import grade
    from autograder.lessons import course_root, solution_dir
    from autograder.build import build
    from course.syllabus import GRADED, require_graded

    for lesson in args.lessons:
        require_graded(lesson)
    root = course_root()
    build(root)
    table, complete = [], True
    for lesson in args.lessons or GRADED:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:  # the student id is the folder name: "reference"
            submission = Path(tmp) / "reference" / "exercise.ipynb"
            submission.parent.mkdir()
            shutil.copy(solution_dir(root, lesson) / "exercise.ipynb", submission)
            [record] = grade(root, lesson, [submission], Path(tmp) / "out", log=lambda line: None)
        complete &= record.points == record.max_points
        table.append([lesson, f"{record.points:g} / {record.max_points:g}", f"{time.perf_counter() - start:.0f} s"])
    print("built lessons/ from solutions/; reference solutions graded by nbgrader autograde:")
    print(_table(table, ["lesson", "points earned / possible", "grading time"]))
    return 0 if complete else 1


def cmd_capstone(args) -> int:
    """Measure the methods, one process each; print the table, write <out>/<profile>.csv and .html."""
    from course.lessons.capstone import benchmark, require_profile, table

    start = time.perf_counter()
    profile = require_profile(args.profile)
    rows = benchmark(profile, args.methods, args.out, args.seeds)
    out = Path(args.out)
    print(table(rows))
    print(f"{len(rows)} run(s) in {time.perf_counter() - start:.0f} s; wrote {out / f'{profile}.csv'} and "
          f"{out / f'{profile}.html'}")
    return 0


def parser() -> argparse.ArgumentParser:
    from autograder.export import FORMATS
    from autograder.sandbox import Limits

    p = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="regenerate lessons/ from solutions/ with nbgrader")
    b.add_argument("lessons", nargs="*", help="lesson ids (default: all ready lessons)")
    b.set_defaults(run=cmd_build)
    g = sub.add_parser("grade", help="autograde submissions in a sandbox, in parallel, resumable")
    g.add_argument("lesson")
    g.add_argument("submissions", nargs="+",
                   help="notebooks (the student is the folder's name) or folders of <student>/ folders")
    g.add_argument("-j", "--jobs", type=int, default=1, help="parallel workers (one per core is the measured best)")
    g.add_argument("--out", help="nbgrader course folder for the gradebook, feedback and grades.csv, new or an "
                                  "instructor's with other lessons (its nbgrader_config.py is read; "
                                  "default grading/LESSON)")
    g.add_argument("--csv", help="also write this run's rows (student,lesson,cell,points,max_points,message) here")
    g.add_argument("--regrade", action="store_true", help="grade again what the output folder already holds")
    g.add_argument("--roster", help="CSV of the class (id, first_name, last_name, email): its students go into the "
                                    "gradebook with their names")
    g.add_argument("--due", help="the lesson's due date, e.g. '2024-03-01 23:59 America/Chicago' (default: the one "
                                 "in the gradebook, if any); nbgrader collect's timestamp.txt says when each came in")
    g.add_argument("--cell-timeout", type=int, help=f"seconds per cell (default {Limits.cell_timeout})")
    g.add_argument("--notebook-timeout", type=int, help=f"seconds per notebook (default {Limits.notebook_timeout})")
    g.add_argument("--memory-gib", type=float,
                   help=f"address space per kernel process in GiB (default {Limits.memory / GiB:g})")
    g.set_defaults(run=cmd_grade)
    e = sub.add_parser("export", help="every lesson's grades in an nbgrader course folder, as one CSV")
    e.add_argument("root", help="the nbgrader course folder (its nbgrader_config.py is read)")
    e.add_argument("--to", required=True, help="the CSV file to write")
    e.add_argument("--format", choices=list(FORMATS), default="nbgrader",
                   help="nbgrader's export columns (default), or Canvas's gradebook import")
    e.set_defaults(run=cmd_export)
    c = sub.add_parser("check", help="run a notebook and report which public tests pass")
    c.add_argument("lesson")
    c.add_argument("notebook")
    c.set_defaults(run=cmd_check)
    m = sub.add_parser("main", help="build all lessons and grade the reference solutions")
    m.add_argument("lessons", nargs="*", help="grade only these lessons' references (default: every graded lesson)")
    m.set_defaults(run=cmd_main)
    k = sub.add_parser("capstone",
                       help="measure the seven methods of lesson 11 over seeds: table, CSV and plotly chart")
    k.add_argument("--profile", help="smoke, cpu or gpu (default: $COURSE_PROFILE, else detected)")
    k.add_argument("--methods", nargs="+", help="method ids (default: all, in syllabus order)")
    k.add_argument("--seeds", type=int, help="seeds per method at the learning rate its sweep chose "
                                             "(default: the profile's; 3 for cpu and gpu)")
    k.add_argument("--out", default="capstone-results", help="folder for <profile>.csv and <profile>.html "
                                                             "(default capstone-results)")
    k.set_defaults(run=cmd_capstone)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CourseError as error:
        print(f"course {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"course {args.command}: interrupted (what was recorded stays; `course grade` goes on where it "
              "stopped when run again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
