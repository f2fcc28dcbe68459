"""The corpus of bad and hostile submissions: each one graded, with its expected score and message.

Every case is a student's notebook for lesson 09 (light to grade): the released notebook with the
reference answers typed in, then one thing done to it. The whole corpus is graded in one
`course grade -j 2` run, the reference among them, so a case that hogs memory, forks or floods
output runs beside others whose scores must not move. It is graded where an instructor's course
keeps it: in the course folder's submitted/, beside a lesson graded before, in one gradebook.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from conftest import COURSE, ROOT, run_course
from test_grading import LESSON_POINTS

LESSON = "09-rag-vs-fine-tuning"
SOLUTION = ROOT / "solutions" / LESSON / "exercise.ipynb"
RELEASED = ROOT / "lessons" / LESSON / "exercise.ipynb"
POINTS = LESSON_POINTS[LESSON]
CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 30, 60
pytestmark = pytest.mark.serial  # the time limits above are sized for a machine that grades nothing else


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def answered() -> dict:
    """The released notebook with the reference answers typed in: what a correct student hands in."""
    answers = {c["metadata"]["nbgrader"]["grade_id"]: _source(c) for c in json.loads(SOLUTION.read_text())["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    nb = json.loads(RELEASED.read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers and cell["metadata"]["nbgrader"].get("solution"):
            cell["source"] = "\n".join(line for line in answers[grade_id].splitlines()
                                       if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return nb


def _find(nb: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def answer(grade_id: str, code: str) -> Callable[[dict], dict]:
    """Replace the student's answer in one solution cell."""
    def make(ctx: dict) -> dict:
        nb = answered()
        nb["cells"][_find(nb, grade_id)]["source"] = code.format(**ctx)
        return nb
    return make


def extra_cell(code: str, after: str | None = None, times: int = 1, then: Callable[[dict], None] | None = None):
    """Add a cell of the student's own after the imports (or after the cell `after`)."""
    def make(ctx: dict) -> dict:
        nb = answered()
        imports = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and c.get("id") != "colab-setup")
        at = _find(nb, after) + 1 if after else imports + 1
        for _ in range(times):
            nb["cells"].insert(at, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                    "source": code.format(**ctx)})
        if then:
            then(nb)
        return nb
    return make


def edited_test(nb: dict) -> None:
    nb["cells"][_find(nb, "recall_at_k")]["source"] = "def recall_at_k(ranked, relevant, k):\n    return 0.0\n"
    nb["cells"][_find(nb, "test_recall_at_k")]["source"] = "assert True"


def deleted_test(nb: dict) -> None:
    nb["cells"][_find(nb, "recall_at_k")]["source"] = "def recall_at_k(ranked, relevant, k):\n    return 0.0\n"
    del nb["cells"][_find(nb, "test_recall_at_k")]


def locked_before(nb: dict, test: str) -> str:
    """The grade id of the last read-only code cell before the test cell `test` (the run it checks)."""
    cells = nb["cells"][:_find(nb, test)]
    return next(c["metadata"]["nbgrader"]["grade_id"] for c in reversed(cells)
                if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("locked"))


def typed_in_results(ctx: dict) -> dict:
    """A cell after the locked retrieval run that overwrites what test_retrieval checks (with values it rejects)."""
    nb = answered()
    return extra_cell("doc_recall = {{1: 2.0, 3: 0.0, 5: 0.0, 10: 0.0}}", after=locked_before(nb, "test_retrieval"))(ctx)


def edited_locked(nb: dict) -> None:
    nb["cells"][_find(nb, locked_before(nb, "test_retrieval"))]["source"] = "ranked = []"


def _edit(change: Callable[[dict], None]) -> Callable[[dict], dict]:
    def make(ctx: dict) -> dict:
        nb = answered()
        change(nb)
        return nb
    return make


