"""The full fine-tuning lab (lesson 01) runs as a learner opens it, in the smoke profile, and shows what it says.

Smoke sizes (course.lessons.full_fine_tuning.SIZES["smoke"]): memory of one step per optimizer on MiniLM, 4 full
fine-tuning steps of MiniLM, 1 step each of full fine-tuning and LoRA on SmolLM2-135M.
"""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab

from course.lessons.full_fine_tuning import INTENTS


def test_full_ft_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("01-full-fine-tuning")
    assert has_plot(outputs), "no plot"
    assert has_widget(outputs, "Dropdown(description='model'"), "no memory explorer"
    assert results["n_params_minilm"] == 22_716_296
    for name, bytes_per_param in [("sgd", 8), ("sgd_momentum", 12), ("adamw", 16)]:
        m = results["memory"][name]
        assert m["predicted"] == bytes_per_param * results["n_params_minilm"]
        assert abs(m["persistent"] - m["predicted"]) < 0.05 * m["predicted"], (name, m)
        assert m["peak"] > m["persistent"], "activations come on top"
    assert results["accuracy_before"] < 0.3, "a random head is near chance"
    assert results["accuracy_after"] > results["accuracy_before"] + 0.07, "a few steps of training beat the random head"
    forgetting = results["forgetting"]
    assert forgetting["full"]["trainable_params"] == 134_515_008
    assert forgetting["lora"]["trainable_params"] == 460_800
    for method in ("full", "lora"):
        assert forgetting[method]["airline_val_loss"] < forgetting["before"]["airline_val_loss"], method
        assert forgetting[method]["general_ppl"] > 1
    assert f"{len(INTENTS)} intents" in text and "general perplexity" in text
