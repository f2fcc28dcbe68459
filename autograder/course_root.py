"""An instructor's nbgrader course folder, read as nbgrader's own commands read it: its configuration, deadlines
and roster."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from course.errors import CourseError

CONFIG_FILE = "nbgrader_config.py"


def course_config(root: Path):
    """The traitlets Config that `nbgrader` run in `root` would see: Jupyter's config path, then
    `root/nbgrader_config.py` (older setting names renamed, as nbgrader does), with `CourseDirectory.root` = root.
    The working directory is not read and not changed."""
    from nbgrader.apps.baseapp import NbGrader
    from traitlets.config import Application

    app = NbGrader(log_level=logging.ERROR)  # not initialised: no argv, no sys.path change, no log file
    app.load_cwd_config = False
    app.raise_config_file_errors = True
    for where, load in [("the Jupyter configuration (jupyter --paths)", app.load_config_file),
                        (root / CONFIG_FILE, lambda: Application.load_config_file(app, CONFIG_FILE, path=str(root)))]:
        try:
            load()
        except Exception as error:  # the instructor's Python files: any error they raise
            raise CourseError(f"{where}: {type(error).__name__}: {error}") from None
    app.config.CourseDirectory.root = str(root)
    return app.config


def parse_due(text: str) -> datetime:
    """A deadline as nbgrader stores it, naive UTC: "2024-03-01 23:59:00 UTC", "2024-03-01 23:59 America/Chicago",
    "2024-03-01T23:59:00-06:00"; without a zone, UTC. A zone name that is not known is an error (nbgrader's own
    parser would read it as UTC)."""
    import dateutil.parser
    import dateutil.tz
    from nbgrader.utils import parse_utc

    parts = text.strip().split(" ")
    if len(parts) == 3 and not parts[2].lstrip("+-").isdigit() and dateutil.tz.gettz(parts[2]) is None:
        raise CourseError(f"--due {text!r}: unknown time zone {parts[2]!r}; write UTC, an offset like -06:00, "
                          "or a name like America/Chicago")
    try:
        return parse_utc(text.strip())
    except (ValueError, OverflowError, dateutil.parser.ParserError):
        raise CourseError(f"--due {text!r} is not a date and time; write e.g. '2024-03-01 23:59:00 UTC'") from None


@dataclass(frozen=True)
class Student:
    """A roster line, with nbgrader's Student fields."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    lms_user_id: str | None = None


ROSTER_ALIASES = {"student_id": "id", "first": "first_name", "last": "last_name", "lms_id": "lms_user_id"}


def read_roster(path: Path) -> list[Student]:
    """The students of a CSV with a header naming id (or student_id), first_name, last_name, email and, optionally,
    lms_user_id; headers are read case- and spacing-blind ("First Name" is first_name). The file that
    `nbgrader db student import` reads is one."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = list(csv.reader(f))
    except OSError as error:
        raise CourseError(f"--roster {path}: {error.strerror}") from None
    if not lines:
        raise CourseError(f"--roster {path}: the file is empty")
    header = [h.strip().lower().replace(" ", "_").replace("-", "_") for h in lines[0]]
    header = [ROSTER_ALIASES.get(h, h) for h in header]
    if "id" not in header:
        raise CourseError(f"--roster {path}: no id column (the header is {','.join(lines[0])})")
    fields = [h if h in Student.__dataclass_fields__ else None for h in header]
    students, seen = [], set()
    for number, line in enumerate(lines[1:], start=2):
        values = {f: (v.strip() or None) for f, v in zip(fields, line) if f}
        if not any(values.values()):
            continue
        if not values.get("id"):
            raise CourseError(f"--roster {path}, line {number}: no student id")
        if values["id"] in seen:
            raise CourseError(f"--roster {path}, line {number}: student {values['id']} is listed twice")
        seen.add(values["id"])
        students.append(Student(**values))
    return students
