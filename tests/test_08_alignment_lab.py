"""The alignment lab (lesson 08) runs as a learner opens it, in the smoke profile, and shows what it says.

Measured with seed 0 on the reference machine (smoke: SFT, reward model and DPO 6 steps, RLOO 2 steps):
60 of 96 tokens of the first SFT example masked; SFT loss 3.103 -> 2.424; reward model held-out
accuracy 0.92 on 60 pairs; DPO reward margin 0.000 -> 0.20, held-out implicit-reward accuracy 0.78.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from labs import has_plot, has_widget, run_lab

from course.lessons.alignment_stability import read

from course.data import load_split
from course.models import load_causal_lm
from course.training import chat_prompt


def test_alignment_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("08-alignment")
    assert has_plot(outputs), "no plot"
    assert has_widget(outputs, "FloatSlider("), "no beta explorer"
    assert results["dpo_pair_margin_mean"] == pytest.approx(results["dpo_pair_margin_trl"], rel=1e-4), \
        "the explorer's margins, measured one pair at a time, average to TRL's margin on the same pairs"
    _, tokenizer = load_causal_lm("smollm2-135m-instruct")
    first = load_split("airline_support", "train")[0]
    prompt_tokens = len(tokenizer(chat_prompt(tokenizer, first["request"]), add_special_tokens=False)["input_ids"])
    assert results["sft_masked_tokens"] == prompt_tokens < results["sft_tokens"], "exactly the chat prompt is masked"
    assert "·" * prompt_tokens in text
    assert results["sft_loss_last"] < results["sft_loss_first"] - 0.3, "SFT learns the replies (3.103 -> 2.424)"
    assert results["rm_test_accuracy"] >= 0.75
    assert results["dpo_margin_first"] == 0, "at the first step the policy is the reference"
    assert results["dpo_margin_last"] > 0
    assert results["dpo_test_accuracy"] > 0.5, "DPO's implicit reward ranks held-out pairs better than chance"
    assert results["rl_kl_last"] != 0, "RL moved the policy away from the SFT model"
    assert set(results["stage_seconds"]) == {"sft", "reward", "rl", "dpo", "compare"}
    rows = {r["model"]: r for r in results["comparison"]}
    assert list(rows) == ["before SFT", "SFT", "SFT + RL", "SFT + DPO"]
    assert rows["SFT"]["win rate vs SFT"] == 0.5
    stored_runs = len(read(ROOT / "solutions" / "08-alignment" / "results", "cpu")[0]) - 1
    assert results["stability_runs"] == stored_runs, "section 6 reads every stored run"
