"""course.lessons.prompt_tuning: peft's prompt-tuning setup, the persona baselines, the nearest-token lookup.

The numbers the lesson quotes are pinned here: the source material's system prompt is 11 SmolLM2
tokens, so 11 virtual tokens x 576 = 6,336 trainable numbers; a real token embedding has a norm of
about 3, a standard-normal vector of 576 numbers about 24.
"""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model

from course.models import causal_lm_path, load_causal_lm
from course.lessons.persona import grumpy_rate
from course.plots import loss_curves
from course.lessons.prompt_tuning import (GRUMPY_SYSTEM_PROMPT, N_VIRTUAL_TOKENS, generate_persona_reply, nearest_figure,
                                  nearest_tokens, peft_prompt_tuning_config, persona_replies, prompt_vectors,
                                  token_strings)
from course.training import changed_weights, chat_prompt, generate_reply, trainable_parameters, weight_fingerprints


@pytest.fixture(scope="module")
def smollm2():
    return load_causal_lm("smollm2-135m-instruct")


def test_the_system_prompt_is_eleven_tokens(smollm2):
    _, tokenizer = smollm2
    tokens = token_strings(tokenizer, GRUMPY_SYSTEM_PROMPT)
    assert tokens == ["You", "Ġare", "Ġa", "Ġgr", "umpy", "Ġand", "Ġun", "helpful", "ĠAI", "Ġassistant", "."]
    assert N_VIRTUAL_TOKENS == len(tokens) == 11
    # peft's TEXT init tokenizes with the tokenizer's defaults: SmolLM2 adds no special token
    assert tokenizer(GRUMPY_SYSTEM_PROMPT)["input_ids"] == tokenizer(GRUMPY_SYSTEM_PROMPT, add_special_tokens=False)["input_ids"]


def test_peft_text_init_starts_at_the_system_prompt_embeddings(smollm2):
    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    before = weight_fingerprints(model)
    peft_model = get_peft_model(model, peft_prompt_tuning_config(N_VIRTUAL_TOKENS, GRUMPY_SYSTEM_PROMPT,
                                                                 causal_lm_path("smollm2-135m-instruct")))
    trainable, total = trainable_parameters(peft_model)
    assert trainable == 11 * 576 == 6_336
    assert total - trainable == sum(p.numel() for p in model.parameters()) == 134_515_008
    assert 134.4e6 < total - trainable < 134.6e6, "the lesson says about 134.5 million"
    ids = torch.tensor(tokenizer(GRUMPY_SYSTEM_PROMPT, add_special_tokens=False)["input_ids"])
    assert torch.equal(prompt_vectors(peft_model), model.get_input_embeddings()(ids).detach())
    assert changed_weights(model, before) == []


def test_peft_random_init_is_standard_normal(smollm2):
    model, _ = smollm2
    torch.manual_seed(0)
    peft_model = get_peft_model(load_causal_lm("smollm2-135m-instruct")[0], peft_prompt_tuning_config(200))
    vectors = prompt_vectors(peft_model)
    assert vectors.shape == (200, 576)
    assert abs(vectors.std().item() - 1) < 0.01 and abs(vectors.mean().item()) < 0.01
    assert 23 < vectors.norm(dim=-1).mean() < 25, "a random vector's norm, about 24"
    assert 2.5 < model.get_input_embeddings().weight.norm(dim=-1).mean() < 3.5, "a real token's, about 3"


def test_nearest_tokens_finds_the_token_itself(smollm2):
    model, tokenizer = smollm2
    embeddings = model.get_input_embeddings().weight.detach()
    ids = tokenizer(" grumpy unhelpful assistant", add_special_tokens=False)["input_ids"]
    near = nearest_tokens(embeddings[ids], embeddings, tokenizer, k=2)
    assert [row[0][0] for row in near] == tokenizer.convert_ids_to_tokens(ids)
    assert all(abs(row[0][1] - 1) < 1e-5 and row[1][1] < row[0][1] for row in near)


