"""The grading jail and the feedback lines, without a kernel (tests/test_hostile_submissions.py runs them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from nbformat import NotebookNode

from autograder import sandbox
from autograder.feedback import checks_of, explain
from conftest import ROOT


def _jail(tmp_path: Path, uid: int | None = None) -> sandbox.Jail:
    work, runtime = tmp_path / "work", tmp_path / "rt"
    work.mkdir()
    runtime.mkdir()
    return sandbox.Jail(sandbox.Limits(), workdir=work, runtime_dir=runtime, uid=uid)


def test_the_jail_shows_the_python_install_but_not_the_course_repository(tmp_path):
    command = _jail(tmp_path).command()
    binds = {command[i + 1] for i, arg in enumerate(command) if arg in ("--ro-bind", "--bind")}
    assert str(ROOT / "course") in binds and str(tmp_path / "work") in binds
    assert not any(Path(b) in (ROOT, ROOT / "solutions", ROOT / "autograder") for b in binds)
    assert "--unshare-all" in command and "--die-with-parent" in command
    assert "--as=10737418240" in command and "--nproc=256" in command


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (run.py installs it as root)")
def test_inside_the_jail_the_repository_and_the_network_are_gone(tmp_path):
    probe = ("import os, socket\n"
             f"print(os.path.exists({str(ROOT / 'solutions')!r}), os.path.exists({str(ROOT / 'course')!r}))\n"
             "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\nexcept OSError as e:\n"
             "    print(type(e).__name__)\n"
             "open('written.txt', 'w').write('ok')\n")
    jail = _jail(tmp_path, uid=sandbox.UID_BASE + 7 if shutil.os.geteuid() == 0 else None)
    jail.hand_over()
    import sys

    done = subprocess.run([*jail.command(), sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "ConnectionRefusedError"], done.stdout
    assert (tmp_path / "work" / "written.txt").read_text() == "ok"


def test_the_kernel_keeps_no_secret_from_the_environment(tmp_path):
    env = _jail(tmp_path).env({"COURSE_PROFILE": "smoke", "NBGRADER_EXECUTION": "autograde",
                               "AWS_SECRET_ACCESS_KEY": "x", "JUPYTERHUB_API_TOKEN": "y", "HOME": "/root"})
    assert env["COURSE_PROFILE"] == "smoke" and env["NBGRADER_EXECUTION"] == "autograde"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "JUPYTERHUB_API_TOKEN" not in env and env["HOME"] == "/tmp"


def test_what_cannot_be_enforced_is_said(monkeypatch):
    assert any("not running as root" in line for line in sandbox.probe(None))
    real = shutil.which
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name == "bwrap" else real(name))
    assert any("bubblewrap (bwrap) is not installed" in line for line in sandbox.probe(0))


def _test_cell(source: str, *outputs: dict) -> NotebookNode:
    return NotebookNode(cell_type="code", source=source, outputs=[NotebookNode(o) for o in outputs],
                        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}})


SOURCE = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\n# checks: f on random inputs\nassert f(7) == 14\n### END HIDDEN TESTS"


def _error(ename: str, evalue: str, line: int) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue,
            "traceback": [f"\x1b[0;31mCell In[3], line {line}\x1b[0m", f"{ename}: {evalue}"]}


def test_a_public_failure_is_shown_and_a_hidden_one_only_named():
    assert explain(_test_cell(SOURCE)) == "ok"
    assert explain(_test_cell(SOURCE, _error("AssertionError", "f(1) was 3", 1))) == "AssertionError: f(1) was 3"
    hidden = explain(_test_cell(SOURCE, _error("AssertionError", "expected 14", 4)))
    assert hidden == "hidden test failed (AssertionError): checks f on random inputs" and "14" not in hidden
    assert checks_of("assert True") == "the hidden tests"


def test_stderr_and_timeouts_are_explained():
    stderr = {"output_type": "stream", "name": "stderr", "text": "warning: slow\n"}
    assert explain(_test_cell(SOURCE, stderr)).startswith("wrote to stderr")
    timeout = {"output_type": "error", "ename": "CellTimeoutError", "evalue": "", "traceback": []}
    assert "time limit" in explain(_test_cell(SOURCE, _error("KeyboardInterrupt", "", 4), timeout))
