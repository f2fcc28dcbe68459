"""Lesson 11: the method comparison (counts against formulas and peft, the CLI's CSV and chart, bad input),
the lab, the stored cpu run, and a lesson without a graded exercise in build, check and grade."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import ROOT, run_course
from course.capstone import COLUMNS, METHODS, read_csv, trade_off
from course.syllabus import GRADED, LESSONS
from test_lab import has_plot, run_lab

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


def test_adapters_on_a_llama_decoder_start_as_the_identity():
    from transformers import LlamaConfig, LlamaForCausalLM

    from course.adapters import AdapterConfig, adapter_modules, add_bottleneck_adapters, train_only

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    ids = torch.randint(0, 64, (2, 7))
    before = model(input_ids=ids).logits
    added = add_bottleneck_adapters(model, AdapterConfig("houlsby", reduction_factor=16))
    trainable, _ = train_only(model, lambda name: "bottleneck_adapter" in name)
    assert len(added) == len(adapter_modules(model)) == 4 and trainable == 4 * (2 * 32 * 2 + 32 + 2)
    assert torch.equal(model(input_ids=ids).logits, before)  # adapter_up starts at zero
    layer = model.model.layers[0]
    assert layer.self_attn.bottleneck_adapter is added[0] and layer.mlp.bottleneck_adapter is added[1]
    with torch.no_grad():
        added[1].adapter_up.bias.fill_(1.0)  # layer 0's feed-forward adapter now adds 1 to down_proj's output
        seen = {}
        layer.mlp.register_forward_hook(lambda module, args, output: seen.update(x=args[0], out=output))
        model(input_ids=ids)
        h = layer.mlp.act_fn(layer.mlp.gate_proj(seen["x"])) * layer.mlp.up_proj(seen["x"])
        assert torch.allclose(seen["out"], torch.nn.functional.linear(h, layer.mlp.down_proj.weight) + 1, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--methods", "lora", "nope"], "unknown method 'nope'"),
    (["--profile", "laptop"], "unknown profile 'laptop'"),
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


def check_rows(rows: list[dict], profile: str, methods: list[str]) -> None:
    """What every run shows, whatever its numbers: the counts, soft prompting's zeros, what was trained."""
    assert [r["method"] for r in rows] == methods and all(list(r) == COLUMNS for r in rows)
    for r in rows:
        assert r["profile"] == profile and r["device"].startswith(("cpu: ", "cuda: ")), r
        assert r["trainable_params"] == expected_trainable(r["method"]), r["method"]
        assert r["trainable_pct"] == pytest.approx(100 * r["trainable_params"] / SMOLLM2["params"])
        assert r["policy_accuracy"] <= 1 - r["policy_undecided"], r  # a reply that takes no decision is not right
        trained = r["method"] != "soft-prompt"
        for column in ["peak_memory_mib", "seconds_per_step", "tokens_per_second", "val_loss_after", "lr"]:
            assert (r[column] is not None and r[column] > 0) is trained, (r["method"], column)
    soft = next(r for r in rows if r["method"] == "soft-prompt")
    assert soft["trainable_params"] == 0 and soft["forgetting_pct"] == 0
    assert soft["general_ppl_after"] == soft["general_ppl_before"]
    assert next(r for r in rows if r["method"] == "full-ft")["trainable_pct"] == 100


