"""The course command line end to end: build, grade, check, main, on every ready lesson."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.batch import slot_cpus
from autograder.build import nbgrader_failure
from conftest import COURSE, ROOT, run_course
from course.notebooks import graded_cells, read_notebook

SOLUTION = ROOT / "solutions" / "06-lora" / "exercise.ipynb"
RELEASED = ROOT / "lessons" / "06-lora" / "exercise.ipynb"
POINTS = {"test_lora_param_count": 3, "test_lora_linear": 4, "test_add_lora": 4, "test_lora_training": 4}
# the graded test cells of every ready lesson, with their points
LESSON_POINTS = {
    "01-full-fine-tuning": {"test_count_parameters": 2, "test_training_memory_bytes": 3, "test_perplexity": 3,
                            "test_train_step": 4, "test_full_finetune": 4},
    "02-soft-prompting": {"test_build_messages": 3, "test_render_prompt": 3, "test_compliance_score": 4,
                          "test_real_model": 3},
    "03-prompt-tuning": {"test_prompt_tuning_param_count": 2, "test_soft_prompt": 4, "test_extend_attention_mask": 3,
                         "test_soft_prompt_lm": 4, "test_soft_prompt_training": 5},
    "04-prefix-tuning": {"test_prefix_param_count": 3, "test_make_prefix_past_key_values": 4,
                         "test_prefix_tuned_lm": 4, "test_prefix_matches_peft": 3, "test_prefix_training": 4},
    "05-adapters": {"test_bottleneck_adapter": 4, "test_adapter_param_count": 4, "test_insert_adapters": 4,
                    "test_adapter_training": 4},
    "06-lora": POINTS,
    "07-qlora": {"test_absmax_int8": 2, "test_nf4_codebook": 2, "test_quantize_nf4": 4, "test_matches_linear4bit": 2,
                 "test_memory": 3, "test_qlora_training": 4},
    "08-alignment": {"test_mask_prompt_labels": 2, "test_sequence_logps": 3, "test_bradley_terry": 2, "test_kl_reward": 2,
                     "test_dpo_loss": 3, "test_dpo_step": 4, "test_dpo_training": 4},
    "09-rag-vs-fine-tuning": {"test_chunk_text": 3, "test_embed": 3, "test_cosine_top_k": 3, "test_recall_at_k": 2,
                              "test_build_rag_prompt": 2, "test_categorize_known": 3, "test_retrieval": 3},
    "10-distillation": {"test_soften": 2, "test_distillation_loss": 6, "test_distill_step": 4,
                        "test_distillation_run": 5},
}
# one line of each reference answer: the released notebook must not hold it (tests/test_no_released_answer.py
# checks that nothing released passes a graded test)
ANSWERS = {"01-full-fine-tuning": "math.exp(total_nll / total_tokens)",
           "02-soft-prompting": "(right + not_wrong + acknowledges(reply)) / 3",
           "03-prompt-tuning": "torch.cat([ones, mask], dim=1)",
           "04-prefix-tuning": "slots.permute(2, 0, 3, 1, 4).split(2)",
           "05-adapters": "n_layers * adapters_per_layer * (2 * d_model * bottleneck + d_model + bottleneck)",
           "06-lora": "return r * d_in + d_out * r", "07-qlora": "torch.bucketize(normalized, midpoints)",
           "08-alignment": "-F.logsigmoid(chosen_rewards - rejected_rewards).mean()",
           "09-rag-vs-fine-tuning": "torch.sort(scores, dim=-1, descending=True, stable=True)",
           "10-distillation": "kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()"}


def test_committed_notebooks_carry_no_outputs():
    for path in [*ROOT.glob("solutions/*/*.ipynb"), *ROOT.glob("lessons/*/*.ipynb")]:
        for cell in read_notebook(path).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path


def test_build_over_the_committed_lessons_gives_the_same_bytes(tmp_path):
    for folder in ["solutions", "lessons"]:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    result = run_course("build", root=tmp_path)
    assert result.returncode == 0, result.stderr
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "lessons").rglob("*") if p.is_file())
    rebuilt = sorted(p.relative_to(tmp_path) for p in (tmp_path / "lessons").rglob("*") if p.is_file())
    assert committed == rebuilt and committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_build_without_an_activated_environment(tmp_path):
    """nbgrader starts `alembic` by name; `course` must find it when run by its full path."""
    for folder in ["solutions", "lessons"]:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    bare_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(COURSE).parent)
    result = subprocess.run([COURSE, "build", "06-lora"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "COURSE_ROOT": str(tmp_path), "PATH": bare_path}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "wrote lessons/06-lora/exercise.ipynb" in result.stdout


def test_nbgrader_failure_names_its_cause():
    log = ("[ERROR] There was an error processing assignment\n    Traceback (most recent call last):\n"
           "    FileNotFoundError: [Errno 2] No such file or directory: 'alembic'\n"
           "[ERROR] Please see the the above traceback for details on the specific errors on the above failures.")
    error = "Traceback...\nnbgrader.converters.base.NbGraderException: Please see the the above traceback"
    assert nbgrader_failure({"log": log, "error": error}) == "FileNotFoundError: [Errno 2] No such file or directory: 'alembic'"
    assert nbgrader_failure({"log": "", "error": "something odd"}) == "something odd"


def test_workers_split_the_cores_between_them():
    assert [slot_cpus(s, 2, [0, 1]) for s in range(2)] == [{0}, {1}]
    assert [slot_cpus(s, 3, list(range(16))) for s in range(3)] == [set(range(5)), set(range(5, 10)), set(range(10, 16))]
    assert [slot_cpus(s, 3, [4, 7]) for s in range(3)] == [{4}, {7}, {4}]  # more workers than cores: they share
    assert slot_cpus(0, 1, [0, 1, 2]) == {0, 1, 2}


@pytest.mark.parametrize("lesson", LESSON_POINTS)
def test_released_notebook_hides_solutions_and_hidden_tests(lesson):
    released = ROOT / "lessons" / lesson / "exercise.ipynb"
    text = released.read_text()
    assert ANSWERS[lesson] in (ROOT / "solutions" / lesson / "exercise.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and ANSWERS[lesson] not in text
    assert [c.metadata.nbgrader.grade_id for c in graded_cells(read_notebook(released))] == list(LESSON_POINTS[lesson])


def _with_solution(code: str, grade_id: str = "lora_param_count") -> dict:
    """The released notebook with one solution cell replaced by `code`."""
    nb = json.loads(RELEASED.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = code
    return nb


def test_grade_reference_full_marks_released_zero_crash_zero(submissions, tmp_path):
    reference = submissions("reference", SOLUTION)
    blank = submissions("blank", RELEASED)
    crasher = submissions("crasher", RELEASED)  # kills its kernel in its first answer: the others still count
    crasher.write_text(json.dumps(_with_solution("import os\nos._exit(1)")))
    out = tmp_path / "grades.csv"
    result = run_course("grade", "06-lora", reference, blank, crasher, "--csv", out, "--out", tmp_path / "out", "-j", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", "lesson", "cell", "points", "max_points", "message"]
    got = {(r[0], r[2]): (float(r[3]), float(r[4])) for r in rows[1:]}
    assert len(rows) == 1 + 3 * len(POINTS)
    for cell, points in POINTS.items():
        assert got[("reference", cell)] == (points, points), cell
        assert got[("blank", cell)] == (0, points), cell
        assert got[("crasher", cell)] == (0, points), cell
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    total = sum(POINTS.values())
    assert f"{total} / {total}" in lines["reference"] and f"0 / {total}" in lines["blank"]
    assert f"0 / {total}" in lines["crasher"] and "not run: the kernel died" in lines["crasher"]
    # the output folder is an nbgrader course folder: gradebook, executed notebooks, feedback pages
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}") as gb:
        scores = {s.student_id: s.score for s in gb.find_assignment("06-lora").submissions}
    assert scores == {"reference": sum(POINTS.values()), "blank": 0, "crasher": 0}
    for student in scores:
        assert (tmp_path / "out" / "feedback" / student / "06-lora" / "exercise.html").exists()
        assert (tmp_path / "out" / "autograded" / student / "06-lora" / "exercise.ipynb").exists()


def test_tampered_test_cell_is_restored(submissions, tmp_path):
    path = submissions("cheater", RELEASED)
    path.write_text(json.dumps(_with_solution("assert True", grade_id="test_lora_param_count")))
    result = run_course("grade", "06-lora", path, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    total = str(sum(POINTS.values()))
    assert any(line.split()[:4] == ["cheater", "0", "/", total] for line in result.stdout.splitlines()), result.stdout


def test_check_reports_each_public_test():
    done = run_course("check", "06-lora", SOLUTION)
    assert done.returncode == 0, done.stderr
    total = sum(POINTS.values())
    assert done.stdout.count("PASS") == len(POINTS) and f"total: {total} / {total}" in done.stdout
    blank = run_course("check", "06-lora", RELEASED)
    assert blank.returncode == 0, blank.stderr
    assert blank.stdout.count("FAIL") == len(POINTS) and "NotImplementedError" in blank.stdout


def _result(text) -> dict:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": text}}


def _test_cell(outputs: list[dict]) -> nbformat.NotebookNode:
    """An executed test cell worth 2 points with these outputs."""
    return nbformat.from_dict({"cell_type": "code", "execution_count": 1, "source": "", "outputs": outputs,
                               "metadata": {"nbgrader": {"grade": True, "solution": False, "points": 2,
                                                         "grade_id": "t", "locked": True}}})


@pytest.mark.parametrize("outputs", [
    [], [{"output_type": "stream", "name": "stdout", "text": "ok\n"}],
    [{"output_type": "stream", "name": "stderr", "text": "careful\n"}],
    [{"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}],
    [{"output_type": "display_data", "metadata": {}, "data": {"text/plain": "1.0"}}],
    [_result("1.5")], [_result("0")], [_result("-2")], [_result(["1.5"])], [_result(["1", "2"])], [_result("'ok'")],
    [_result("1.0"), {"output_type": "stream", "name": "stderr", "text": "late\n"}],
    [{"output_type": "stream", "name": "stderr", "text": "early\n"}, _result("1.0")],
])
def test_check_scores_a_test_cell_as_nbgrader_does(outputs):
    """course check's own copy of the rule (no nbgrader on Colab) gives nbgrader's points."""
    from nbgrader.utils import determine_grade

    from course.check import cell_points

    cell = _test_cell(outputs)
    assert cell_points(cell) == determine_grade(cell)[0]


def test_check_refuses_partial_credit_above_the_points_as_nbgrader_does():
    from nbgrader.utils import determine_grade

    from course.check import cell_points

    cell = _test_cell([_result("3")])
    for score in (cell_points, determine_grade):
        with pytest.raises(ValueError):
            score(cell)


@pytest.mark.parametrize("lesson", [lesson for lesson in LESSON_POINTS if lesson != "06-lora"])  # 06: the test above
def test_reference_full_marks_released_zero(lesson, submissions, tmp_path):
    points = LESSON_POINTS[lesson]
    reference = submissions("reference", ROOT / "solutions" / lesson / "exercise.ipynb")
    blank = submissions("blank", ROOT / "lessons" / lesson / "exercise.ipynb")
    out = tmp_path / "grades.csv"
    result = run_course("grade", lesson, reference, blank, "--csv", out, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out, newline="") as f:
        got = {(r["student"], r["cell"]): (float(r["points"]), float(r["max_points"])) for r in csv.DictReader(f)}
    assert got == {**{("reference", c): (p, p) for c, p in points.items()},
                   **{("blank", c): (0, p) for c, p in points.items()}}, got


def test_main_builds_and_grades_the_references():
    """`course main` on one lesson: every reference's full marks are the grading tests above."""
    lesson = "09-rag-vs-fine-tuning"
    result = run_course("main", lesson)
    assert result.returncode == 0, result.stdout + result.stderr
    total = sum(LESSON_POINTS[lesson].values())
    rows = [line.split() for line in result.stdout.splitlines()]
    graded = [row[:4] for row in rows if row and row[0] in LESSON_POINTS]
    assert graded == [[lesson, str(total), "/", str(total)]], result.stdout


