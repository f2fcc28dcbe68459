"""The shared training helpers: masking, padding, and a loop that learns."""

from __future__ import annotations

import pytest
import torch

from course.models import load_causal_lm
from course.training import (IGNORE, changed_weights, chat_prompt, collate, encode_pair, eval_loss, generate_reply,
                             make_batches, train, trainable_parameters, weight_fingerprints)


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


def test_prefix_tuned_generation_matches_a_loop_over_the_prefix_cache():
    """peft's generate misplaces a prefix on transformers 5.24 (with or without the cache); generate_reply does not."""
    from peft import get_peft_model

    from course.prefix_tuning import peft_prefix_config

    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    peft_model = get_peft_model(model, peft_prefix_config(4))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in peft_model.prompt_encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    request = "Can you help me with boiling an egg?"
    prompt = tokenizer(chat_prompt(tokenizer, request), add_special_tokens=False, return_tensors="pt")["input_ids"]
    ids = prompt
    with torch.no_grad():
        for _ in range(12):
            mask = torch.ones(1, 4 + ids.shape[1], dtype=torch.long)
            logits = peft_model.get_base_model()(input_ids=ids, attention_mask=mask,
                                                 past_key_values=peft_model.get_prompt(batch_size=1)).logits
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    manual = tokenizer.decode(ids[0, prompt.shape[1]:], skip_special_tokens=True).strip()
    assert generate_reply(peft_model, tokenizer, request, 12) == manual
    with torch.no_grad():
        out = peft_model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12,
                                  do_sample=False, pad_token_id=tokenizer.pad_token_id)
    # the day this fails, peft's generate handles prefixes again and greedy_tokens can use it
    assert tokenizer.decode(out[0, prompt.shape[1]:], skip_special_tokens=True).strip() != manual


def test_changed_weights_sees_one_changed_bit_and_names_it():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    before = weight_fingerprints(net)
    assert changed_weights(net, before) == []
    with torch.no_grad():
        w = net[1].weight
        w[0, 0] = torch.nextafter(w[0, 0], torch.tensor(float("inf")))  # the smallest possible change
    assert changed_weights(net, before) == ["1.weight"]
