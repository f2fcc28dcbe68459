"""Lesson 01's helpers and data: the intent set, the general-text set, memory measurement, batches.

Figures the lesson quotes, pinned here: MiniLM with an 8-intent head has 22,716,296 parameters;
one float32 AdamW step keeps 16 bytes per parameter (measured after the step within 5%).
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch

from conftest import ROOT
from course.data import load_split
from course.data import make_general_text, make_support_intents
from course.lessons.full_fine_tuning import (GPU_MEASURED, INTENTS, SIZES, accuracy, intent_batches, load_intent_classifier,
                            memory_figure, memory_parts, predict, smollm2_param_count, text_batches)
from course.memory import OPTIMIZERS, make_optimizer, measure_training_step_memory
from course.profiles import PROFILES
from course.training import changed_weights, eval_loss, weight_fingerprints

MINILM_PARAMS = 22_716_296  # all-MiniLM-L6-v2 (22,713,216 incl. pooler) + a 384 x 8 head with bias


# ---------------------------------------------------------------- data

def test_support_intents_sizes_balance_and_unique_texts():
    rows = {s: load_split("support_intents", s) for s in make_support_intents.SPLITS}
    assert {s: len(r) for s, r in rows.items()} == {"train": 1200, "validation": 160, "test": 160}
    assert len(INTENTS) == 8 and INTENTS == make_support_intents.INTENTS
    for split, split_rows in rows.items():
        assert Counter(r["label"] for r in split_rows) == {i: len(split_rows) // 8 for i in INTENTS}, split
        assert all(set(r) == {"id", "text", "label"} for r in split_rows)
    texts = [r["text"] for split in rows.values() for r in split]
    assert len(set(texts)) == len(texts) == 1520


def test_support_intents_carry_distractors():
    """Many requests mention another intent's topic first, so one keyword does not decide the label."""
    rows = load_split("support_intents", "train")
    starts = {intent: [c.split("{")[0] for c in cs] for intent, cs in make_support_intents.CONTEXT.items()}
    with_other = [r for r in rows if any(s in r["text"] for i, ss in starts.items() if i != r["label"] for s in ss)]
    assert len(with_other) > 0.4 * len(rows), len(with_other)


def test_general_text_passages():
    rows = load_split("general_text", "test")
    assert len(rows) == 100 and len({r["text"] for r in rows}) == 100
    words = [len(r["text"].split()) for r in rows]
    assert min(words) >= 40 and max(words) <= 120
    airline = ("flight", "airline", "refund", "baggage", "passenger")
    assert not any(w in r["text"].lower() for r in rows for w in airline), "general text must not be airline text"
    intents = {r["text"] for s in ("train", "validation", "test") for r in load_split("support_intents", s)}
    assert not intents & {r["text"] for r in rows}


def test_generation_depends_on_the_seed():
    assert make_support_intents.generate(1)["train"][0] != make_support_intents.generate(2)["train"][0]
    assert make_general_text.generate(1)["test"][0] != make_general_text.generate(2)["test"][0]


# ---------------------------------------------------------------- classifier

@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return load_intent_classifier()


def test_classifier_head_and_batches(classifier):
    model, tokenizer = classifier
    assert model.config.num_labels == 8 and model.config.id2label[0] == INTENTS[0]
    assert sum(p.numel() for p in model.parameters()) == MINILM_PARAMS
    rows = load_split("support_intents", "test")[:10]
    batches = intent_batches(tokenizer, rows, batch_size=4)
    assert [len(b["labels"]) for b in batches] == [4, 4, 2]
    assert [INTENTS[i] for b in batches for i in b["labels"].tolist()] == [r["label"] for r in rows]
    predicted = predict(model, batches)
    labels = [i for b in batches for i in b["labels"].tolist()]
    assert len(predicted) == 10 and accuracy(model, batches) == sum(p == y for p, y in zip(predicted, labels)) / 10
    shuffled = intent_batches(tokenizer, rows, batch_size=10, seed=0)[0]["labels"].tolist()
    assert sorted(shuffled) == sorted(b for x in batches for b in x["labels"].tolist()) and shuffled != [
        i for b in batches for i in b["labels"].tolist()]


def test_accuracy_counts_right_answers():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, **_):
            logits = torch.zeros(len(input_ids), 8)
            logits[:, 2] = 1
            return type("Out", (), {"logits": logits})

    batches = [{"input_ids": torch.zeros(4, 3), "labels": torch.tensor([2, 2, 1, 2])}]
    assert accuracy(Fixed(), batches) == 0.75


# ---------------------------------------------------------------- memory

def test_make_optimizer_states():
    net = torch.nn.Linear(5, 3)
    for name, n_states in [("sgd", 0), ("sgd_momentum", 1), ("adamw", 2)]:
        opt = make_optimizer(name, net.parameters())
        net(torch.randn(2, 5)).sum().backward()
        opt.step()
        held = [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0]
        assert len(held) == n_states * 2, name  # weight and bias
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adam", net.parameters())


