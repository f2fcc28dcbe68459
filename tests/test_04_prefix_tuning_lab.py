"""The prefix-tuning lab (lesson 04) runs as a learner opens it, in the smoke profile, and shows what it says."""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab
from test_04_prefix_tuning import SMOL_PREFIX_10, SMOL_PREFIX_10_PROJECTION_512, SMOL_PROMPT_10


def test_prefix_tuning_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("04-prefix-tuning")
    assert has_plot(outputs), "no loss plot"
    assert has_widget(outputs, "IntSlider("), "no prefix-size explorer"
    assert results["prefix_trainable"] == SMOL_PREFIX_10
    assert "peft: token_dim=192, num_attention_heads=3" in text
    assert "BEFORE :" in text and "AFTER  :" in text
    runs = results["comparison"]
    assert list(runs) == ["prompt tuning", "prefix tuning", "prefix tuning + projection (512)"]
    assert [r["trainable_params"] for r in runs.values()] == [SMOL_PROMPT_10, SMOL_PREFIX_10, SMOL_PREFIX_10_PROJECTION_512]
    assert all(r["base_weights_changed"] == 0 for r in runs.values()), runs
    drop = {name: r["val_loss_before"] - r["val_loss_after"] for name, r in runs.items()}
    assert drop["prefix tuning"] > 2 * drop["prompt tuning"], ("keys and values in every layer learn faster", drop)
    # a zero prefix is not a no-op (it takes some attention), and the smoke run's six steps already lower the loss
    prefix = runs["prefix tuning"]
    assert prefix["val_loss_before"] > results["val_loss_plain_model"]
    assert prefix["val_loss_after"] < prefix["val_loss_before"], prefix
    assert runs["prefix tuning + projection (512)"]["val_loss_before"] == prefix["val_loss_before"]
    assert results["grumpy_rate_before"] == 0, "the untouched assistant is polite"