def test_smoke_benchmark_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # on a shared 2-core machine one thread per process is faster
    result = run_course("capstone", "--profile", "smoke", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    check_rows(read_csv(tmp_path / "smoke.csv"), "smoke", list(METHODS))
    for method in METHODS.values():
        assert method.name in result.stdout
    assert "VmHWM" in result.stdout and "device cpu: " in result.stdout
    assert "plotly" in (tmp_path / "smoke.html").read_text() and (tmp_path / "plotly.min.js").exists()


def test_trade_off_names_the_methods_it_cannot_show():
    rows = read_csv(STORED)
    fig = trade_off(rows, "trainable parameters (% of the model)", "policy accuracy")
    assert list(fig.data[0].text) == [r["name"] for r in rows if r["method"] != "soft-prompt"]
    assert fig.layout.xaxis.type == "log" and "not shown: soft prompting" in fig.layout.title.text


# (method, column, format, the text the lab quotes): every figure the lab's findings quote from cpu.csv
QUOTED = [("full-ft", "peak_memory_mib", "{:,.0f}", "3,333"), ("qlora", "peak_memory_mib", "{:,.0f}", "3,423"),
          ("lora", "peak_memory_mib", "{:,.0f}", "2,403"), ("prefix-tuning", "peak_memory_mib", "{:,.0f}", "2,063"),
          ("prompt-tuning", "peak_memory_mib", "{:,.0f}", "2,501"), ("full-ft", "seconds_per_step", "{:.2f}", "7.66"),
          ("adapters", "seconds_per_step", "{:.2f}", "3.35"), ("prompt-tuning", "seconds_per_step", "{:.2f}", "6.37"),
          ("full-ft", "val_loss_after", "{:.3f}", "0.308"), ("adapters", "val_loss_after", "{:.3f}", "0.309"),
          ("qlora", "val_loss_after", "{:.3f}", "1.036"), ("lora", "val_loss_after", "{:.3f}", "2.199"),
          ("prefix-tuning", "val_loss_after", "{:.3f}", "2.216"), ("prompt-tuning", "val_loss_after", "{:.3f}", "2.144"),
          ("full-ft", "policy_accuracy", "{:.0%}", "67%"), ("adapters", "policy_accuracy", "{:.0%}", "50%"),
          ("prompt-tuning", "policy_accuracy", "{:.0%}", "33%"), ("soft-prompt", "policy_accuracy", "{:.0%}", "25%"),
          ("lora", "policy_accuracy", "{:.0%}", "25%"), ("qlora", "policy_accuracy", "{:.0%}", "8%"),
          ("prefix-tuning", "policy_accuracy", "{:.0%}", "0%"), ("qlora", "policy_undecided", "{:.0%}", "92%"),
          ("prefix-tuning", "policy_undecided", "{:.0%}", "92%"), ("prompt-tuning", "forgetting_pct", "{:+.1f}%", "+67.8%"),
          ("adapters", "forgetting_pct", "{:+.1f}%", "+53.5%"), ("prefix-tuning", "forgetting_pct", "{:+.1f}%", "+20.9%"),
          ("qlora", "forgetting_pct", "{:+.1f}%", "+5.9%"), ("full-ft", "forgetting_pct", "{:+.1f}%", "+5.2%"),
          ("lora", "forgetting_pct", "{:+.1f}%", "-2.6%"), ("full-ft", "general_ppl_before", "{:.2f}", "21.02"),
          ("qlora", "general_ppl_before", "{:.2f}", "26.58"), ("prompt-tuning", "general_ppl_before", "{:.2f}", "27.00")]


def test_stored_cpu_results_are_the_ones_the_lab_quotes():
    rows = read_csv(STORED)
    check_rows(rows, "cpu", list(METHODS))
    assert (ROOT / "lessons" / LESSON / "results" / "cpu.csv").read_bytes() == STORED.read_bytes()
    assert all(r["steps"] == 12 and r["batch"] == 4 and r["max_len"] == 128 and r["n_test"] == 12 for r in rows)
    text = "".join(c["source"] for c in json.loads((ROOT / "solutions" / LESSON / "lab.ipynb").read_text())["cells"])
    by = {r["method"]: r for r in rows}
    for method, column, fmt, quoted in QUOTED:
        assert fmt.format(by[method][column]) == quoted and quoted in text, (method, column, quoted)
    peak = {m: r["peak_memory_mib"] for m, r in by.items()}
    float_base = ["prompt-tuning", "prefix-tuning", "adapters", "lora"]
    assert peak["qlora"] > peak["full-ft"] > max(peak[m] for m in float_base)
    assert max(by, key=lambda m: by[m]["seconds_per_step"] or 0) == "full-ft"
    assert by["adapters"]["policy_undecided"] == by["full-ft"]["policy_undecided"] == 0


def test_lab_runs_plots_and_explores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    text, outputs, results = run_lab(LESSON)
    assert has_plot(outputs), "no plotly chart"
    assert any(WIDGET in o.get("data", {}) for o in outputs), "no widget"
    assert "cpu" in results["stored_profiles"]
    assert list(results["live"]) == list(METHODS)
    assert results["live"]["soft-prompt"]["trainable_params"] == 0
    assert results["live"]["full-ft"]["trainable_pct"] == 100
    assert "OMP_NUM_THREADS=1 course capstone --profile cpu --out solutions/11-capstone/results" in \
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


def test_build_releases_the_results_folder_only(tmp_path):
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
    assert sorted(p.name for p in (tmp_path / "lessons" / "07-qlora").iterdir()) == ["exercise.ipynb", "lab.ipynb"]
