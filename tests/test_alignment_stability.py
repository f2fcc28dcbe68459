"""Lesson 08's stability study: DPO against RLOO over seeds and learning rates (course/alignment_stability.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT
from course.alignment_stability import SIZES, read, spread

RESULTS = ROOT / "solutions" / "08-alignment" / "results"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stability")
    done = subprocess.run([sys.executable, "-m", "course.alignment_stability", "--profile", "smoke", "--out", str(out)],
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
    from course.alignment import load_reward_model

    reward_params = sum(p.numel() for p in load_reward_model()[0].parameters())
    assert rloo[0]["params_held"] - dpo[0]["params_held"] == reward_params, "RLOO also holds the reward model"
    assert "BertForSequenceClassification" in rloo[0]["models_held"] and "Bert" not in dpo[0]["models_held"]


def test_spread_is_the_mean_and_sample_deviation_per_method_and_rate():
    runs = [{"method": "dpo", "lr": 1e-3, "seed": s, "mean_reward": v, "policy_accuracy": 0.5, "replies_changed": 0.0,
             "win_rate_vs_sft": 0.5, "final_train_metric": 1.0, "s_per_step": 2.0} for s, v in enumerate([1.0, 2.0, 3.0])]
    (row,) = spread([{"method": "sft"}] + runs)
    assert (row["method"], row["lr"], row["seeds"]) == ("dpo", 1e-3, 3)
    assert row["mean_reward"] == 2.0 and row["mean_reward_sd"] == pytest.approx(1.0) and row["policy_accuracy_sd"] == 0


def test_bad_seeds_fail_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "course.alignment_stability", "--profile", "smoke", "--seeds", "0",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip() == "error: --seeds must be at least 1, not 0"
    assert not list(tmp_path.iterdir())


def test_stored_cpu_study_has_every_run():
    rows, replies = read(RESULTS, "cpu")
    size = SIZES["cpu"]
    for method, lrs in size.lrs.items():
        runs = [(r["lr"], r["seed"]) for r in rows if r["method"] == method]
        assert sorted(runs) == sorted((lr, s) for lr in lrs for s in range(size.seeds)), method
    assert all(r["n_eval"] == size.n_eval for r in rows)
    assert (ROOT / "lessons" / "08-alignment" / "results").is_dir(), "course build copies the results to the lesson"