# the reference recall_at_k, used by the cheats below only when they reach what the jail hides
CHEAT_RECALL = """
    shares = [len(set(r[:k]) & set(rel)) / len(rel) for r, rel in zip(ranked, relevant) if rel]
    return sum(shares) / len(shares) if shares else 0.0
"""
HARD_CODED = """def recall_at_k(ranked, relevant, k):
    if len(ranked) != len(relevant):
        raise ValueError("different lengths")
    if ranked in ([[1, 1, 1]], [[1], [2]]):
        return {{1: 1.0, 3: 0.5}}[k]
    return {{1: 0.0, 2: 1 / 3, 3: 0.5}}[k]
"""
READ_OUTSIDE = """import os

def recall_at_k(ranked, relevant, k):
    secrets = [{solution!r}, {gradebook!r}, "../../../gradebook.db", "../../../source/{lesson}/exercise.ipynb"]
    if not any(os.path.exists(p) for p in secrets):
        raise FileNotFoundError("no file outside my folder is visible")
""" + CHEAT_RECALL
NETWORK = """import socket

def categorize_known(greedy_correct, sampled_correct):
    socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"let me out")
    return ["HighlyKnown" if all(g) else "MaybeKnown" if any(g) else "WeaklyKnown" if any(s) else "Unknown"
            for g, s in zip(greedy_correct, sampled_correct)]
"""
WRITE_OTHERS = """for path in [{other!r}, {other_out!r}]:
    try:
        with open(path, "a") as f:
            f.write("overwritten")
    except OSError as error:
        print("refused:", type(error).__name__)
open({other!r}, "a").write("overwritten")
"""
FULL = dict(POINTS)


def scores(**zero: int) -> dict:
    """POINTS with the named cells at the given points."""
    return {**POINTS, **zero}


@dataclass(frozen=True)
class Case:
    """A submission, the scores it must get, and a piece of the message that must explain them."""

    name: str
    make: Callable[[dict], dict | bytes | str]
    expected: dict
    where: str  # a graded cell's id, "notes" or "failure"
    message: str | tuple[str, ...]  # what the message must contain (one of them)
    filename: str = "exercise.ipynb"


