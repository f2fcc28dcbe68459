"""Lesson 11: the method comparison (counts against formulas and peft, the CLI's CSV and chart, bad input),
the lab, the stored cpu run, and a lesson without a graded exercise in build, check and grade."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import ROOT, run_course
from course.lessons.capstone import COLUMNS, METHODS, SUMMARY, read_csv, summary, trade_off
from course.syllabus import GRADED, LESSONS
from labs import has_plot, run_lab

LESSON = "11-capstone"
STORED = ROOT / "solutions" / LESSON / "results" / "cpu.csv"
WIDGET = "application/vnd.jupyter.widget-view+json"
SMOLLM2 = {"layers": 30, "d": 576, "kv": 3 * 64, "ffn": 1536, "params": 134_515_008}


def expected_trainable(method: str, prompt_tokens: int = 42) -> int:
    """The trainable count of `method` on SmolLM2-135M, from its formula."""
    layers, d, kv, ffn = SMOLLM2["layers"], SMOLLM2["d"], SMOLLM2["kv"], SMOLLM2["ffn"]
    m = d // 16
    lora = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
            "gate_proj": (d, ffn), "up_proj": (d, ffn), "down_proj": (ffn, d)}
    return {"full-ft": SMOLLM2["params"], "soft-prompt": 0,
            "prompt-tuning": prompt_tokens * d,  # one vector per token of the system prompt
            "prefix-tuning": 10 * layers * 2 * kv,  # keys and values of the 3 key/value heads, not the hidden size
            "adapters": layers * 2 * (2 * d * m + d + m),  # AdapterHub's count, two per layer
            "lora": layers * 8 * (sum(lora["q_proj"]) + sum(lora["v_proj"])),
            "qlora": layers * 8 * sum(sum(shape) for shape in lora.values())}[method]


@pytest.mark.parametrize("method", ["prompt-tuning", "prefix-tuning", "lora", "qlora"])
def test_peft_methods_train_what_peft_counts_and_the_formula_says(method):
    from course.profiles import get_profile
    from course.training import trainable_parameters

    model, _ = METHODS[method].build(get_profile("smoke"))
    assert trainable_parameters(model)[0] == model.get_nb_trainable_parameters()[0] == expected_trainable(method)


@pytest.mark.parametrize("args, message", [
    (["--methods", "lora", "nope"], "unknown method 'nope'"),
    (["--profile", "laptop"], "unknown profile 'laptop'"),
    (["--seeds", "0"], "--seeds must be at least 1, not 0"),
])
def test_bad_input_exits_2_in_one_line(args, message, tmp_path):
    result = run_course("capstone", *args, "--out", tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unwritable_output_folder_exits_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_course("capstone", "--methods", "soft-prompt", "--out", blocker / "results")
    assert result.returncode == 2 and "cannot create the output folder" in result.stderr, result.stderr


def check_rows(rows: list[dict], profile: str, methods: list[str], seeds: int) -> None:
    """What every run shows, whatever its numbers: one row per seed (one for soft prompting), the counts, the
    budget in tokens, the memory summed from tensors, and training that lowers the validation loss."""
    from course.lessons.capstone import SIZES

    size = SIZES[profile]
    expected = [(m, seed) for m in methods for seed in (range(1) if m == "soft-prompt" else range(seeds))]
    assert [(r["method"], r["seed"]) for r in rows] == expected and all(list(r) == COLUMNS for r in rows)
    for r in rows:
        assert r["profile"] == profile and r["device"].startswith(("cpu: ", "cuda: ")), r
        assert r["trainable_params"] == expected_trainable(r["method"]), r["method"]
        assert r["trainable_pct"] == pytest.approx(100 * r["trainable_params"] / SMOLLM2["params"])
        assert r["n_eval"] == size.n_eval and r["trivial_accuracy"] == 0
        assert r["method_bytes"] == r["weights_bytes"] + r["training_state_bytes"] + r["activation_bytes"]
        if r["method"] == "soft-prompt":
            continue
        # float32 gradients and AdamW's two moments: 12 bytes per trained parameter (and a step count per tensor)
        assert abs(r["training_state_bytes"] / (12 * r["trainable_params"]) - 1) < 0.01, r["method"]
        assert r["train_tokens"] <= size.steps * size.batch * size.max_len and r["lr_sweep"].count(":") == len(
            size.lr_factors), r["method"]
        assert f"{r['lr']:.3g}: " in r["lr_sweep"]
    tokens = {r["train_tokens"] for r in rows if r["method"] != "soft-prompt" and r["seed"] == 0}
    assert len(tokens) == 1, f"every method trains on the same tokens: {tokens}"
    for method in methods:
        runs = [r for r in rows if r["method"] == method]
        if method != "soft-prompt":
            assert min(r["val_loss_after"] for r in runs) < runs[0]["val_loss_before"] - 0.1, method
    by = {r["method"]: r for r in rows if r["seed"] == 0}
    soft = by["soft-prompt"]
    assert soft["trainable_params"] == 0 and soft["forgetting"] == 0 and soft["activation_bytes"] == 0
    assert by["qlora"]["weights_bytes"] < 0.4 * by["lora"]["weights_bytes"], "4-bit codes against float32 weights"
    assert max(by.values(), key=lambda r: r["method_bytes"])["method"] == "full-ft"
    assert by["full-ft"]["trainable_pct"] == 100


# through the command line, the four methods whose rows check_rows compares (the lab's test runs all seven)
CLI_METHODS = ["full-ft", "soft-prompt", "lora", "qlora"]


def test_smoke_benchmark_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # on a shared 2-core machine one thread per process is faster
    result = run_course("capstone", "--profile", "smoke", "--methods", *CLI_METHODS, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    check_rows(read_csv(tmp_path / "smoke.csv"), "smoke", CLI_METHODS, seeds=2)
    for method in CLI_METHODS:
        assert METHODS[method].name in result.stdout
    assert " ± " in result.stdout and "2 seed(s) per method" in result.stdout and "device cpu: " in result.stdout
    assert "plotly" in (tmp_path / "smoke.html").read_text() and (tmp_path / "plotly.min.js").exists()


def test_trade_off_names_the_methods_it_cannot_show():
    rows = read_csv(STORED)
    fig = trade_off(rows, "trainable parameters (% of the model)", "policy accuracy (pairs)")
    assert list(fig.data[0].text) == [m.name for key, m in METHODS.items() if key != "soft-prompt"]
    assert fig.layout.xaxis.type == "log" and "not shown: soft prompting" in fig.layout.title.text


def test_summary_is_the_mean_and_spread_over_seeds():
    rows = [{"method": "lora", "name": "LoRA", **{c: None for c in SUMMARY}, "policy_accuracy": a, "seed": i}
            for i, a in enumerate([0.5, 0.25, 0.75])]
    (row,) = summary(rows)
    assert row["seeds"] == 3 and row["policy_accuracy"] == 0.5 and row["policy_accuracy_sd"] == pytest.approx(0.25)
    assert row["forgetting"] is None and row["forgetting_sd"] is None


# (method, column of the summary, format, the text the lab quotes): the figures the lab's findings rank by
# (bytes are quoted in MiB)
QUOTED: list[tuple[str, str, str, str]] = [
    ("qlora", "policy_accuracy", "{:.0%}", "QLoRA 40% ± 15"), ("full-ft", "policy_accuracy", "{:.0%}", "37% ± 19"),
    ("adapters", "policy_accuracy", "{:.0%}", "35% ± 13"), ("lora", "policy_accuracy", "{:.0%}", "27% ± 9"),
    ("prefix-tuning", "policy_accuracy", "{:.0%}", "22% ± 2"),
    ("prompt-tuning", "policy_accuracy", "{:.0%}", "18% ± 6"),
    ("soft-prompt", "policy_accuracy", "{:.0%}", "soft prompting 14%"),
    ("full-ft", "val_loss_after", "{:.3f}", "full fine-tuning 0.144"),
    ("adapters", "val_loss_after", "{:.3f}", "0.199"),
    ("qlora", "val_loss_after", "{:.3f}", "QLoRA 0.223"), ("lora", "val_loss_after", "{:.3f}", "LoRA 0.769"),
    ("prefix-tuning", "val_loss_after", "{:.3f}", "1.194"), ("prompt-tuning", "val_loss_after", "{:.3f}", "1.957"),
    ("full-ft", "method_bytes", "{:,.0f}", "full fine-tuning 2,853 MiB"),
    ("qlora", "method_bytes", "{:,.0f}", "1,353"),
    ("lora", "method_bytes", "{:,.0f}", "LoRA's 1,227"), ("full-ft", "s_per_step", "{:.2f}", "8.75 s"),
    ("qlora", "forgetting", "{:+.0f}", "QLoRA +29% ± 8"), ("full-ft", "forgetting", "{:+.0f}", "+34% ± 10"),
    ("lora", "forgetting", "{:+.0f}", "LoRA +48% ± 9"), ("adapters", "forgetting", "{:+.0f}", "+95% ± 22"),
    ("prefix-tuning", "forgetting", "{:+.0f}", "+542% ± 265"),
]


def test_stored_cpu_results_are_the_ones_the_lab_quotes():
    rows = read_csv(STORED)
    check_rows(rows, "cpu", list(METHODS), seeds=3)
    assert (ROOT / "lessons" / LESSON / "results" / "cpu.csv").read_bytes() == STORED.read_bytes()
    assert all(r["steps"] == 16 and r["batch"] == 4 and r["max_len"] == 128 and r["n_eval"] == 128 for r in rows)
    text = "".join(c["source"] for c in json.loads((ROOT / "solutions" / LESSON / "lab.ipynb").read_text())["cells"])
    by = {r["method"]: r for r in summary(rows)}
    for method, column, fmt, quoted in QUOTED:
        value, sd = by[method][column], by[method][f"{column}_sd"]
        scale = 2 ** -20 if column.endswith("bytes") else 1
        figure = fmt.format(value * scale) + ("%" if column == "forgetting" else "")
        assert figure in quoted and quoted in text, (method, column, figure, quoted)
        if "±" in quoted:  # the spread as the lab writes it: points for accuracy and forgetting
            spread = quoted.split("± ")[1]
            assert spread == (f"{100 * sd:.0f}" if column == "policy_accuracy" else f"{sd:.0f}"), (method, spread)


def test_lab_runs_plots_and_explores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    text, outputs, results = run_lab(LESSON)
    assert has_plot(outputs), "no plotly chart"
    assert any(WIDGET in o.get("data", {}) for o in outputs), "no widget"
    assert "cpu" in results["stored_profiles"]
    assert list(results["live"]) == list(METHODS)
    assert results["live"]["soft-prompt"]["trainable_params"] == 0
    assert results["live"]["full-ft"]["trainable_pct"] == 100
    assert results["live"]["lora"]["seeds"] == 2 and results["live"]["soft-prompt"]["seeds"] == 1
    assert "OMP_NUM_THREADS=1 course capstone --profile cpu --seeds 3 --out solutions/11-capstone/results" in \
        (ROOT / "lessons" / LESSON / "lab.ipynb").read_text()


def test_the_capstone_is_a_lab_without_exercise():
    assert LESSON in LESSONS and LESSON not in GRADED
    for lesson in LESSONS:
        assert all((ROOT / folder / lesson / "lab.ipynb").exists() for folder in ["solutions", "lessons"]), lesson
        assert (ROOT / "solutions" / lesson / "exercise.ipynb").exists() is (lesson in GRADED), lesson


@pytest.mark.parametrize("command", ["check", "grade"])
def test_check_and_grade_refuse_the_lab_only_lesson(command):
    result = run_course(command, LESSON, ROOT / "lessons" / LESSON / "lab.ipynb")
    assert result.returncode == 2 and "has no graded exercise, only a lab" in result.stderr, result.stderr


def test_build_releases_the_readme_and_results_folder_only(tmp_path):
    for folder in ["solutions", "lessons"]:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.rmtree(tmp_path / "lessons" / LESSON)
    (tmp_path / "lessons" / "07-qlora" / "results").mkdir()  # stale: solutions/07-qlora has no results/
    result = run_course("build", LESSON, "07-qlora", root=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote lessons/11-capstone/results/cpu.csv" in result.stdout
    released = tmp_path / "lessons" / LESSON
    assert (released / "results" / "cpu.csv").read_bytes() == STORED.read_bytes()
    assert json.loads((released / "lab.ipynb").read_text())["metadata"]["course"]["lesson"] == LESSON
    released = sorted(p.name for p in (tmp_path / "lessons" / "07-qlora").iterdir())
    assert released == ["README.md", "exercise.ipynb", "lab.ipynb"]


def test_held_out_requests_are_new_paired_and_have_their_opposite():
    from course.airline import refund_decision
    from course.data import load_split
    from course.data.make_airline_support import held_out

    rows = held_out(128)
    seen = {r["request"] for split in ("train", "validation", "test") for r in load_split("airline_support", split)}
    seen |= {r["prompt"] for split in ("train", "test") for r in load_split("airline_preferences", split)}
    assert len({r["request"] for r in rows}) == 128 and not seen & {r["request"] for r in rows}
    assert [r["refund"] for r in rows[:4]] == [True, False, True, False]
    for r in rows:
        assert refund_decision(r["reply"]) is r["refund"] and refund_decision(r["opposite"]) is (not r["refund"])
        assert r["cause"] in r["opposite"] and r["reply"].split(".")[0] == r["opposite"].split(".")[0]
    assert held_out(4) == rows[:4], "the same requests every run"


def test_paired_accuracy_needs_both_requests_of_a_pair():
    from course.airline import paired_accuracy

    assert paired_accuracy([True, True, False, True]) == 0.5
    assert paired_accuracy([True, False, True, False]) == 0.0, "one decision whatever the cause scores 0"
    with pytest.raises(ValueError, match="even number"):
        paired_accuracy([True, False, True])


def test_reply_log_probs_do_not_depend_on_the_batch_and_match_the_models_loss():
    from peft import get_peft_model

    from course.airline import reply_log_probs
    from course.data.make_airline_support import held_out
    from course.models import load_causal_lm
    from course.lessons.prompt_tuning import peft_prompt_tuning_config
    from course.training import encode_pair

    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    rows = held_out(3)
    pairs = [(r["request"], reply) for r in rows for reply in (r["reply"], r["opposite"])]
    batched = reply_log_probs(model, tokenizer, pairs)
    assert batched == pytest.approx([reply_log_probs(model, tokenizer, [p])[0] for p in pairs], abs=1e-3)
    encoded = encode_pair(tokenizer, *pairs[0], max_len=10_000)
    with torch.no_grad():
        loss = model(**{k: torch.tensor([v]) for k, v in encoded.items()}).loss
    answer_tokens = len(encoded["input_ids"]) - encoded["labels"].count(-100)
    assert batched[0] == pytest.approx(-float(loss) * answer_tokens, abs=1e-2)
    torch.manual_seed(0)
    tuned = get_peft_model(model, peft_prompt_tuning_config(4))  # virtual tokens come first in every row
    assert reply_log_probs(tuned, tokenizer, pairs) == pytest.approx(
        [reply_log_probs(tuned, tokenizer, [p])[0] for p in pairs], abs=1e-3)
