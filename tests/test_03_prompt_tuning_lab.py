"""The prompt-tuning lab (lesson 03) runs as a learner opens it, in the smoke profile, and shows what it says.

Smoke sizes: 32 training rows in batches of 2, 6 steps per run at lr 3e-2, 8 validation rows,
4 test requests with replies of 6 new tokens.
"""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab


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
    assert 0 < results["text_cosine_to_start"] < 1, "the trained vectors moved"
    assert results["text_vectors_nearest_is_init"] >= 9, "vectors started from words stay nearest to those words"
    assert results["random_top_cosine"] < 0.3, "random vectors sit far from every word's embedding"
    assert "SYSTEM PROMPT:" in text and "TUNED   :" in text and "nearest" in text
