"""Kernels forked by a worker slot's zygote (autograder.zygote): as jailed as a kernel started alone,
and nothing passes from one student's kernel to the next (files, processes, privileges)."""

from __future__ import annotations

import json
import os
import select
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import sandbox
from autograder.execute import SandboxedExecute
from autograder.forked_kernel import Zygote, lesson_imports
from autograder.worker import Task, _slot_task_folder, start_zygote
from conftest import ROOT
from course.notebooks import QUIET_KERNEL_ARGS, read_notebook

SLOT = 5  # the jail's user is sandbox.UID_BASE + SLOT
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None,
                                reason="a zygote serves only a grader that runs as root, with bubblewrap")


def task(slot_folder: Path, preload: list[str]) -> Task:
    return Task("09-rag-vs-fine-tuning", "s", "", "", "", SLOT, asdict(sandbox.Limits(tmp_size=16 * 2**20)), [],
                str(slot_folder), preload)


@pytest.fixture(scope="module")
def zygote():
    folder = Path(tempfile.mkdtemp(prefix="course-slot-", dir="/tmp"))  # short: ipc socket paths
    try:
        started = start_zygote(task(folder, ["torch"]))
        assert started is not None, (folder / "zygote.log").read_text()
        yield started
        started.stop()
    finally:
        shutil.rmtree(folder)


def run(zygote: Zygote, *cells: str, alone: bool = False, cell_timeout: int | None = None) -> list[str]:
    """Run `cells` in one kernel from `zygote` (alone: in a jail of its own, in the zygote's slot folder); each
    cell's printed text or error, in order. With `cell_timeout`, as the grader runs them (`SandboxedExecute`)."""
    work, runtime = _slot_task_folder(zygote.folder)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
    sandbox.use(sandbox.Jail(sandbox.Limits(tmp_size=16 * 2**20), workdir=work, runtime_dir=runtime,
                             uid=sandbox.UID_BASE + SLOT, zygote=None if alone else zygote))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    try:
        if cell_timeout is None:
            NotebookClient(nb, timeout=60, kernel_name="python3", kernel_manager_class=sandbox.SandboxKernelManager,
                           extra_arguments=QUIET_KERNEL_ARGS, allow_errors=True).execute(cwd=str(work))
        else:
            SandboxedExecute(timeout=cell_timeout, kernel_name="python3", extra_arguments=QUIET_KERNEL_ARGS
                             ).preprocess(nb, {"metadata": {"path": str(work)}})
    finally:
        sandbox.use(None)
    return ["".join(o.get("text", "") if o.output_type == "stream" else f"{o.get('ename')}: {o.get('evalue')}"
                    for o in c.outputs if o.output_type in ("stream", "error")).strip() for c in nb.cells]


