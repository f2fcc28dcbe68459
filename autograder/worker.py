"""Grade submissions, each in a process of its own: `python -m autograder.worker` (tasks on stdin).

The worker is trusted grading code; only the kernel it starts runs student code, in the jail.
Each submission is graded in a private nbgrader folder (a copy of the assignment's gradebook,
the submission): nbgrader's autograde with the hardened Execute step, then generate_feedback
with the hidden tests removed; the result goes to result.json. The parent (`autograder.batch`)
copies the results into the class's gradebook, so a worker that is killed leaves nothing
half-written there. Grading as root, a worker starts one zygote with its first task, and the
kernels of all its tasks are forked by it (`autograder.forked_kernel`).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.lessons import GRADED_NOTEBOOK


MANUAL = "awaits manual grading in formgrader"  # the message of a cell nbgrader leaves to the instructor


@dataclass(frozen=True)
class Task:
    """What the parent asks: grade `submission` of `student` for `lesson`."""

    lesson: str
    student: str
    submission: str
    template: str  # the assignment's gradebook (hidden tests included), before any student
    workdir: str  # private, empty
    slot: int  # worker slot: with root, the jail's user id is UID_BASE + slot
    limits: dict
    read_only: list[str]  # host folders the kernel may read (the model cache)
    slot_folder: str = ""  # the slot's folder for a zygote's kernels (grading as root); "" for none
    preload: list[str] = field(default_factory=list)  # what the slot's zygote imports: the lesson's modules


def _config(work: Path, task: Task):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput,
                                        DeduplicateIds, GetGrades, IgnorePattern, LimitOutput, OverwriteCells,
                                        OverwriteKernelspec, SaveAutoGrades)

    from autograder.config import nbgrader_config
    from autograder.execute import SandboxedExecute
    from autograder.feedback import HideHiddenFailures
    from autograder.locked import SkipAddedCells

    c = nbgrader_config(work, timeout=task.limits["cell_timeout"])
    c.SandboxedExecute.notebook_timeout = task.limits["notebook_timeout"]
    c.SandboxedExecute.max_output_bytes = task.limits["output"]
    # nbgrader's own lists, with the added cells before a locked cell's test skipped and Execute replaced
    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                          SkipAddedCells, CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.GenerateFeedback.preprocessors = [HideHiddenFailures, ClearHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
    c.ClearHiddenTests.enforce_metadata = False
    return c


def grade(task: Task) -> dict:
    """Autograde and feedback for one submission; the result as a JSON-able dict."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from autograder import sandbox
    from autograder.feedback import add_notes, explain
    from course.notebooks import graded_cells, is_autograded, read_notebook
    from course.quiet import no_stderr

    start = time.perf_counter()
    work = Path(task.workdir)
    shutil.copy(task.template, work / "gradebook.db")
    submitted = work / "submitted" / task.student / task.lesson
    submitted.mkdir(parents=True)
    shutil.copy(task.submission, submitted / GRADED_NOTEBOOK)
    uid = sandbox.UID_BASE + task.slot if os.geteuid() == 0 else None
    if ZYGOTE is None:  # a jail of its own, working in the folder nbgrader executes the notebook in
        kernel_dir, runtime = work / "autograded" / task.student / task.lesson, work / "rt"
    else:  # a folder in the zygote's slot; the zygote removes it before the next kernel
        kernel_dir, runtime = _slot_task_folder(ZYGOTE.folder)
    runtime.mkdir(exist_ok=True)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
    sandbox.use(sandbox.Jail(sandbox.Limits(**task.limits), workdir=kernel_dir, runtime_dir=runtime, uid=uid,
                             read_only=[Path(p) for p in task.read_only], zygote=ZYGOTE))
    api = NbGraderAPI(config=_config(work, task))
    with no_stderr():
        result = api.autograde(task.lesson, task.student, force=True, create=True)
    if not result["success"]:
        from autograder.build import nbgrader_failure

        return {"failure": f"nbgrader autograde failed: {nbgrader_failure(result)}"}
    with no_stderr():
        api.generate_feedback(task.lesson, task.student, force=True)
    graded = work / "autograded" / task.student / task.lesson / GRADED_NOTEBOOK
    executed = read_notebook(graded)
    messages = {c.metadata.nbgrader["grade_id"]: explain(c) if is_autograded(c) else MANUAL
                for c in graded_cells(executed)}
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(Path(GRADED_NOTEBOOK).stem, task.lesson, task.student).grades
        cells = [{"cell": g.name, "points": None if messages[g.name] == MANUAL else float(g.score or 0.0),
                  "max_points": float(g.max_score), "message": messages[g.name]} for g in grades if g.name in messages]
    found = notes(read_notebook(submitted / GRADED_NOTEBOOK), executed)
    feedback = work / "feedback" / task.student / task.lesson / "exercise.html"
    add_notes(feedback, found)
    return {"cells": cells, "notes": found, "autograded": str(graded), "feedback": str(feedback),
            "kernel_peak_rss": sandbox.ACTIVE.peak_rss, "kernel_forked": sandbox.ACTIVE.forked,
            "kernel_cpus": sandbox.ACTIVE.cpus, "kernel_killed": sandbox.ACTIVE.killed,
            "worker_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "seconds": time.perf_counter() - start}


def _slot_task_folder(slot: Path) -> tuple[Path, Path]:
    """(working folder, socket folder) for one kernel, in a folder of the slot that only root can list."""
    import tempfile

    task = Path(tempfile.mkdtemp(dir=slot))
    task.chmod(0o711)
    (task / "work").mkdir()
    (task / "rt").mkdir()
    return task / "work", task / "rt"


def start_zygote(task: Task):
    """The slot's zygote (grading as root, in the jail of the first task's limits), or None, said on stderr."""
    from autograder import sandbox
    from autograder.forked_kernel import Zygote

    if not task.slot_folder or os.geteuid() != 0 or shutil.which("bwrap") is None:
        return None
    folder = Path(task.slot_folder) / "jail"
    folder.mkdir(mode=0o711)
    jail = sandbox.Jail(sandbox.Limits(**task.limits), workdir=folder, runtime_dir=folder,
                        uid=sandbox.UID_BASE + task.slot, read_only=[Path(p) for p in task.read_only])
    zygote, why = Zygote.start(jail, task.preload, Path(task.slot_folder) / "zygote.log")
    if zygote is None:
        print(f"worker {task.slot}: kernels start one jail each (the zygote: {why})", file=sys.stderr, flush=True)
    return zygote


ZYGOTE = None  # this worker slot's zygote, if it has one


def notes(submitted, executed) -> list[str]:
    """What the student should know beyond the test results: edited tests, errors in their own cells."""
    from nbgrader.utils import compute_checksum

    from autograder.execute import TRUNCATED, is_test_cell
    from autograder.locked import is_locked_cell, skipped_cells

    found = []
    theirs = {c.metadata.nbgrader["grade_id"]: c for c in submitted.cells
              if (is_test_cell(c) or is_locked_cell(c)) and "grade_id" in c.metadata.get("nbgrader", {})}
    for cell in executed.cells:
        if is_test_cell(cell):
            name = cell.metadata.nbgrader["grade_id"]
            mine = theirs.get(name)
            if mine is None:
                found.append(f"test cell {name} was deleted: graded with the original")
            elif compute_checksum(mine) != mine.metadata.nbgrader.get("checksum", compute_checksum(mine)):
                found.append(f"test cell {name} was edited: graded with the original")
    for name, mine in theirs.items():
        if is_locked_cell(mine) and compute_checksum(mine) != mine.metadata.nbgrader.get("checksum", compute_checksum(mine)):
            found.append(f"locked cell {name} was edited: graded as written in the lesson")
    skipped = skipped_cells(submitted.cells)
    if skipped:
        found.append(f"cell(s) {', '.join(map(str, skipped))} added before a locked cell's test: not run")
    errors = [(i, o) for i, c in enumerate(executed.cells) if c.cell_type == "code" and not is_test_cell(c)
              for o in c.get("outputs", []) if o.output_type == "error"]
    found += [f"cell {i} raised {o.ename}: {str(o.evalue).splitlines()[0][:150] if o.evalue else ''}".rstrip(": ")
              for i, o in errors[:3]]
    if any(TRUNCATED.format("") in o.get("text", "") for c in executed.cells for o in c.get("outputs", [])):
        found.append("the notebook printed too much: output was cut")
    return found


def _die_with_parent() -> None:
    """Linux: end this worker (and so its jail) if the grading process dies, as bwrap --die-with-parent does."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run(task_file: Path) -> None:
    """Grade the task in `task_file`; the result (or why there is none) goes to result.json beside it."""
    task = Task(**json.loads(task_file.read_text()))
    try:
        result = grade(task)
    except Exception as error:  # a grader bug or a broken machine: reported for this submission only
        result = {"failure": f"grading failed: {type(error).__name__}: {error}"}
    tmp = task_file.with_name("result.json.tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(task_file.with_name("result.json"))


def serve() -> int:
    """Grade the tasks named on stdin ("TASK_FILE<TAB>TIMEOUT_S" lines), each in a forked child.

    Forking from a process that has imported nbgrader once saves each submission the 1-2 s of
    imports a fresh process pays. A child still running at its timeout is killed with its process
    group. Each task is answered with one line on stdout: "ok", or "killed after N s".
    """
    import importlib
    import signal

    for module in ("nbgrader.apps", "nbgrader.api", "autograder.execute", "autograder.feedback", "course.notebooks"):
        importlib.import_module(module)  # once, before the forks
    import nbformat
    from nbconvert import HTMLExporter

    v4 = nbformat.v4  # one page rendered here loads the lexers and Markdown parser every feedback page uses
    HTMLExporter().from_notebook_node(v4.new_notebook(cells=[v4.new_markdown_cell("*a*"), v4.new_code_cell("a = 1")]))
    _die_with_parent()
    global ZYGOTE
    started = False
    for line in sys.stdin:
        task_file, timeout = line.rstrip("\n").split("\t")
        if not started:  # the first task says the slot, its limits and the lesson's modules
            started = True
            ZYGOTE = start_zygote(Task(**json.loads(Path(task_file).read_text())))
        elif ZYGOTE is not None and ZYGOTE.process.poll() is not None:  # it died: kernels start one jail each
            ZYGOTE = None
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: its own process group, so that a kill reaches what it started
            os.setsid()
            _die_with_parent()
            log = os.open(Path(task_file).with_name("worker.log"), os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(log, 1)  # stdout is the answer pipe: the kernel and the libraries write elsewhere
            os.dup2(log, 2)
            try:
                run(Path(task_file))
            finally:
                os._exit(0)
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() - start > float(timeout):
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                print(f"killed after {time.monotonic() - start:.0f} s", flush=True)
                break
            time.sleep(0.1)
        else:
            print("ok", flush=True)
    return 0


def task_json(task: Task) -> str:
    return json.dumps(asdict(task))


if __name__ == "__main__":
    sys.exit(serve())
