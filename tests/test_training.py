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


def _weight_of(value: float, dtype: torch.dtype) -> torch.nn.Linear:
    layer = torch.nn.Linear(1, 1, bias=False).to(dtype)
    with torch.no_grad():
        layer.weight.fill_(value)
    return layer


def test_bf16_mixed_keeps_a_small_update_in_float32_master_weights():
    """0.5 - 1e-5 rounds to 0.5 in bf16 (its step is 2e-3 there); float32 master weights keep the update."""
    layer = _weight_of(0.5, torch.bfloat16)
    x = torch.ones(1, 1)
    losses = train(layer, [{}], steps=1, lr=1e-5, optimizer_class=torch.optim.SGD, precision="bf16-mixed",
                   batch_loss=lambda i: layer(x).sum())
    assert layer.weight.dtype == torch.float32
    assert abs(layer.weight.item() - (0.5 - 1e-5)) < 1e-7, layer.weight.item()
    assert losses == [0.5]
    plain = _weight_of(0.5, torch.bfloat16)  # what AdamW or SGD on the bf16 weight itself does
    plain(x.bfloat16()).sum().backward()
    torch.optim.SGD(plain.parameters(), lr=1e-5).step()
    assert plain.weight.item() == 0.5


def test_mixed_precision_computes_in_16_bits_and_lowers_the_loss(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    for precision in ("bf16-mixed", "fp16-mixed"):
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tokenizer)))
        seen = []
        model.model.layers[0].mlp.down_proj.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        batches = make_batches(tokenizer, [{"request": "Say hi", "reply": "Hi there."}] * 4, 2, 64, seed=0)
        before = eval_loss(model, batches)
        seen.clear()
        train(model, batches, steps=30, lr=1e-2, precision=precision)
        assert len(seen) == 30 and set(seen) == {torch.bfloat16 if precision == "bf16-mixed" else torch.float16}, seen
        assert eval_loss(model, batches) < 0.5 * before, precision
        assert all(p.dtype == torch.float32 for p in model.parameters())


def test_accumulation_averages_the_micro_batches_into_one_step():
    layer = _weight_of(1.0, torch.float32)
    xs = [torch.full((1, 1), 2.0), torch.full((1, 1), 4.0)]
    losses = train(layer, [{}, {}], steps=1, lr=0.1, optimizer_class=torch.optim.SGD, accumulation=2,
                   batch_loss=lambda i: layer(xs[i]).sum() * 0.1)
    # d/dw of the mean loss: (0.2 + 0.4) / 2 = 0.3 (norm under the clip of 1), one step of 0.1
    assert abs(layer.weight.item() - (1.0 - 0.1 * 0.3)) < 1e-6 and abs(losses[0] - 0.3) < 1e-6


def test_checkpointing_recomputes_each_layer_and_trains_the_same(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    batches = make_batches(tokenizer, [{"request": "Say hi", "reply": "Hi there."}] * 4, 2, 64, seed=0)
    runs = {}
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tokenizer)))
        calls = []
        model.model.layers[0].mlp.act_fn.register_forward_hook(lambda m, i, o: calls.append(1))
        losses = train(model, batches, steps=5, lr=1e-2, checkpointing=checkpointing)
        runs[checkpointing] = (losses, len(calls), model)
    assert runs[False][1] == 5 and runs[True][1] == 10, "with checkpointing a layer runs again in backward"
    assert max(abs(a - b) for a, b in zip(runs[False][0], runs[True][0])) < 1e-5
    assert not runs[True][2].is_activation_checkpointing, "switched off after training"


def test_train_refuses_an_unknown_precision_or_accumulation():
    layer = _weight_of(1.0, torch.float32)
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        train(layer, [{}], steps=1, lr=0.1, precision="fp8", batch_loss=lambda i: layer(torch.ones(1, 1)).sum())
    with pytest.raises(ValueError, match="accumulation must be at least 1"):
        train(layer, [{}], steps=1, lr=0.1, accumulation=0, batch_loss=lambda i: layer(torch.ones(1, 1)).sum())


def test_prefix_tuned_generation_matches_a_loop_over_the_prefix_cache():
    """peft's generate misplaces a prefix on transformers 5.24 (with or without the cache); generate_reply does not."""
    from peft import get_peft_model

    from course.lessons.prefix_tuning import peft_prefix_config

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
