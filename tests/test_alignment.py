"""course.alignment: the batches the exercise trains on, the reward scorer, the stage comparison."""

from __future__ import annotations

import pytest
import torch

from course.alignment import (RewardScorer, compare_stages, load_preferences, load_reward_model, preference_batch,
                              shown_labels)
from course.models import load_causal_lm
from course.training import chat_prompt

ROWS = load_preferences("validation")[:3]


@pytest.fixture(scope="module")
def smollm2():
    return load_causal_lm("smollm2-135m-instruct")


def test_preference_batch_puts_chosen_first_after_the_prompt(smollm2):
    _, tokenizer = smollm2
    batch = preference_batch(tokenizer, ROWS, max_len=512)
    assert batch["input_ids"].shape == batch["attention_mask"].shape and batch["input_ids"].shape[0] == 6
    for i, (key, row) in enumerate([(k, r) for k in ("chosen", "rejected") for r in ROWS]):
        n = int(batch["attention_mask"][i].sum())
        assert batch["attention_mask"][i, :n].all() and not batch["attention_mask"][i, n:].any(), "right padding"
        prompt_len = int(batch["prompt_lengths"][i])
        ids = batch["input_ids"][i].tolist()
        assert tokenizer.decode(ids[:prompt_len]) == chat_prompt(tokenizer, row["prompt"])
        assert tokenizer.decode(ids[prompt_len:n]) == row[key] + tokenizer.eos_token


def test_preference_batch_truncates_to_max_len(smollm2):
    _, tokenizer = smollm2
    batch = preference_batch(tokenizer, ROWS, max_len=20)
    assert batch["input_ids"].shape[1] == 20 and (batch["prompt_lengths"] == 20).all()


def test_shown_labels_hides_masked_positions(smollm2):
    _, tokenizer = smollm2
    ids = tokenizer("Hello world again", add_special_tokens=False)["input_ids"]
    assert shown_labels(tokenizer, ids, [-100] + ids[1:]) == "·" + tokenizer.decode(ids[1:])


def test_reward_scorer_is_a_trl_reward_function():
    model, tokenizer = load_reward_model()
    scorer = RewardScorer(model, tokenizer, batch_size=2)
    requests, replies = [r["prompt"] for r in ROWS], [r["chosen"] for r in ROWS]
    scores = scorer.score(requests, replies)
    assert scores.shape == (3,) and torch.isfinite(scores).all()
    as_trl = scorer(prompts=None, completions=[[{"role": "assistant", "content": a}] for a in replies], request=requests)
    assert torch.allclose(torch.tensor(as_trl), scores, atol=1e-6), "batching and the chat format change nothing"
    assert scorer.score(requests[:1], replies[:1]).item() == pytest.approx(scores[0].item(), abs=1e-5)


def test_compare_stages_counts_ties_as_half(smollm2):
    model, tokenizer = smollm2
    model_rm, rm_tokenizer = load_reward_model()
    summary, replies = compare_stages({"a": model, "b": model}, tokenizer, RewardScorer(model_rm, rm_tokenizer),
                                      ROWS[:2], max_new_tokens=4, baseline="a")
    assert replies["a"] == replies["b"] and len(replies["a"]) == 2
    assert [row["win rate vs a"] for row in summary] == [0.5, 0.5]


def test_hub_preferences_offline_say_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="leave hub_id=None to use the bundled"):
        load_preferences("train", hub_id="no-such-user/no-such-preferences")