@pytest.mark.parametrize("args, message", [
    (["grade", "99-nope", "x.ipynb"], "unknown lesson '99-nope'"),
    (["check", "99-nope", "x.ipynb"], "unknown lesson '99-nope'"),
    (["build", "99-nope"], "unknown lesson '99-nope'"),
    (["main", "99-nope"], "unknown lesson '99-nope'"),
    (["grade", "06-lora", "missing/exercise.ipynb"], "no such file"),
    (["check", "06-lora", "missing/exercise.ipynb"], "no such file"),
])
def test_bad_arguments_give_one_line(args, message):
    result = run_course(*args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


BAD_FILES = [
    ("notes.txt", "hello", "not a notebook (expected a .ipynb file)"),
    ("exercise.ipynb", "{ not json", "corrupt notebook, not valid JSON"),
    ("exercise.ipynb", "[1, 2]", "not a notebook (JSON without a 'cells' list)"),
    ("exercise.ipynb", '{"cells": [{"cell_type": "alien"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "invalid notebook"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES)
def test_check_refuses_a_bad_file_in_one_line(tmp_path, name, content, message):
    path = tmp_path / "alice" / name
    path.parent.mkdir()
    path.write_text(content)
    result = run_course("check", "06-lora", path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_grade_scores_bad_files_zero_with_the_reason(tmp_path):
    """A class's bad files do not stop grading: each scores 0 and says why (tests/test_hostile_submissions.py has more)."""
    for i, (name, content, _) in enumerate(BAD_FILES):
        path = tmp_path / "class" / f"student{i}" / name
        path.parent.mkdir(parents=True)
        path.write_text(content)
    result = run_course("grade", "06-lora", tmp_path / "class", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for i, (_, _, message) in enumerate(BAD_FILES):
        mine = [r for r in rows if r["student"] == f"student{i}"]
        assert len(mine) == len(POINTS) and all(r["points"] == "0" and message in r["message"] for r in mine), mine


def test_check_refuses_the_lab_and_another_lessons_notebook(tmp_path):
    lab = run_course("check", "06-lora", ROOT / "lessons" / "06-lora" / "lab.ipynb")
    assert lab.returncode == 2 and "no graded test cells" in lab.stderr
    nb = json.loads(RELEASED.read_text())
    nb["metadata"]["course"]["lesson"] = "07-qlora"
    other = tmp_path / "exercise.ipynb"
    other.write_text(json.dumps(nb))
    result = run_course("check", "06-lora", other)
    assert result.returncode == 2 and "belongs to lesson '07-qlora'" in result.stderr


def test_two_notebooks_of_one_student_are_refused(submissions, tmp_path):
    first = submissions("bob", RELEASED)
    second = tmp_path / "bob" / "copy.ipynb"
    shutil.copy(RELEASED, second)
    result = run_course("grade", "06-lora", first, second)
    assert result.returncode == 2 and "one notebook per student" in result.stderr


@pytest.fixture
def kernels_package():
    """Hugging Face's `kernels` installed for one test: bitsandbytes then logs on import (offline: a warning)."""
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    if importlib.util.find_spec("kernels") is not None:
        yield
        return
    subprocess.run([*pip, "install", "--no-deps", "kernels==0.19.1"], check=True, capture_output=True, timeout=300)
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "kernels"], check=True, capture_output=True, timeout=300)


@pytest.mark.serial  # it installs `kernels` into the environment the other tests' kernels import from
def test_a_correct_notebook_earns_full_marks_whatever_else_is_installed(kernels_package, submissions, tmp_path):
    """With `kernels`, bitsandbytes' import writes to stderr: the kernel imports it quietly before the first cell."""
    noisy = subprocess.run([sys.executable, "-c", "import bitsandbytes"], capture_output=True, text=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert "kernels-community" in noisy.stderr, noisy.stderr  # the output a graded cell would otherwise get
    reference = submissions("reference", SOLUTION)
    out = tmp_path / "grades.csv"
    graded = run_course("grade", "06-lora", reference, "--csv", out, "--out", tmp_path / "out")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with open(out, newline="") as f:
        assert {r["cell"]: float(r["points"]) for r in csv.DictReader(f)} == POINTS
    checked = subprocess.run([COURSE, "check", "06-lora", str(SOLUTION)], capture_output=True, text=True, timeout=900,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert f"total: {sum(POINTS.values())} / {sum(POINTS.values())}" in checked.stdout, checked.stdout + checked.stderr
