"""course.lessons.prefix_tuning against peft, and the counts lesson 04 quotes (SmolLM2-135M, 10 virtual tokens)."""

from __future__ import annotations

import random

import pytest
import torch
from peft import PromptTuningConfig, PromptTuningInit, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from course.models import causal_lm_path
from course.lessons.prefix_tuning import comparison_table, kv_shape, peft_prefix_config, prefix_counts, prefix_figure

SMOL_PREFIX_10 = 115_200  # 10 tokens x 30 layers x 2 x (3 kv heads x 64)
SMOL_PREFIX_10_PROJECTION_512 = 6_010_496  # 10 x 192 + (192 x 512 + 512) + (512 x 11,520 + 11,520)
SMOL_PROMPT_10 = 5_760  # 10 x 576
TINY = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                   num_key_value_heads=2, vocab_size=64)


@pytest.fixture(scope="module")
def smol_config():
    return AutoConfig.from_pretrained(causal_lm_path("smollm2-135m-instruct"))


def test_kv_shape_is_sized_by_the_key_value_heads(smol_config):
    assert kv_shape(smol_config) == (30, 3, 64)
    assert smol_config.hidden_size == 576 and smol_config.num_attention_heads == 9
    assert kv_shape(TINY) == (3, 2, 8)


@pytest.mark.parametrize("projection, expected", [(None, SMOL_PREFIX_10), (512, SMOL_PREFIX_10_PROJECTION_512)])
def test_peft_counts_the_lesson_quotes(smol_config, projection, expected):
    torch.manual_seed(0)
    peft_model = get_peft_model(AutoModelForCausalLM.from_config(smol_config), peft_prefix_config(10, projection))
    assert peft_model.get_nb_trainable_parameters()[0] == expected
    assert peft_model.peft_config["default"].token_dim == 192  # not the hidden size 576


def test_prompt_tuning_count_the_lab_compares(smol_config):
    config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=10, prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB)
    peft_model = get_peft_model(AutoModelForCausalLM.from_config(smol_config), config)
    assert peft_model.get_nb_trainable_parameters()[0] == SMOL_PROMPT_10


def test_peft_prefix_config_starts_at_zero():
    peft_model = get_peft_model(LlamaForCausalLM(TINY), peft_prefix_config(4))
    assert torch.count_nonzero(peft_model.prompt_encoder["default"].embedding.weight) == 0
    projected = get_peft_model(LlamaForCausalLM(TINY), peft_prefix_config(4, 16)).prompt_encoder["default"]
    assert projected.prefix_projection and projected.transform[0].out_features == 16
    assert torch.count_nonzero(projected.transform[2].weight) == 0  # zero output: the prefix starts at zero too


def test_comparison_table_has_one_row_per_method():
    runs = [{"method": m, "trainable_params": n, "val_loss_before": 4.2, "val_loss_after": 3.1, "losses": [4.0, 3.0],
             "seconds_per_step": 1.5, "grumpy_rate": 0.5} for m, n in [("prompt tuning", 5760), ("prefix tuning", 115200)]]
    lines = comparison_table(runs).splitlines()
    assert len(lines) == 4 and lines[2].startswith("prompt tuning") and "115,200" in lines[3] and "50%" in lines[3]


def test_prefix_counts_are_peft_counts(smol_config):
    assert prefix_counts(smol_config, 10, 512) == {
        "prompt tuning": SMOL_PROMPT_10, "prefix tuning": SMOL_PREFIX_10,
        "prefix sized by the hidden size (no GQA)": 10 * 30 * 2 * 576, "prefix + projection (512)": SMOL_PREFIX_10_PROJECTION_512}
    random.seed(0)
    for _ in range(3):
        n, hidden = random.randint(1, 40), random.randint(2, 64)
        counts = prefix_counts(TINY, n, hidden)
        torch.manual_seed(0)
        peft = [get_peft_model(LlamaForCausalLM(TINY), config).get_nb_trainable_parameters()[0] for config in
                (PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n), peft_prefix_config(n),
                 peft_prefix_config(n, hidden))]
        assert [counts["prompt tuning"], counts["prefix tuning"], counts[f"prefix + projection ({hidden})"]] == peft, (n, hidden)


def test_prefix_figure_states_the_ratios(smol_config):
    fig = prefix_figure(10, 512, smol_config, 134_515_008)
    assert fig.layout.title.text == ("10 virtual tokens: prefix 115,200 = 20x prompt tuning; "
                                     "projection 512: 6,010,496 = 52x the prefix")
    assert list(fig.data[0].y) == [5_760, 115_200, 345_600, 6_010_496, 134_515_008] and fig.layout.yaxis.type == "log"
    assert prefix_figure(40, 64, smol_config, 134_515_008).layout.title.text.startswith("40 virtual tokens: prefix 460,800")