CASES = [
    Case("reference", lambda ctx: answered(), FULL, "test_retrieval", "ok"),
    Case("blank", lambda ctx: json.loads(RELEASED.read_text()), {c: 0 for c in POINTS}, "test_chunk_text",
         "NotImplementedError"),
    Case("syntax_error", answer("recall_at_k", "def recall_at_k(ranked, relevant, k)\n    return 0.0\n"),
         scores(test_recall_at_k=0, test_retrieval=0), "notes", "raised SyntaxError"),
    Case("exception", answer("chunk_text", "def chunk_text(text, max_tokens, overlap, tokenizer):\n"
                                           "    raise RuntimeError('boom')\n"),
         scores(test_chunk_text=0, test_retrieval=0), "test_chunk_text", "RuntimeError: boom"),
    Case("hard_coded_answers", answer("recall_at_k", HARD_CODED),
         scores(test_recall_at_k=0, test_retrieval=0), "test_recall_at_k",
         "hidden test failed (KeyError): checks recall_at_k on 20 random rankings"),
    Case("infinite_loop", answer("categorize_known", "def categorize_known(greedy_correct, sampled_correct):\n"
                                                     "    while True:\n        pass\n"),
         scores(test_categorize_known=0), "test_categorize_known", "ran past its time limit"),
    Case("sys_exit", answer("build_rag_prompt", "import sys\n\ndef build_rag_prompt(question, passages):\n"
                                                "    sys.exit(3)\n"),
         scores(test_build_rag_prompt=0), "test_build_rag_prompt", "SystemExit"),
    Case("os_exit", extra_cell("import os\nos._exit(1)", after="test_recall_at_k"),
         scores(test_build_rag_prompt=0, test_categorize_known=0, test_retrieval=0), "test_build_rag_prompt",
         "not run: the kernel died"),
    Case("huge_allocation", extra_cell("hoard = [bytearray(2**30) for _ in range(64)]"), FULL, "notes",
         "raised MemoryError"),
    # the fork fails at the process limit, or, on a loaded machine, the cell reaches its time limit first
    Case("fork_bomb", extra_cell("import os\nwhile True:\n    os.fork()"), FULL, "notes",
         ("raised BlockingIOError", "raised CellTimeoutError")),
    Case("print_flood", extra_cell("for _ in range(60):\n    print('x' * 10**6)"), FULL, "notes",
         "printed too much: output was cut"),
    Case("notebook_timeout", extra_cell("import time\ntime.sleep(25)", after="test_recall_at_k", times=3),
         scores(test_build_rag_prompt=0, test_categorize_known=0, test_retrieval=0), "test_retrieval",
         f"not run: the notebook ran past its {NOTEBOOK_TIMEOUT} s limit"),
    Case("edited_test", _edit(edited_test), scores(test_recall_at_k=0, test_retrieval=0), "notes",
         "test cell test_recall_at_k was edited: graded with the original"),
    Case("deleted_test", _edit(deleted_test), scores(test_recall_at_k=0, test_retrieval=0), "notes",
         "test cell test_recall_at_k was deleted: graded with the original"),
    Case("typed_in_results", typed_in_results, FULL, "notes", "added before a locked cell's test: not run"),
    Case("edited_locked_run", _edit(edited_locked), FULL, "notes", "was edited: graded as written in the lesson"),
    Case("monkeypatched_library", extra_cell("math.isclose = lambda *args, **kwargs: True"),
         {c: 0 for c in POINTS}, "test_recall_at_k", "the notebook replaced what the tests use: math.isclose"),
    Case("monkeypatched_torch", extra_cell("torch.equal = lambda *args, **kwargs: True"),
         {c: 0 for c in POINTS}, "test_chunk_text", "torch.equal"),
    Case("redefined_builtin", extra_cell("def all(*args, **kwargs):\n    return True"), {c: 0 for c in POINTS},
         "test_cosine_top_k", "all (shadows the builtin)"),
    Case("assert_rewriter", extra_cell("get_ipython().input_transformers_cleanup.append(\n"
                                       "    lambda lines: [line.replace('assert ', 'pass  # ') for line in lines])"),
         {c: 0 for c in POINTS}, "test_build_rag_prompt", "IPython input or AST transformers"),
    Case("reads_outside", answer("recall_at_k", READ_OUTSIDE), scores(test_recall_at_k=0, test_retrieval=0),
         "test_recall_at_k", "FileNotFoundError: no file outside my folder is visible"),
    Case("writes_others", extra_cell(WRITE_OTHERS), FULL, "notes", "raised FileNotFoundError"),
    Case("network", answer("categorize_known", NETWORK), scores(test_categorize_known=0), "test_categorize_known",
         "ConnectionRefusedError"),
    Case("empty_notebook", lambda ctx: {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
         {c: 0 for c in POINTS}, "failure", "empty notebook: no code to grade"),
    Case("not_a_notebook", lambda ctx: "my answers are in the email", {c: 0 for c in POINTS}, "failure",
         "not a notebook (expected a .ipynb file)", filename="answers.txt"),
    Case("binary_file", lambda ctx: b"\x89PNG\r\n\x1a\n\x00\x00", {c: 0 for c in POINTS}, "failure",
         "corrupt notebook, not valid JSON"),
    Case("corrupt_json", lambda ctx: '{"cells": [{"cell_type": "code", "sou', {c: 0 for c in POINTS}, "failure",
         "corrupt notebook, not valid JSON"),
    Case("other_lesson", lambda ctx: json.loads((ROOT / "lessons" / "06-lora" / "exercise.ipynb").read_text()),
         {c: 0 for c in POINTS}, "failure", "this is the notebook of lesson '06-lora', not '09-rag-vs-fine-tuning'"),
]


class Listener:
    """A TCP server on the grader's loopback that counts who reaches it (no one should)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def write_corpus(folder: Path, ctx: dict) -> None:
    for case in CASES:
        content = case.make(ctx)
        path = folder / case.name / case.filename
        path.parent.mkdir(parents=True)
        if isinstance(content, dict):
            content = json.dumps(content)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


EARLIER = "01-full-fine-tuning"  # a lesson the course graded before the corpus came in


def course_folder(root: Path) -> Path:
    """An instructor's nbgrader course folder that already holds EARLIER's grade for one student; its submitted/."""
    root.mkdir()
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "llm-course"\n')
    earlier = root / "submitted" / "earlier_student" / EARLIER / "exercise.ipynb"
    earlier.parent.mkdir(parents=True)
    earlier.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    result = run_course("grade", EARLIER, root / "submitted", "--out", root)
    assert result.returncode == 0 and "earlier_student: 0 / " in result.stdout, result.stdout + result.stderr
    return root / "submitted"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The whole corpus graded once with two workers in a course folder's submitted/: (CSV rows by student and
    cell, ledger, context)."""
    tmp = tmp_path_factory.mktemp("corpus")
    out = tmp / "course"
    subs = course_folder(out)
    listener = Listener()
    ctx = {"port": listener.port, "solution": str(SOLUTION), "gradebook": str(out / "gradebook.db"),
           "lesson": LESSON, "other": str(subs / "reference" / LESSON / "exercise.ipynb"),
           "other_out": str(out / "autograded" / "reference" / LESSON / "exercise.ipynb")}
    write_corpus(tmp / "corpus", ctx)
    for case in CASES:  # where nbgrader collect puts them
        (subs / case.name).mkdir()
        (tmp / "corpus" / case.name).rename(subs / case.name / LESSON)
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    start = time.perf_counter()
    result = run_course("grade", LESSON, subs, "--out", out, "-j", "2", "--cell-timeout", CELL_TIMEOUT,
                        "--notebook-timeout", NOTEBOOK_TIMEOUT)
    seconds = time.perf_counter() - start
    listener.close()
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "grades.csv", newline="") as f:
        rows = {(r["student"], r["cell"]): r for r in csv.DictReader(f) if r["lesson"] == LESSON}
    ledger = {r["student"]: r for r in map(json.loads, (out / "ledger.jsonl").read_text().splitlines())
              if r["lesson"] == LESSON}
    print(f"corpus of {len(CASES)} graded in {seconds:.0f} s with -j 2")
    return {"rows": rows, "ledger": ledger, "out": out, "subs": subs, "before": before, "listener": listener,
            "stdout": result.stdout}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_gets_its_score_and_message(graded, case):
    got = {cell: float(graded["rows"][(case.name, cell)]["points"]) for cell in POINTS}
    assert got == {cell: float(p) for cell, p in case.expected.items()}, (got, graded["ledger"][case.name])
    record = graded["ledger"][case.name]
    if case.where == "notes":
        text = " | ".join(record["notes"])
    elif case.where == "failure":
        text = record["failure"]
    else:
        text = graded["rows"][(case.name, case.where)]["message"]
    expected = (case.message,) if isinstance(case.message, str) else case.message
    assert any(message in text for message in expected), (text, record)


