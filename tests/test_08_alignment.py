"""course.lessons.alignment: the batches the exercise trains on, the reward scorer, the stage comparison."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course.lessons.alignment import (RewardScorer, compare_stages, dpo_dataset, dpo_figure, load_preferences, load_reward_model,
                              pair_margins, preference_batch, quiet, shown_labels, trainer_args)
from course.models import load_causal_lm
from course.profiles import get_profile
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


def test_pair_margins_are_trls_margins_pair_by_pair(smollm2):
    """On a tiny random model with a random LoRA (so the policy differs from its reference)."""
    from peft import LoraConfig
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer

    _, tokenizer = smollm2
    torch.manual_seed(0)
    tiny = LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=1, vocab_size=len(tokenizer)))
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM")
    rows = load_preferences("validation")[:4]
    trainer = quiet(DPOTrainer(model=tiny, processing_class=tokenizer, peft_config=lora, train_dataset=dpo_dataset(rows),
                               args=trainer_args(DPOConfig, get_profile("smoke"), 1, 1e-4, beta=0.5, max_length=96)))
    margins, metrics = pair_margins(trainer, rows)
    assert margins.shape == (4,) and bool(margins.abs().min() > 0)
    assert trainer.args.per_device_eval_batch_size == 8, "the trainer's own evaluation batch is restored"
    assert metrics["eval_rewards/margins"] == pytest.approx(0.5 * float(margins.mean()), rel=1e-4)
    for i in (0, 3):  # the same pair evaluated alone gives the same margin: none is mixed up with another
        alone = trainer.evaluate(dpo_dataset(rows[i:i + 1]))["eval_rewards/margins"]
        assert alone == pytest.approx(0.5 * float(margins[i]), rel=1e-4, abs=1e-6)


def test_dpo_figure_is_the_loss_at_beta_times_each_margin():
    margins = torch.tensor([-1.0, 0.0, 2.0, 5.0])
    loss = lambda z: -F.logsigmoid(z)  # noqa: E731
    fig = dpo_figure(margins=margins, beta=0.5, loss=loss)
    expected = -F.logsigmoid(0.5 * margins)
    assert fig.layout.title.text.startswith(f"β = 0.5: mean DPO loss {float(expected.mean()):.3f} on the 4 held-out pairs")
    assert list(fig.data[2].x) == margins.tolist() and list(fig.data[2].y) == pytest.approx(expected.tolist())
    middle = len(fig.data[0].x) // 2  # the margin 0: no preference
    assert fig.data[0].x[middle] == pytest.approx(0, abs=1e-6)
    assert fig.data[0].y[middle] == pytest.approx(0.6931, abs=1e-4) and fig.data[1].y[middle] == pytest.approx(0.5)
    assert dpo_figure(margins=margins, beta=0.1, loss=loss).layout.title.text.startswith("β = 0.1: mean DPO loss 0.6")
