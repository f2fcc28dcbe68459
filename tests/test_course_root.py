"""Reading an instructor's nbgrader course folder (autograder/course_root.py): its config, deadlines, roster."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from autograder.course_root import Student, course_config, parse_due, read_roster
from course.errors import CourseError


@pytest.fixture
def no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "no-jupyter-config"))


def test_course_config_reads_the_root_renames_legacy_keys_and_leaves_the_cwd(tmp_path, no_user_config):
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.NbGrader.course_id = "llm-course"\n'
                                            'c.LateSubmissionPlugin.penalty_method = "zero"\n')
    cwd = os.getcwd()
    config = course_config(root)
    from nbgrader.coursedir import CourseDirectory

    course = CourseDirectory(config=config)
    assert (course.course_id, course.root) == ("llm-course", str(root)), "NbGrader.course_id is nbgrader's old name"
    assert config.LateSubmissionPlugin.penalty_method == "zero"
    assert course.format_path(course.submitted_directory, "alice", "09-x") == str(root / "submitted/alice/09-x")
    assert os.getcwd() == cwd


def test_a_root_without_config_is_nbgraders_default_and_a_broken_one_fails_in_one_line(tmp_path, no_user_config):
    from nbgrader.coursedir import CourseDirectory

    assert CourseDirectory(config=course_config(tmp_path)).course_id == ""
    (tmp_path / "nbgrader_config.py").write_text("c = get_config(\nc.x = 1\n")
    with pytest.raises(CourseError, match=r"nbgrader_config.py: SyntaxError") as error:
        course_config(tmp_path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("text, utc", [("2024-03-01 23:59:00 UTC", datetime(2024, 3, 1, 23, 59)),
                                       ("2024-03-01 17:59 America/Chicago", datetime(2024, 3, 1, 23, 59)),
                                       ("2024-03-01T17:59:00-06:00", datetime(2024, 3, 1, 23, 59)),
                                       ("2024-03-01 23:59", datetime(2024, 3, 1, 23, 59))])
def test_parse_due_gives_naive_utc_as_nbgrader_stores_it(text, utc):
    assert parse_due(text) == utc


@pytest.mark.parametrize("text, message", [("2024-03-01 23:59 PST", "unknown time zone 'PST'"),
                                           ("next friday", "is not a date and time")])
def test_a_due_date_nbgrader_would_misread_is_refused(text, message):
    with pytest.raises(CourseError, match=message):
        parse_due(text)


def test_roster_headers_are_read_as_nbgrader_and_lms_exports_write_them(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffStudent ID,First Name,Last Name,Email,Section\n"
                      "alice,Alice,Liddell,alice@example.org,A\n\n"
                      "bob,,Builder,,B\n")
    assert read_roster(roster) == [Student("alice", "Alice", "Liddell", "alice@example.org"),
                                   Student("bob", None, "Builder", None)]


@pytest.mark.parametrize("text, message", [("name,email\nalice,a@x\n", "no id column"),
                                           ("id,email\nalice,a@x\nalice,b@x\n", "line 3: student alice is listed "
                                                                                "twice"),
                                           ("id,email\n,a@x\n", "line 2: no student id"),
                                           ("", "the file is empty")])
def test_a_bad_roster_fails_in_one_line(tmp_path, text, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    with pytest.raises(CourseError, match=message):
        read_roster(roster)
    with pytest.raises(CourseError, match="No such file"):
        read_roster(tmp_path / "missing.csv")


@pytest.fixture
def gradebook(tmp_path, no_user_config, monkeypatch):
    """A course root whose gradebook holds two lessons: alice graded in both (09 late, with a penalty),
    bob in 09 with a cell that awaits manual grading, carol in neither."""
    from nbgrader.api import Gradebook

    from autograder.build import tools_on_path

    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "llm-course"\n')
    with tools_on_path(), Gradebook(f"sqlite:///{root / 'gradebook.db'}", "llm-course") as gb:
        for lesson, due, cells in [("09-rag", datetime(2024, 3, 8), {"t1": 2, "essay": 3}),
                                   ("02-soft", datetime(2024, 3, 1), {"t1": 4})]:
            gb.update_or_create_assignment(lesson, duedate=due)
            gb.update_or_create_notebook("exercise", lesson)
            for cell, points in cells.items():
                gb.update_or_create_grade_cell(cell, "exercise", lesson, max_score=points, cell_type="code")
        gb.update_or_create_student("alice", first_name="Alice", last_name="Liddell", email="alice@example.org")
        gb.update_or_create_student("bob")
        gb.update_or_create_student("carol", first_name="Carol")
        scores = {("alice", "09-rag"): {"t1": 2, "essay": 3}, ("alice", "02-soft"): {"t1": 3},
                  ("bob", "09-rag"): {"t1": 1, "essay": None}}
        for (student, lesson), cells in scores.items():
            submission = gb.add_submission(lesson, student)
            for grade in submission.notebooks[0].grades:
                grade.auto_score = cells[grade.name]
                grade.needs_manual_grade = grade.auto_score is None
            if (student, lesson) == ("alice", "09-rag"):
                submission.notebooks[0].late_submission_penalty = 1.5
        gb.db.commit()
    return root


def test_export_writes_nbgraders_csv_for_every_lesson_and_student(gradebook, tmp_path):
    from autograder.export import export

    summary = export(gradebook, tmp_path / "grades.csv")
    assert summary == f"wrote {tmp_path / 'grades.csv'}: 2 lessons x 3 students"
    import csv

    rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert len(rows) == 6
    assert (rows["09-rag", "alice"]["raw_score"], rows["09-rag", "alice"]["score"]) == ("5.0", "3.5")
    assert rows["02-soft", "carol"]["score"] == "0.0" and rows["02-soft", "alice"]["last_name"] == "Liddell"


def test_canvas_export_has_the_import_columns_points_row_and_blank_pending_scores(gradebook, tmp_path):
    from autograder.export import export

    summary = export(gradebook, tmp_path / "canvas.csv", "canvas")
    assert summary.endswith("; 1 submissions await manual grading, left blank")
    import csv

    header, points, *students = list(csv.reader(open(tmp_path / "canvas.csv")))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "02-soft", "09-rag"], "by due date"
    assert points == ["Points Possible", "", "", "", "", "4", "5"]
    assert students == [["Liddell, Alice", "", "alice", "alice@example.org", "", "3", "3.5"],
                        ["bob", "", "bob", "", "", "0", ""], ["Carol", "", "carol", "", "", "0", "0"]]


def test_export_without_a_gradebook_fails_in_one_line(tmp_path, no_user_config):
    from conftest import run_course

    done = run_course("export", tmp_path, "--to", tmp_path / "grades.csv")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (f"course export: error: {tmp_path}: no gradebook ({tmp_path / 'gradebook.db'}); "
                                   f"grade into it first with course grade --out {tmp_path}")
    assert not (tmp_path / "grades.csv").exists()


def test_nbgrader_export_runs_the_canvas_plugin_as_course_export_does(gradebook, tmp_path):
    import subprocess
    import sys

    from autograder.export import export
    from autograder.build import tools_on_path
    from conftest import ROOT

    export(gradebook, tmp_path / "ours.csv", "canvas")
    with tools_on_path():
        done = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(tmp_path / "theirs.csv"),
                               "--exporter=autograder.export.CanvasCsvExportPlugin"], cwd=gradebook,
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "theirs.csv").read_text() == (tmp_path / "ours.csv").read_text()


def test_a_roster_puts_names_in_the_gradebook_and_a_later_one_updates_them(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.batch import Course, add_roster
    from autograder.build import tools_on_path

    course = Course(tmp_path / "exercise.ipynb", "", tmp_path / "template.db", f"sqlite:///{tmp_path / 'gradebook.db'}",
                    "llm-course")
    with tools_on_path():
        add_roster(course, [Student("alice", "Alice", "Liddell", "alice@example.org"), Student("bob")])
        add_roster(course, [Student("bob", last_name="Builder")])
        with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
            names = {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}
    assert names == {"alice": ("Alice", "Liddell", "alice@example.org"), "bob": (None, "Builder", None)}


def test_grade_with_a_missing_roster_fails_in_one_line_before_grading(tmp_path):
    from conftest import run_course

    done = run_course("grade", "09-rag-vs-fine-tuning", tmp_path, "--out", tmp_path / "out",
                      "--roster", tmp_path / "roster.csv")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"course grade: error: --roster {tmp_path / 'roster.csv'}: No such file or directory"
    assert not (tmp_path / "out").exists()


LESSONS = ("09-rag-vs-fine-tuning", "02-soft-prompting")


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    """An instructor's course folder (its own nbgrader_config.py, nbgrader's older course-id name) whose
    submitted/ holds two lessons as nbgrader collect leaves them; both graded into it by `course grade`."""
    import shutil

    from conftest import ROOT, run_course

    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.NbGrader.course_id = "llm-course"\n')
    for student, lessons in {"alice": LESSONS, "bob": LESSONS[:1], "carol": LESSONS[1:]}.items():
        for lesson in lessons:
            folder = root / "submitted" / student / lesson
            folder.mkdir(parents=True)
            shutil.copy(ROOT / "lessons" / lesson / "exercise.ipynb", folder / "exercise.ipynb")
            (folder / "timestamp.txt").write_text("2024-03-01 12:00:00.000000 UTC")
    runs = [run_course("grade", lesson, root / "submitted", "--out", root, "-j", "2") for lesson in LESSONS]
    rerun = run_course("grade", LESSONS[0], root / "submitted", "--out", root)
    return root, runs, rerun


def test_two_lessons_are_graded_into_one_course_folder(shared_root):
    import csv

    from nbgrader.api import Gradebook

    from autograder.build import tools_on_path
    from conftest import ROOT

    root, runs, rerun = shared_root
    for done in runs:
        assert done.returncode == 0, done.stderr[-3000:]
    with tools_on_path(), Gradebook(f"sqlite:///{root / 'gradebook.db'}", "llm-course") as gb:
        assert sorted(a.name for a in gb.assignments) == sorted(LESSONS)
        assert {a.course_id for a in gb.assignments} == {"llm-course"}
        submitted = sorted((a.name, s.student.id) for a in gb.assignments for s in a.submissions)
    assert submitted == sorted([(LESSONS[0], "alice"), (LESSONS[0], "bob"), (LESSONS[1], "alice"),
                                (LESSONS[1], "carol")]), "a student is graded only in the lessons submitted"
    rows = list(csv.DictReader(open(root / "grades.csv")))
    assert {(r["lesson"], r["student"]) for r in rows} == set(submitted)
    for student, lesson in [("alice", LESSONS[0]), ("carol", LESSONS[1])]:
        kept = root / "submitted" / student / lesson
        assert (kept / "exercise.ipynb").read_bytes() == (ROOT / "lessons" / lesson / "exercise.ipynb").read_bytes(), \
            "what nbgrader collect left stays"
        assert (kept / "timestamp.txt").is_file() and (root / "feedback" / student / lesson / "exercise.html").is_file()


def test_a_second_run_on_the_course_folder_grades_nothing_new(shared_root):
    _, _, rerun = shared_root
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stdout.count("already graded") == 2 and "[1/" not in rerun.stdout


MANUAL_LESSON = "09-rag-vs-fine-tuning"


def _manual_cells(answer: str) -> list[dict]:
    """What an instructor adds: a manually graded free-text answer (2 points) and a manually graded task (1)."""
    return [{"cell_type": "markdown", "id": "reflection", "source": answer,
             "metadata": {"nbgrader": {"grade": True, "grade_id": "reflection", "locked": False, "points": 2,
                                       "schema_version": 3, "solution": True, "task": False}}},
            {"cell_type": "markdown", "id": "task-plot", "source": "Plot recall@k for k = 1..10 and discuss it.",
             "metadata": {"nbgrader": {"grade": False, "grade_id": "task-plot", "locked": True, "points": 1,
                                       "schema_version": 3, "solution": False, "task": True}}}]


@pytest.fixture(scope="module")
def extended_root(tmp_path_factory):
    """A course folder whose instructor added a free-text question and a task to lesson 09's source; one
    student's submission answers it; graded, then marked by hand (as formgrader does), then graded again."""
    import json

    from nbgrader.api import Gradebook

    from autograder.build import tools_on_path
    from conftest import ROOT, run_course

    root = tmp_path_factory.mktemp("extended")
    source = json.loads((ROOT / "solutions" / MANUAL_LESSON / "exercise.ipynb").read_text())
    source["cells"] += _manual_cells("### BEGIN SOLUTION\nChunks that cut a fact in two.\n### END SOLUTION")
    (root / "source" / MANUAL_LESSON).mkdir(parents=True)
    (root / "source" / MANUAL_LESSON / "exercise.ipynb").write_text(json.dumps(source))
    submission = json.loads((ROOT / "lessons" / MANUAL_LESSON / "exercise.ipynb").read_text())
    submission["cells"] += _manual_cells("Retrieval misses a fact split across two chunks.")
    (root / "submitted" / "alice" / MANUAL_LESSON).mkdir(parents=True)
    (root / "submitted" / "alice" / MANUAL_LESSON / "exercise.ipynb").write_text(json.dumps(submission))
    first = run_course("grade", MANUAL_LESSON, root / "submitted", "--out", root)
    with tools_on_path(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        pending = gb.find_submission(MANUAL_LESSON, "alice").needs_manual_grade
        gb.find_grade("reflection", "exercise", MANUAL_LESSON, "alice").manual_score = 1.5
        gb.db.commit()
    again = run_course("grade", MANUAL_LESSON, root / "submitted", "--out", root, "--regrade")
    return root, first, pending, again


def test_manually_graded_cells_are_left_for_formgrader_and_counted(extended_root):
    import csv

    root, first, pending, _ = extended_root
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 cells of 1 submissions await manual grading" in first.stdout
    assert pending, "formgrader lists the submission as needing manual grading"
    rows = {r["cell"]: r for r in csv.DictReader(open(root / "grades.csv"))}
    assert (rows["reflection"]["points"], rows["reflection"]["max_points"]) == ("", "2")
    assert (rows["task-plot"]["points"], rows["task-plot"]["max_points"]) == ("", "1")
    assert rows["reflection"]["message"] == "awaits manual grading in formgrader"
    assert all(r["points"] != "" for name, r in rows.items() if name not in ("reflection", "task-plot"))


def test_a_regrade_keeps_the_score_given_in_formgrader(extended_root):
    from nbgrader.api import Gradebook

    from autograder.build import tools_on_path

    root, _, _, again = extended_root
    assert again.returncode == 0, again.stderr[-3000:]
    with tools_on_path(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grade = gb.find_grade("reflection", "exercise", MANUAL_LESSON, "alice")
        assert grade.manual_score == 1.5 and grade.score == 1.5
        task = gb.find_grade("task-plot", "exercise", MANUAL_LESSON, "alice")
        assert task.needs_manual_grade and task.auto_score is None


def test_a_course_source_that_changes_the_lessons_cells_is_refused(tmp_path):
    import json

    from conftest import ROOT, run_course

    source = json.loads((ROOT / "solutions" / MANUAL_LESSON / "exercise.ipynb").read_text())
    test = next(c for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("grade"))
    test["source"] = "assert True"
    (tmp_path / "source" / MANUAL_LESSON).mkdir(parents=True)
    kept = tmp_path / "source" / MANUAL_LESSON / "exercise.ipynb"
    kept.write_text(json.dumps(source))
    (tmp_path / "submitted" / "alice").mkdir(parents=True)
    done = run_course("grade", MANUAL_LESSON, tmp_path / "submitted", "--out", tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == (f"course grade: error: {kept} changes or lacks cells of "
                                                           f"{MANUAL_LESSON}'s graded source: grade into a new --out")
    assert not (tmp_path / "gradebook.db").exists()


@pytest.fixture(scope="module")
def late_root(tmp_path_factory):
    """Lesson 09's reference solution submitted by alice before the due date and by bob a day after, graded under
    nbgrader's zero-credit late policy; then graded again with the due date moved past both."""
    import shutil

    from conftest import ROOT, run_course

    root = tmp_path_factory.mktemp("late")
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    for student, stamp in {"alice": "2024-03-01 10:00:00.000000 UTC", "bob": "2024-03-02 12:00:00.000000 UTC"}.items():
        folder = root / "submitted" / student / MANUAL_LESSON
        folder.mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / MANUAL_LESSON / "exercise.ipynb", folder / "exercise.ipynb")
        (folder / "timestamp.txt").write_text(stamp)
    first = run_course("grade", MANUAL_LESSON, root / "submitted", "--out", root, "-j", "2",
                       "--due", "2024-03-01 12:00 UTC")
    rows = (root / "grades.csv").read_text()
    exported = run_course("export", root, "--to", root / "export.csv")
    assert exported.returncode == 0, exported.stderr[-2000:]
    rows = (rows, (root / "export.csv").read_text())
    moved = run_course("grade", MANUAL_LESSON, root / "submitted", "--out", root, "--due", "2024-03-03 12:00 UTC")
    return root, first, rows, moved


def test_a_late_submission_is_penalised_by_the_courses_plugin(late_root):
    import csv
    import io

    root, first, (rows, exported), _ = late_root
    assert first.returncode == 0, first.stderr[-3000:]
    from test_grading import LESSON_POINTS

    full = sum(LESSON_POINTS[MANUAL_LESSON].values())
    table = list(csv.DictReader(io.StringIO(rows)))
    late = [r for r in table if r["cell"] == "late penalty"]
    assert [(r["student"], r["points"]) for r in late] == [("bob", f"{-full:g}")], "zero credit: all points off"
    assert "24.0 h after the due date" in late[0]["message"]
    assert sum(float(r["points"]) for r in table if r["student"] == "alice") == full
    assert sum(float(r["points"]) for r in table if r["student"] == "bob") == 0
    assert f"bob: 0 / {full:g}" in first.stdout and "24.0 h late" in first.stdout
    export = {r["student_id"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert (float(export["bob"]["raw_score"]), float(export["bob"]["late_submission_penalty"]),
            float(export["bob"]["score"])) == (full, full, 0.0), "nbgrader's exporter sees the penalty"
    assert float(export["alice"]["score"]) == full


def test_moving_the_due_date_reapplies_penalties_without_grading_again(late_root):
    from nbgrader.api import Gradebook

    from autograder.build import tools_on_path

    root, _, _, moved = late_root
    assert moved.returncode == 0, moved.stderr[-3000:]
    assert moved.stdout.count("already graded") == 2 and "[1/" not in moved.stdout
    assert "late penalty" not in (root / "grades.csv").read_text()
    with tools_on_path(), Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        bob = gb.find_submission(MANUAL_LESSON, "bob")
        assert str(bob.timestamp) == "2024-03-02 12:00:00" and str(bob.duedate) == "2024-03-03 12:00:00"
        assert bob.total_seconds_late == 0 and all(not nb.late_submission_penalty for nb in bob.notebooks)


def test_a_bad_due_date_fails_in_one_line_before_grading(tmp_path):
    from conftest import run_course

    done = run_course("grade", MANUAL_LESSON, tmp_path, "--out", tmp_path / "out", "--due", "next friday-ish")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("course grade: error: --due 'next friday-ish' is not a date and time; write e.g. "
                                   "'2024-03-01 23:59:00 UTC'")
    assert not (tmp_path / "out").exists()
