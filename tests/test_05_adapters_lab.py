"""The adapters lab (lesson 05) runs as a learner opens it, in the smoke profile, and shows what it says.

Smoke sizes (course.lessons.adapters.SIZES["smoke"]): 3 steps of 8 requests per method, accuracy on 32 test
requests, latency as the median of 5 timed passes per model.
"""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab
from test_05_adapters import MINILM, MINILM_ADAPTERS_RF16, MINILM_HEAD, MINILM_LORA_R8


def test_adapters_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("05-adapters")
    assert has_plot(outputs), "no plot"
    assert has_widget(outputs, "Dropdown(description='model'"), "no share explorer"
    assert round(100 * results["bert_base_share_m64"], 2) == 2.17
    assert round(100 * results["bert_large_share_m64"], 2) == 1.89
    runs = results["runs"]
    assert list(runs) == ["head only", "adapters", "LoRA", "full fine-tuning"]
    expected = {"head only": MINILM_HEAD, "adapters": MINILM_ADAPTERS_RF16 + MINILM_HEAD,
                "LoRA": MINILM_LORA_R8 + MINILM_HEAD, "full fine-tuning": MINILM}
    for method, run in runs.items():
        assert run["trainable"] == expected[method], method
        assert abs(run["share"] - expected[method] / MINILM) < 1e-9
        assert run["frozen_changed"] == 0, method
    assert results["merge_max_abs_diff"] < 1e-4
    for table in results["latency_ms"].values():
        assert list(table) == ["plain model", "adapters", "LoRA (not merged)", "LoRA merged"]
    assert "merged LoRA: a plain BertForSequenceClassification" in text
    macs = results["encoder_macs_per_token"]
    assert macs == {"plain model": 10_616_832, "adapters": 10_838_016, "LoRA (not merged)": 10_690_560,
                    "LoRA merged": 10_616_832}