def test_nearest_figure_shows_the_chosen_virtual_token(smollm2):
    model, tokenizer = smollm2
    embeddings = model.get_input_embeddings().weight.detach()
    ids = tokenizer(GRUMPY_SYSTEM_PROMPT, add_special_tokens=False)["input_ids"]
    start = token_strings(tokenizer, GRUMPY_SYSTEM_PROMPT)
    torch.manual_seed(0)
    near = {"on the tokens": nearest_tokens(embeddings[ids], embeddings, tokenizer, k=8),
            "random": nearest_tokens(torch.randn(len(ids), 576), embeddings, tokenizer, k=8)}
    fig = nearest_figure(3, near, start)
    assert fig.layout.title.text.startswith("virtual token 3 (text init: 'Ġgr'), nearest now: on the tokens 'Ġgr' 1.00; random ")
    assert [list(bar.x) for bar in fig.data] == [[s for _, s in near[run][3]] for run in near]
    assert [list(bar.y) for bar in fig.data] == [[repr(t) for t, _ in near[run][3]] for run in near]
    assert "(text init: 'umpy'), nearest now: on the tokens 'umpy' 1.00" in nearest_figure(4, near, start).layout.title.text



def test_system_prompt_reaches_the_chat_template(smollm2, monkeypatch):
    model, tokenizer = smollm2
    seen = {}
    original = tokenizer.apply_chat_template

    def spy(messages, **kwargs):
        seen["messages"] = messages
        return original(messages, **kwargs)

    monkeypatch.setattr(tokenizer, "apply_chat_template", spy)
    reply = generate_persona_reply(model, tokenizer, "What is two plus two?", max_new_tokens=3, system=GRUMPY_SYSTEM_PROMPT)
    assert isinstance(reply, str) and reply
    assert seen["messages"][0] == {"role": "system", "content": GRUMPY_SYSTEM_PROMPT}


def test_without_a_system_prompt_it_is_the_shared_generate_reply(smollm2):
    model, tokenizer = smollm2
    request = "Quick question: photosynthesis?"
    assert generate_persona_reply(model, tokenizer, request, 6) == generate_reply(model, tokenizer, request, 6)


def test_prompt_tuned_generation_matches_a_manual_greedy_loop():
    """peft's cached generate is wrong for prompt tuning on transformers 5; the helper's is not."""
    model, tokenizer = load_causal_lm("smollm2-135m-instruct")
    peft_model = get_peft_model(model, peft_prompt_tuning_config(N_VIRTUAL_TOKENS, GRUMPY_SYSTEM_PROMPT,
                                                                 causal_lm_path("smollm2-135m-instruct")))
    request = "Hi there. Please tell me about how tides work."
    prompt = tokenizer(chat_prompt(tokenizer, request), add_special_tokens=False, return_tensors="pt")["input_ids"]
    ids, vectors = prompt, prompt_vectors(peft_model)[None]
    with torch.no_grad():
        for _ in range(6):
            embeds = torch.cat([vectors, model.get_input_embeddings()(ids)], dim=1)
            ids = torch.cat([ids, model(inputs_embeds=embeds).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    manual = tokenizer.decode(ids[0, prompt.shape[1]:], skip_special_tokens=True).strip()
    assert generate_persona_reply(peft_model, tokenizer, request, 6) == manual
    with torch.no_grad():
        cached = peft_model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6,
                                     do_sample=False, pad_token_id=tokenizer.pad_token_id)
    # the day this fails, peft's cached generation works again and the helper can use the cache
    assert tokenizer.decode(cached[0, prompt.shape[1]:], skip_special_tokens=True).strip() != manual


def test_persona_replies_scores_each_reply(smollm2):
    model, tokenizer = smollm2
    rows = [{"request": "Hi! How do tides work?"}, {"request": "Quick question: photosynthesis?"}]
    rate, replies = persona_replies(model, tokenizer, rows, max_new_tokens=4)
    assert len(replies) == 2 and rate == grumpy_rate(replies)
    assert replies[1] == generate_persona_reply(model, tokenizer, rows[1]["request"], 4)


def test_loss_curves_draws_one_line_per_run():
    fig = loss_curves({"a": [3.0, 2.0], "b": [4.0, 3.5, 3.0]})
    assert [t.name for t in fig.data] == ["a", "b"] and list(fig.data[1].y) == [4.0, 3.5, 3.0]
