"""course.lessons.lora: the lab's rank explorer counts what peft counts; the exercise's widget keeps its controls."""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM

from course.lessons.lora import (ALL_PROJECTIONS, LAYER_SHAPES, TARGET_SETS, lora_budget_figure, peft_count, peft_lora_config,
                         rank_explorer, rank_figure, training_bytes)
from course.models import causal_lm_path
from course.training import trainable_parameters

SMOL_PARAMS = 134_515_008


@pytest.fixture(scope="module")
def counts():
    config = AutoConfig.from_pretrained(causal_lm_path("smollm2-135m-instruct"))
    return config, {name: peft_count(config, targets) for name, targets in TARGET_SETS.items()}


def test_peft_count_is_peft_at_every_rank(counts):
    config, by_name = counts
    assert 8 * by_name["q, v"].per_rank == 460_800 and 8 * by_name["all 7 projections"].per_rank == 2_442_240
    for r in (3, 16):
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        trainable, total = trainable_parameters(get_peft_model(model, peft_lora_config(r=r, targets=ALL_PROJECTIONS)))
        assert trainable == r * by_name["all 7 projections"].per_rank
        assert total - trainable == by_name["all 7 projections"].base == SMOL_PARAMS


def test_training_bytes_counts_16_per_trainable_parameter():
    assert sum(training_bytes(0, 1000).values()) == 16_000
    assert training_bytes(10_000, 100, frozen_bytes=2) == {"weights": 20_400, "gradients": 400, "AdamW state": 800}


def test_budget_figure_states_the_controls_and_its_numbers(counts):
    _, by_name = counts
    fig = lora_budget_figure(counts=by_name, targets="q, v", r=8)
    assert fig.layout.title.text.startswith("r = 8: 460,800 trainable (0.34%) on q, v")
    lora, full = (sum(bar.y[i] for bar in fig.data if bar.type == "bar") for i in (0, 1))
    assert lora == pytest.approx((SMOL_PARAMS * 4 + 460_800 * 16) / 1e6) and full == pytest.approx(SMOL_PARAMS * 16 / 1e6)
    assert lora_budget_figure(counts=by_name, targets="all 7 projections", r=16).layout.title.text.startswith(
        "r = 16: 4,884,480 trainable")


def test_rank_explorer_keeps_its_controls_and_uses_the_students_count():
    controls = rank_explorer(lambda d_in, d_out, r: r * (d_in + d_out)).children[0].children
    assert [c.description for c in controls] == ["layer", "r"]
    assert (controls[1].value, controls[1].min, controls[1].max) == (8, 1, 64)
    fig = rank_figure(layer=list(LAYER_SHAPES)[0], r=4, param_count=lambda d_in, d_out, r: 7)
    assert list(fig.data[0].y) == [576 * 576, 7] and "r = 4" in fig.layout.title.text
