"""The prompt-tuning lab (lesson 03) runs as a learner opens it, in the smoke profile, and shows what it says.

Smoke sizes: 32 training rows in batches of 2, 6 steps per run at lr 3e-2, 8 validation rows,
4 test requests with replies of 6 new tokens.
"""

from __future__ import annotations

from test_lab import has_plot, has_widget, run_lab


def test_prompt_tuning_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("03-prompt-tuning")
    assert has_plot(outputs), "no loss plot"
    assert has_widget(outputs, "IntSlider("), "no nearest-token explorer"
    assert results["n_virtual_tokens"] == 11
    assert results["trainable_params"] == 11 * 576 == 6_336, "peft trains the virtual tokens and nothing else"
    assert results["base_weights_unchanged"] is True
    assert results["val_loss_text_after"] < results["val_loss_text_before"], results
    assert results["val_loss_random_after"] < results["val_loss_random_before"], results
    assert results["val_loss_random_before"] > results["val_loss_text_before"], "random vectors start worse than the text"
    for key in ["grumpy_rate_base", "grumpy_rate_system_prompt", "grumpy_rate_text_after", "grumpy_rate_random_after"]:
        assert 0 <= results[key] <= 1, key
    assert 0 < results["text_cosine_to_start"] < 1, "the trained vectors moved"
    assert 0 <= results["text_vectors_nearest_is_init"] <= 11
    assert "SYSTEM PROMPT:" in text and "TUNED   :" in text and "nearest" in text
