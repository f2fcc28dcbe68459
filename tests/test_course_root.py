"""Reading an instructor's nbgrader course folder (autograder/course_root.py): its config, deadlines, roster."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

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
