"""`course export`: every lesson's grades in an nbgrader course folder, as nbgrader's CSV or as a CSV for
Canvas's gradebook import."""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins.export import ExportPlugin

from course.errors import CourseError

FORMATS = ("nbgrader", "canvas")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class CanvasCsvExportPlugin(ExportPlugin):
    """Canvas's gradebook import: the five student columns, one column per assignment (by due date, then name),
    a "Points Possible" row, then one row per student. A score is after the late penalty; a submission that awaits
    manual grading is left blank (Canvas keeps what it holds); no submission is 0, as in nbgrader's CSV.
    Usable by nbgrader itself: `nbgrader export --exporter=autograder.export.CanvasCsvExportPlugin`."""

    def export(self, gradebook: Gradebook) -> None:
        assignments = sorted((a for a in gradebook.assignments if not self.assignment or a.name in self.assignment),
                             key=lambda a: (a.duedate is None, a.duedate or 0, a.name))
        students = sorted((s for s in gradebook.students if not self.student or s.id in self.student),
                          key=lambda s: s.id)
        self.pending = 0
        with open(self.to or "canvas.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CANVAS_COLUMNS + [a.name for a in assignments])
            writer.writerow(["Points Possible", "", "", "", ""] + [f"{a.max_score:g}" for a in assignments])
            for student in students:
                name = ", ".join(n for n in (student.last_name, student.first_name) if n) or student.id
                scores = []
                for assignment in assignments:
                    try:
                        submission = gradebook.find_submission(assignment.name, student.id)
                    except MissingEntry:
                        scores.append("0")
                        continue
                    if submission.needs_manual_grade:
                        self.pending += 1
                        scores.append("")
                    else:
                        scores.append(f"{max(0.0, submission.score - submission.late_submission_penalty):g}")
                writer.writerow([name, student.lms_user_id or "", student.id, student.email or "", ""] + scores)


def export(root: Path, to: Path, fmt: str = "nbgrader") -> str:
    """Write `to` from `root`'s gradebook (its own nbgrader_config.py read); a one-line summary."""
    from nbgrader.apps.exportapp import ExportApp
    from nbgrader.coursedir import CourseDirectory

    from autograder.course_root import course_config
    from autograder.build import tools_on_path
    from course.quiet import no_stderr

    if fmt not in FORMATS:
        raise CourseError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    config = course_config(root)
    course = CourseDirectory(config=config)
    database = course.db_url.removeprefix("sqlite:///")
    if course.db_url.startswith("sqlite:///") and not Path(database).is_file():
        raise CourseError(f"{root}: no gradebook ({database}); grade into it first with course grade --out {root}")
    if not to.parent.is_dir():
        raise CourseError(f"--to {to}: no folder {to.parent}")
    config.ExportPlugin.to = str(to)
    if fmt == "canvas":
        config.ExportApp.plugin_class = CanvasCsvExportPlugin
    app = ExportApp(config=config)
    app.coursedir = course
    app.init_plugin()
    with tools_on_path(), no_stderr(), Gradebook(course.db_url, course.course_id) as gradebook:
        app.plugin_inst.export(gradebook)
        size = f"{len(gradebook.assignments)} lessons x {len(gradebook.students)} students"
    pending = getattr(app.plugin_inst, "pending", 0)
    return f"wrote {to}: {size}" + (f"; {pending} submissions await manual grading, left blank" if pending else "")
