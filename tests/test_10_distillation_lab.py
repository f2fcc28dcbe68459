"""The distillation lab (lesson 10) runs as a learner opens it, in the smoke profile, and shows what it says."""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab
from test_10_distillation import SMOL_PARAMS


def test_distillation_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("10-distillation")
    assert has_plot(outputs), "no plot"
    assert has_widget(outputs, "FloatSlider("), "no temperature explorer"
    assert results["params"]["teacher"] == SMOL_PARAMS
    assert results["student_layers"] == [0, 1, 28, 29]
    assert results["params"]["student"] == SMOL_PARAMS - 26 * 3_540_096
    assert abs(results["megabytes"]["teacher"] - SMOL_PARAMS * 4 / 1e6) < 0.1
    assert results["teacher_val_loss"] < results["teacher_val_loss_before"], "fine-tuning taught the teacher the domain"
    assert results["teacher_vs_cache"]["kl"] < 1e-4 and results["teacher_vs_cache"]["agreement"] > 0.95
    start = results["student_at_start"]
    assert start["loss"] > 10.8, "cutting 26 layers leaves a student worse than uniform guessing"
    runs = results["runs"]
    assert list(runs) == ["CE only", "CE + KL"] and [r["seed"] for r in runs["CE + KL"]] == [0, 1]
    for run in runs["CE only"] + runs["CE + KL"]:
        assert run["loss"] < start["loss"] - 1 and run["kl"] < start["kl"] - 1, run
    for ce, kd in zip(runs["CE only"], runs["CE + KL"]):  # the KL term pulls the student toward the teacher
        assert kd["kl"] < 0.9 * ce["kl"], (ce, kd)
    assert results["kd_minus_ce"]["kl"] < 0 and results["kd_minus_ce_sd"]["kl"] > 0, "two seeds give a spread"
    ms = results["ms_per_token"]
    assert ms["student, CE + KL"] < ms["teacher (30 layers)"] and results["speedup"] > 1
    assert "T=2.0: top token" in text and "faster per token" in text
