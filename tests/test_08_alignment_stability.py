"""Lesson 08's stability study: DPO against RLOO over seeds and learning rates (course/lessons/alignment_stability.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT
from course.lessons.alignment_stability import SIZES, read, spread

RESULTS = ROOT / "solutions" / "08-alignment" / "results"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stability")
    done = subprocess.run([sys.executable, "-m", "course.lessons.alignment_stability", "--profile", "smoke", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "COURSE_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    return out, read(out, "smoke")


def test_smoke_study_writes_every_run_and_counts_what_a_step_costs(smoke_run):
    out, (rows, replies) = smoke_run
    size = SIZES["smoke"]
    assert [r["method"] for r in rows] == ["sft"] + ["dpo"] * size.seeds + ["rloo"] * size.seeds
    assert [(r["method"], r["seed"]) for r in replies] == [(r["method"], r["seed"]) for r in rows]
    assert all(len(r["replies"]) == size.n_eval for r in replies)
    dpo = [r for r in rows if r["method"] == "dpo"]
    rloo = [r for r in rows if r["method"] == "rloo"]
    # DPO: one pass of the policy and one of the reference (the adapter off) over chosen and rejected together
    assert all(r["policy_calls_per_step"] == 2 and r["reward_calls_per_step"] == 0 for r in dpo)
    # RLOO: a pass per generated token, then the policy's and the reference's log-probabilities, and the reward model
    assert all(r["policy_calls_per_step"] > 10 * 2 and r["reward_calls_per_step"] >= 1 for r in rloo)
    from course.lessons.alignment import load_reward_model

    reward_params = sum(p.numel() for p in load_reward_model()[0].parameters())
    assert rloo[0]["params_held"] - dpo[0]["params_held"] == reward_params, "RLOO also holds the reward model"
    assert "BertForSequenceClassification" in rloo[0]["models_held"] and "Bert" not in dpo[0]["models_held"]


def test_spread_is_the_mean_and_sample_deviation_per_method_and_rate():
    runs = [{"method": "dpo", "lr": 1e-3, "seed": s, "mean_reward": v, "policy_accuracy": 0.5, "replies_changed": 0.0,
             "win_rate_vs_sft": 0.5, "final_train_metric": 1.0, "s_per_step": 2.0}
            for s, v in enumerate([1.0, 2.0, 3.0])]
    (row,) = spread([{"method": "sft"}] + runs)
    assert (row["method"], row["lr"], row["seeds"]) == ("dpo", 1e-3, 3)
    assert row["mean_reward"] == 2.0 and row["mean_reward_sd"] == pytest.approx(1.0) and row["policy_accuracy_sd"] == 0


def test_stored_cpu_study_has_every_run():
    rows, replies = read(RESULTS, "cpu")
    size = SIZES["cpu"]
    for method, lrs in size.lrs.items():
        runs = [(r["lr"], r["seed"]) for r in rows if r["method"] == method]
        assert runs == [(lr, s) for lr in lrs for s in range(size.seeds)], method
    assert [(r["method"], r["seed"]) for r in replies] == [(r["method"], r["seed"]) for r in rows]
    assert all(r["n_eval"] == size.n_eval for r in rows)
    assert (ROOT / "lessons" / "08-alignment" / "results").is_dir(), "course build copies the results to the lesson"


def test_stored_cpu_study_shows_what_the_lab_says():
    rows, _ = read(RESULTS, "cpu")
    sft = rows[0]
    runs = {(r["method"], r["lr"], r["seed"]): r for r in rows[1:]}
    by_rate = {(s["method"], s["lr"]): s for s in spread(rows)}
    # DPO rewrites replies: every reply in every seed at 5e-3, and in 2 of 3 seeds at 2e-3
    assert all(runs["dpo", 5e-3, s]["replies_changed"] == 1 for s in range(3))
    assert sorted(runs["dpo", 2e-3, s]["replies_changed"] for s in range(3)) == [0, 1, 1]
    # RLOO at 3e-3: the reward model's score rises in every seed while the refund decisions do not improve
    for s in range(3):
        assert runs["rloo", 3e-3, s]["mean_reward"] >= sft["mean_reward"] + 0.5
        assert runs["rloo", 3e-3, s]["policy_accuracy"] < sft["policy_accuracy"]
    # at the higher rate RLOO collapses in every seed, DPO falls below SFT on average with the widest spread
    assert all(runs["rloo", 1e-2, s]["mean_reward"] <= sft["mean_reward"] - 3 for s in range(3))
    assert by_rate["dpo", 5e-3]["mean_reward"] <= sft["mean_reward"] - 0.5
    assert by_rate["dpo", 5e-3]["mean_reward_sd"] == max(s["mean_reward_sd"] for s in by_rate.values())
    # simpler: no reward model held, 2 forward passes of the policy network per step against dozens
    dpo, rloo = runs["dpo", 2e-3, 0], runs["rloo", 3e-3, 0]
    assert dpo["reward_calls_per_step"] == 0 and rloo["reward_calls_per_step"] == 1
    assert rloo["policy_calls_per_step"] >= 30 * dpo["policy_calls_per_step"]
    assert rloo["params_held"] - dpo["params_held"] == 22_713_601


def test_readme_quotes_the_stored_study():
    rows, _ = read(RESULTS, "cpu")
    text = (ROOT / "solutions" / "08-alignment" / "README.md").read_text()
    for s in spread(rows):
        name = f"{s['method'].upper()} {s['lr']:.0e}".replace("e-0", "e-")
        reward = f"{s['mean_reward']:.2f} ± {s['mean_reward_sd']:.2f}"
        win = f"{100 * s['win_rate_vs_sft']:.0f}% ± {100 * s['win_rate_vs_sft_sd']:.0f}"
        assert f"| {name} | {reward} | {win} |" in text, name