def processes_of(uid: int) -> list[int]:
    """Host process ids whose real user id is `uid`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uids = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uids.split()[1]) == uid:
            found.append(int(status.parent.name))
    return found


def gone(uid: int, within: float) -> bool:
    """Whether no process of `uid` is left within `within` seconds (an exited kernel stays a zombie until reaped)."""
    deadline = time.monotonic() + within
    while processes_of(uid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_kernel_runs_as_the_slot_user_with_no_privileges(zygote):
    uid, preloaded, caps, setuid = run(
        zygote,
        "import os, sys\nprint(os.getuid(), os.getgid(), os.getgroups(), os.getpid())",
        "print('torch' in sys.modules)",
        "status = dict(line.split(':\\t') for line in open('/proc/self/status').read().splitlines()\n"
        "              if ':\\t' in line)\n"
        "print({k: status[k] for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs')})",
        "os.setuid(0)")
    assert uid == f"{sandbox.UID_BASE + SLOT} {sandbox.UID_BASE + SLOT} [] 1"  # first process of its namespace
    assert preloaded == "True"  # imported once, by the zygote
    assert caps == str({k: "0000000000000000" for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
                       | {"NoNewPrivs": "1"})
    assert setuid.startswith("PermissionError")


def test_nothing_passes_from_one_kernel_to_the_next(zygote):
    left = run(zygote,
               "import os, subprocess\n"
               "for folder in ('/tmp', '/dev/shm', '.'):\n"
               "    open(os.path.join(folder, 'answers.txt'), 'w').write('42')\n"
               "spy = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
               "print(spy.pid)")
    assert left[0].isdigit(), left  # the sleeper started
    seen = run(zygote,
               "import os\nprint([os.listdir(f) for f in ('/tmp', '/dev/shm', '.')])",
               "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
               "print(os.listdir(os.path.dirname(os.path.dirname(os.getcwd()))))")
    files, pids, slot = seen
    assert "answers.txt" not in files and files.endswith("[]]"), files  # /tmp holds only IPython's folder
    assert pids == "[1]"  # the sleeper left by the first kernel is gone; no other process is visible
    assert slot.startswith("PermissionError")  # the slot's folder of task folders cannot be listed
    assert gone(sandbox.UID_BASE + SLOT, within=5)  # on the host too, nothing of the slot's user is left


def test_a_kernel_cannot_reach_the_zygote_or_the_network(zygote):
    killed, network = run(zygote,
                          "import os, signal\nos.kill(-1, signal.SIGKILL)  # every process it may signal",
                          "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=3)")
    assert killed.startswith("ProcessLookupError")  # there is none: the zygote is another user, out of sight
    assert network.startswith("OSError") and "unreachable" in network
    assert zygote.process.poll() is None
    assert run(zygote, "print(6 * 7)") == ["42"]


@pytest.mark.parametrize("alone", [False, True], ids=["forked", "alone"])
def test_a_cell_past_its_limit_leaves_no_process_running(zygote, alone):
    # the process the cell started ignores the interrupt; before, it spun on the kernel's cores for the rest of
    # the notebook (the corpus's fork bomb: 246 such processes, and the cells after it ran 20 s late)
    spun, ended = run(zygote,
                      "import os, signal, time\nchild = os.fork()\nif child == 0:\n"
                      "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n"
                      "time.sleep(600)",
                      "print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))", alone=alone, cell_timeout=3)
    assert spun.endswith("CellTimeoutError:"), spun
    assert ended == "-9", ended  # killed, while the kernel goes on


def test_a_kernel_dies_when_its_task_does(zygote):
    work, runtime = _slot_task_folder(zygote.folder)
    os.chown(runtime, sandbox.UID_BASE + SLOT, sandbox.UID_BASE + SLOT)
    kernel = zygote.spawn([sys.executable, "-m", "ipykernel_launcher", "-f", str(runtime / "kernel.json")],
                          sandbox.Jail(sandbox.Limits(), work, runtime).env(dict(os.environ)), work,
                          sandbox.UID_BASE + SLOT, 2**20)
    assert kernel.poll() is None
    kernel.conn.close()  # what a worker killed at its time limit leaves behind
    assert select.select([kernel.pidfd], [], [], 15)[0], "the kernel outlived its task"
    assert gone(sandbox.UID_BASE + SLOT, within=5)  # its go-between reaps it: no zombie stays behind


def test_a_zygote_with_a_thread_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # numpy's OpenBLAS starts its threads when it is imported
    folder = Path(tempfile.mkdtemp(prefix="course-slot-", dir="/tmp"))
    try:
        jail = sandbox.Jail(sandbox.Limits(), workdir=folder, runtime_dir=folder, uid=sandbox.UID_BASE + SLOT)
        zygote, why = Zygote.start(jail, ["torch"], tmp_path / "zygote.log")
    finally:
        shutil.rmtree(folder)
    assert zygote is None and why.endswith(" threads after the imports") and int(why.split()[0]) >= 2, why


def test_the_zygote_imports_what_the_lesson_and_its_helpers_import():
    modules = lesson_imports(read_notebook(ROOT / "solutions" / "09-rag-vs-fine-tuning" / "exercise.ipynb"))
    assert {"torch", "course.lessons.rag_vs_fine_tuning", "course.models"} <= set(modules)
    assert "sentence_transformers" in modules  # imported inside a function of the lesson's helper
    assert json.loads(json.dumps(modules)) == sorted(modules)


def test_a_kernel_gets_the_threads_its_worker_has(zygote, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the zygote itself imported torch with one
    threads, product = run(zygote, "import torch\nprint(torch.get_num_threads())",
                           "a = torch.ones(256, 256)\nprint(int((a @ a)[0, 0]))")
    assert (threads, product) == ("2", "256")  # an OpenMP pool starts in the fork, and works


def test_a_worker_whose_zygote_died_starts_kernels_in_their_own_jails():
    folder = Path(tempfile.mkdtemp(prefix="course-slot-", dir="/tmp"))
    try:
        zygote = start_zygote(task(folder, []))
        zygote.process.kill()
        zygote.process.wait()
        assert run(zygote, "import os\nprint(os.getuid(), 6 * 7)") == [f"{sandbox.UID_BASE + SLOT} 42"]
    finally:
        shutil.rmtree(folder)