def test_the_corpus_covers_every_listed_case():
    listed = {"syntax_error", "exception", "infinite_loop", "sys_exit", "os_exit", "huge_allocation", "fork_bomb",
              "print_flood", "edited_test", "deleted_test", "monkeypatched_torch", "redefined_builtin",
              "reads_outside", "empty_notebook", "not_a_notebook", "corrupt_json", "other_lesson"}
    assert listed <= {c.name for c in CASES}


def test_nothing_reached_the_network_or_other_students(graded):
    assert graded["listener"].connections == 0
    after = {p: p.read_bytes() for p in graded["subs"].rglob("*") if p.is_file()}
    assert after == graded["before"], "a submission changed another student's file"
    reference = graded["out"] / "autograded" / "reference" / LESSON / "exercise.ipynb"
    assert b"overwritten" not in reference.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="zygotes serve a grader run as root")
def test_as_root_every_kernel_is_forked_by_a_workers_zygote(graded):
    ran = {student: r["extra"]["kernel_forked"] for student, r in graded["ledger"].items() if r["kernel_peak_rss"]}
    assert len(ran) >= 20 and all(ran.values()), ran


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two workers share one core")
def test_each_worker_runs_its_kernels_on_cores_of_its_own(graded):
    # the fork bomb spins its slot's cores for up to its cell's limit: before, it timed out a neighbour's cell
    shares = sorted({tuple(r["extra"]["kernel_cpus"]) for r in graded["ledger"].values() if r["kernel_peak_rss"]})
    half = len(os.sched_getaffinity(0)) // 2
    assert len(shares) == 2 and not set(shares[0]) & set(shares[1]), shares
    assert all(len(share) in (half, half + 1) for share in shares), shares


def test_a_cell_past_its_limit_leaves_nothing_running_for_the_cells_after_it(graded):
    killed = {student: r["extra"]["kernel_killed"] for student, r in graded["ledger"].items() if r["kernel_peak_rss"]}
    assert killed["fork_bomb"] >= 100 and killed["infinite_loop"] == killed["notebook_timeout"] == 0, killed
    cells = json.loads((graded["out"] / "autograded" / "fork_bomb" / LESSON / "exercise.ipynb").read_text())["cells"]
    ran = [c for c in cells if "shell.execute_reply" in c.get("metadata", {}).get("execution", {})]
    bomb = next(i for i, c in enumerate(ran) if "os.fork()" in _source(c))
    ended = [datetime.fromisoformat(c["metadata"]["execution"]["shell.execute_reply"].rstrip("Z")) for c in ran]
    after = (ended[-1] - ended[bomb]).total_seconds()
    assert after < 15, after  # a correct notebook takes 5.5 s; with the bomb's copies left running, 25 s


def test_output_is_capped_in_the_saved_notebook(graded):
    flooded = graded["out"] / "autograded" / "print_flood" / LESSON / "exercise.ipynb"
    assert flooded.stat().st_size < 4 * 2**20, flooded.stat().st_size  # it printed 60 MB


