"""The shared training helpers: masking, padding, and a loop that learns."""

from __future__ import annotations

import pytest
import torch

from course.models import load_causal_lm
from course.training import IGNORE, collate, encode_pair, eval_loss, make_batches, train, trainable_parameters


@pytest.fixture(scope="module")
def tokenizer():
    return load_causal_lm("smollm2-135m-instruct")[1]


def test_prompt_is_masked_reply_is_kept(tokenizer):
    ex = encode_pair(tokenizer, "Where is my bag?", "It is on its way.", max_len=512)
    n_prompt = sum(label == IGNORE for label in ex["labels"])
    kept = [t for t, label in zip(ex["input_ids"], ex["labels"]) if label != IGNORE]
    assert tokenizer.decode(kept) == "It is on its way." + tokenizer.eos_token
    assert ex["labels"][:n_prompt] == [IGNORE] * n_prompt and n_prompt > 5  # the prompt comes first
    assert len(encode_pair(tokenizer, "Where is my bag?", "It is on its way.", max_len=10)["input_ids"]) == 10


def test_collate_pads_right():
    batch = collate([{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8], "labels": [8]}], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [8, IGNORE, IGNORE]]


def test_train_lowers_the_loss_of_a_tiny_model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1,
                                         vocab_size=len(tokenizer)))
    rows = [{"request": "Say hi", "reply": "Hi there."}] * 4
    batches = make_batches(tokenizer, rows, batch_size=2, max_len=64, seed=0)
    before = eval_loss(model, batches)
    losses = train(model, batches, steps=30, lr=1e-2)
    assert len(losses) == 30
    assert eval_loss(model, batches) < 0.5 * before


def test_train_refuses_a_frozen_model():
    model = torch.nn.Linear(2, 2).requires_grad_(False)
    assert trainable_parameters(model) == (0, 6)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(model, [{}], steps=1, lr=0.1)