@pytest.mark.parametrize("optimizer, bytes_per_param", [("sgd", 8), ("adamw", 16)])
def test_measured_memory_matches_bytes_per_parameter(classifier, optimizer, bytes_per_param):
    import copy

    model, tokenizer = classifier
    model = copy.deepcopy(model)
    batch = intent_batches(tokenizer, load_split("support_intents", "train")[:8], batch_size=8)[0]
    before = weight_fingerprints(model)
    m = measure_training_step_memory(model, batch, optimizer, "cpu")
    predicted = MINILM_PARAMS * bytes_per_param
    assert m["n_params"] == MINILM_PARAMS and m["weights"] == 4 * MINILM_PARAMS
    assert m["gradients_held"] == 4 * MINILM_PARAMS
    assert m["optimizer_state_held"] == (bytes_per_param - 8) * MINILM_PARAMS
    assert abs(m["persistent"] - predicted) < 0.05 * predicted, (m["persistent"], predicted)
    assert m["peak"] > m["persistent"]
    changed = len(changed_weights(model, before))  # a real update; SGD's lr 1e-5 x a tiny gradient can round away
    assert changed == len(before) if optimizer == "adamw" else changed > 0.9 * len(before), (changed, len(before))


# ---------------------------------------------------------------- forgetting batches

def test_text_batches_give_the_mean_loss_per_token():
    from transformers import LlamaConfig, LlamaForCausalLM

    from course.models import load_causal_lm

    _, tokenizer = load_causal_lm("smollm2-135m-instruct")
    torch.manual_seed(0)
    tiny = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tokenizer)))
    texts = ["A short one.", "A much longer passage of plain English text, with more tokens to predict than the first.",
             "Three"]
    nll, n = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            if ids.shape[1] > 1:  # "Three" is one token: nothing to predict
                nll += float(tiny(input_ids=ids, labels=ids).loss) * (ids.shape[1] - 1)
                n += ids.shape[1] - 1
    batches = text_batches(tokenizer, texts, batch_size=2)
    assert len(batches) == 1 and batches[0]["labels"][0, -1] == -100  # padding is not predicted
    assert math.isclose(eval_loss(tiny, batches), nll / n, rel_tol=1e-5)


def test_lab_sizes_cover_every_profile():
    assert set(SIZES) == set(PROFILES)
    assert SIZES["smoke"].ft_steps < SIZES["cpu"].ft_steps < SIZES["gpu"].ft_steps


# ---------------------------------------------------------------- the memory explorer

def test_smollm2_counts_and_gpu_figures_are_the_measured_ones():
    rows = [json.loads(line) for line in (ROOT / "solutions/01-full-fine-tuning/gpu_training_memory_h200.jsonl").open()]
    setups = {"full-fp32": "float32", "full-mixed": "bf16 autocast (float32 weights)"}
    for row in rows:
        if row["setup"] in setups:
            name = f"SmolLM2-{row['model'].upper()}"
            assert smollm2_param_count(row["model"]) == row["trainable"], name  # counted on the GPU's real model
            assert GPU_MEASURED[name, setups[row["setup"]], "adamw"] == round(row["after_step_GB"] * 1e9), name
    assert len(GPU_MEASURED) == 6


@pytest.mark.parametrize("precision, dtype", [("float32", torch.float32), ("bf16 only", torch.bfloat16)])
def test_memory_parts_are_the_bytes_torch_holds(precision, dtype):
    net = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).to(dtype)
    n = sum(p.numel() for p in net.parameters())
    for name in OPTIMIZERS:
        opt = make_optimizer(name, net.parameters())
        net(torch.randn(2, 7, dtype=dtype)).sum().backward()
        opt.step()
        state = [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0]
        held = sum(t.numel() * t.element_size() for t in [*net.parameters(), *(p.grad for p in net.parameters()), *state])
        parts = memory_parts(n, name, precision)
        assert sum(parts.values()) == held and parts["float32 master copy"] == 0, (precision, name)
        net.zero_grad(set_to_none=True)
    assert sum(memory_parts(10, "adamw", "bf16 mixed (float32 master)").values()) == 160  # the exercise's 16 bytes again
    assert memory_parts(10, "adamw", "bf16 autocast (float32 weights)") == memory_parts(10, "adamw", "float32")


def test_memory_figure_states_the_choice_and_the_lab_formula():
    counts = {"MiniLM": MINILM_PARAMS, "SmolLM2-1.7B": 1_711_376_384}
    measured = {("MiniLM", "float32", "adamw"): 17 * MINILM_PARAMS}
    fig = memory_figure("MiniLM", "float32", counts, measured)
    totals = [sum(bar.y[i] for bar in fig.data if bar.type == "bar") for i in range(3)]
    assert [round(t * 1e9) for t in totals] == [b * MINILM_PARAMS for b in (8, 12, 16)]  # the lab's per_param rule
    assert fig.layout.title.text == "MiniLM, float32: AdamW keeps 0.363 GB (16 bytes x 22.7M parameters)"
    marker = next(t for t in fig.data if t.name == "measured after one step")
    assert list(marker.x) == ["AdamW"] and marker.y[0] == 17 * MINILM_PARAMS / 1e9
    other = memory_figure("SmolLM2-1.7B", "bf16 only", counts, measured)
    assert other.layout.title.text == "SmolLM2-1.7B, bf16 only: AdamW keeps 13.7 GB (8 bytes x 1,711.4M parameters)"
    assert "measured after one step" not in [t.name for t in other.data]