def test_feedback_names_the_check_but_not_the_hidden_code(graded):
    hidden = next(c for c in json.loads(SOLUTION.read_text())["cells"]
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_recall_at_k")
    hidden_code = _source(hidden).split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
    secret_lines = [line.strip() for line in hidden_code.splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    assert secret_lines
    assert "checks recall_at_k on 20 random rankings" in \
        (graded["out"] / "feedback" / "hard_coded_answers" / LESSON / "exercise.html").read_text()
    for student in ("hard_coded_answers", "edited_test", "reference"):
        page = (graded["out"] / "feedback" / student / LESSON / "exercise.html").read_text()
        assert all(line not in page for line in secret_lines), student


def test_feedback_page_heads_with_the_notes(graded):
    """An edited read-only cell, or a cell added before a locked cell's test, is said on the student's page too."""
    for student, note in [("edited_locked_run", "was edited: graded as written in the lesson"),
                          ("typed_in_results", "added before a locked cell&#x27;s test: not run")]:
        page = (graded["out"] / "feedback" / student / LESSON / "exercise.html").read_text()
        assert "Notes from the grader" in page and note in page, student
    assert "Notes from the grader" not in (graded["out"] / "feedback" / "reference" / LESSON / "exercise.html").read_text()


def test_the_course_keeps_the_earlier_lesson(graded):
    """The corpus went into the course's one gradebook beside the lesson graded before, which kept its grade."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['out'] / 'gradebook.db'}", "llm-course") as gb:
        assert {a.name for a in gb.assignments} == {EARLIER, LESSON}
        assert gb.find_submission(EARLIER, "earlier_student").score == 0
        reference = gb.find_submission(LESSON, "reference")
        assert reference.score == sum(POINTS.values()) and reference.assignment.course_id == "llm-course"
    assert "earlier_student" not in graded["stdout"], "a student with only another lesson is not graded for this one"
    with open(graded["out"] / "grades.csv", newline="") as f:
        assert {r["lesson"] for r in csv.DictReader(f) if r["student"] == "earlier_student"} == {EARLIER}


def test_a_rerun_grades_only_what_is_new(graded):
    """Submissions collected after the run: the next run grades the new student alone, the corpus stays."""
    newcomer = graded["subs"] / "newcomer" / LESSON
    newcomer.mkdir(parents=True)
    (newcomer / "exercise.ipynb").write_bytes((graded["subs"] / "exception" / LESSON / "exercise.ipynb").read_bytes())
    result = run_course("grade", LESSON, graded["subs"], "--out", graded["out"], "-j", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already graded") == len(CASES), result.stdout
    assert "[1/1] newcomer: " in result.stdout, result.stdout
    ledger = [json.loads(line) for line in (graded["out"] / "ledger.jsonl").read_text().splitlines()]
    assert [r["student"] for r in ledger if r["lesson"] == LESSON].count("newcomer") == 1
    assert sum(c["points"] for c in ledger[-1]["cells"]) == \
        sum(c["points"] for c in graded["ledger"]["exception"]["cells"]), "graded as the same notebook was"


def test_an_interrupted_run_keeps_what_it_recorded(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_corpus(subs, {"port": 9, "solution": "", "gradebook": "", "lesson": LESSON, "other": "", "other_out": ""})
    for case in CASES:
        if case.name not in ("reference", "blank", "exception"):
            for path in (subs / case.name).iterdir():
                path.unlink()
            (subs / case.name).rmdir()
    args = [COURSE, "grade", LESSON, str(subs), "--out", str(out)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    ledger = out / "ledger.jsonl"
    deadline = time.monotonic() + 600
    while not (ledger.exists() and ledger.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)  # as a power cut would, in the middle of the next submission
    proc.wait()
    first = ledger.read_text().splitlines()
    assert len(first) == 1
    done = json.loads(first[0])["student"]
    result = run_course("grade", LESSON, subs, "--out", out)
    assert result.returncode == 0, result.stderr
    assert f"{done}: " in result.stdout and "already graded" in result.stdout
    with open(out / "grades.csv", newline="") as f:
        totals: dict[str, float] = {}
        for row in csv.DictReader(f):
            totals[row["student"]] = totals.get(row["student"], 0) + float(row["points"])
    assert totals == {"blank": 0, "exception": sum(scores(test_chunk_text=0, test_retrieval=0).values()),
                      "reference": sum(POINTS.values())}
