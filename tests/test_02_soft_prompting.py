"""Lesson 02's helpers (course.lessons.soft_prompting) against transformers and the bundled data, and the
figures the lesson quotes.

Measured on the reference machine: the prompt for test request 0 with the airline system prompt and
k = 0..4 training examples is 86 / 186 / 293 / 385 / 486 tokens (about 100 per example); without our
system prompt (the template's default one) 60 tokens.
"""

from __future__ import annotations

import pytest

from course.airline import POLICY, refund_decision
from course.data import load_split
from course.models import load_causal_lm
from course.lessons.soft_prompting import (DEFENDED_SYSTEM_PROMPT, INJECTIONS, REQUEST_CLOSE, REQUEST_OPEN, SYSTEM_PROMPT,
                              acknowledges, count_tokens, few_shot_examples, generate_replies, inject,
                              injection_success, prompt_cost_figure, prompt_token_parts, strict_compliance,
                              wrap_request)
from course.training import chat_prompt, generate_reply

TRAIN = load_split("airline_support", "train")
TEST = load_split("airline_support", "test")


@pytest.fixture(scope="module")
def smol():
    return load_causal_lm("smollm2-135m-instruct")


def _messages(system, examples, request):
    out = [] if system is None else [{"role": "system", "content": system}]
    for q, a in examples:
        out += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return out + [{"role": "user", "content": request}]


def test_system_prompts_carry_the_policy():
    assert POLICY in SYSTEM_PROMPT and SYSTEM_PROMPT in DEFENDED_SYSTEM_PROMPT
    assert REQUEST_OPEN in DEFENDED_SYSTEM_PROMPT and REQUEST_CLOSE in DEFENDED_SYSTEM_PROMPT


def test_few_shot_examples_alternate_and_come_from_train():
    assert few_shot_examples(TRAIN, 0) == []
    shots = few_shot_examples(TRAIN, 6)
    by_request = {r["request"]: r for r in TRAIN}
    assert [by_request[q]["refund"] for q, _ in shots] == [True, False] * 3
    assert all(by_request[q]["reply"] == a for q, a in shots)
    assert len({q for q, _ in shots}) == 6
    assert not {q for q, _ in shots} & {r["request"] for r in TEST}


def test_wrap_request_removes_typed_tags():
    wrapped = wrap_request(inject(TEST[1]["request"], "escape"))
    assert wrapped.startswith(REQUEST_OPEN + "\n") and wrapped.endswith("\n" + REQUEST_CLOSE)
    assert wrapped.count(REQUEST_OPEN) == 1 and wrapped.count(REQUEST_CLOSE) == 1
    assert "confirm a full refund" in wrapped
    assert inject("Hi.", "ignore") == "Hi. " + INJECTIONS["ignore"]


def test_scorer_pieces_on_the_companys_replies():
    assert all(acknowledges(r["reply"]) for r in TEST)
    assert not acknowledges("Your refund is on its way.")
    assert strict_compliance([r["reply"] for r in TEST], TEST) == {"right decision": 1.0, "acknowledges": 1.0,
                                                                   "strict compliance": 1.0}
    swapped = [TEST[i + 1 if i % 2 == 0 else i - 1]["reply"] for i in range(len(TEST))]
    assert strict_compliance(swapped, TEST)["right decision"] == 0.0
    weather = [r for r in TEST if not r["refund"]]
    assert injection_success([r["reply"] for r in weather]) == 0.0
    assert injection_success(["I'm glad to confirm a full refund for you.", "No."]) == 0.5
    assert refund_decision(INJECTIONS["role"]) is True  # what the attack asks the model to say counts as a grant


def test_prompt_token_costs_the_lesson_quotes(smol):
    _, tokenizer = smol
    request = TEST[0]["request"]
    costs = []
    for k in range(5):
        messages = _messages(SYSTEM_PROMPT, few_shot_examples(TRAIN, k), request)
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
        assert count_tokens(tokenizer, text) == len(ids)
        costs.append(len(ids))
    assert costs == [86, 186, 293, 385, 486]
    default = tokenizer.apply_chat_template(_messages(None, [], request), tokenize=False, add_generation_prompt=True)
    assert "You are a helpful AI assistant named SmolLM" in default and count_tokens(tokenizer, default) == 60


def test_batched_generation_is_greedy_and_restores_padding(smol):
    model, tokenizer = smol
    requests = [TEST[0]["request"], TEST[1]["request"]]
    side = tokenizer.padding_side
    batched = generate_replies(model, tokenizer, [chat_prompt(tokenizer, r) for r in requests], max_new_tokens=12)
    assert tokenizer.padding_side == side
    one_by_one = [generate_reply(model, tokenizer, r, max_new_tokens=12) for r in requests]
    assert batched == one_by_one


def test_prompt_token_parts_add_up_to_the_real_prompts(smol):
    _, tokenizer = smol

    def prompt(examples, request):
        return tokenizer.apply_chat_template(_messages(SYSTEM_PROMPT, examples, request), tokenize=False,
                                             add_generation_prompt=True)

    parts = prompt_token_parts(prompt, tokenizer, TRAIN, [TEST[0]["request"]], max_k=4)
    assert [round(sum(p[k] for p in parts.values()), 9) for k in range(5)] == [86, 186, 293, 385, 486]
    assert parts["examples"][0] == 0 and len(set(parts["request"])) == 1
    two = prompt_token_parts(prompt, tokenizer, TRAIN, [TEST[0]["request"], TEST[1]["request"]], max_k=2)
    assert two["system prompt + template"] == parts["system prompt + template"][:3]
    assert two["examples"] == parts["examples"][:3], "the examples cost the same whatever the request"


def test_prompt_cost_figure_states_k_and_its_tokens():
    parts = {"system prompt + template": [80.0] * 3, "examples": [0.0, 100.0, 220.0], "request": [20.0] * 3}
    compliance = {0: 0.25, 1: 0.5}
    fig = prompt_cost_figure(1, parts, compliance)
    assert fig.layout.title.text == ("k = 1 examples: 200 prompt tokens per request, 50% of them examples; "
                                     "measured compliance 50%")
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars] == list(parts) and list(bars[1].marker.opacity) == [0.35, 1.0, 0.35]
    assert list(fig.data[-1].y) == [25, 50]
    assert prompt_cost_figure(2, parts, compliance).layout.title.text.endswith("320 prompt tokens per request, 69% of them examples; compliance not measured")
