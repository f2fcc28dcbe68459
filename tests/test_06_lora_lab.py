"""Lesson 06's lab runs as a learner opens it, in the smoke profile."""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab


def test_lora_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("06-lora")
    assert has_plot(outputs), "no loss plot"
    assert has_widget(outputs, "IntSlider("), "no rank explorer"
    assert results["trainable_params"] == 460_800
    assert results["val_loss_after"] < 0.85 * results["val_loss_before"], results
    assert results["merge_max_abs_diff"] < 1e-3
    assert "BEFORE :" in text and "AFTER  :" in text
