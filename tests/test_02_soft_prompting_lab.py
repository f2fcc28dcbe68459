"""The soft-prompting lab (lesson 02) runs as a learner opens it, in the smoke profile, and shows what it says.

Smoke: 4 test requests (2 weather), 24 new tokens; the settings zero-shot and system + k-shot for
k = 0, 1, 2, 4; three injections and no injection, without and with the delimiter defence.
"""

from __future__ import annotations

from labs import has_plot, has_widget, run_lab


def test_soft_prompting_lab_runs_and_shows_its_results():
    text, outputs, results = run_lab("02-soft-prompting")
    assert has_plot(outputs), "no plot"
    assert has_widget(outputs, "IntSlider("), "no prompt-cost explorer"
    assert results["n_cases"] == 4 and results["max_new_tokens"] == 24
    settings = {r["setting"]: r for r in results["settings"]}
    assert list(settings) == ["zero-shot", "system + 0-shot", "system + 1-shot", "system + 2-shot", "system + 4-shot"]
    tokens = [settings[f"system + {k}-shot"]["prompt tokens"] for k in (0, 1, 2, 4)]
    assert tokens == sorted(tokens) and tokens[-1] - tokens[0] > 300, "each example costs about 100 tokens"
    assert settings["zero-shot"]["prompt tokens"] < tokens[0]
    parts = results["prompt_token_parts"]
    assert [round(sum(p[k] for p in parts.values()), 6) for k in (0, 1, 2, 4)] == [round(t, 6) for t in tokens]
    for row in settings.values():  # strict compliance needs both parts
        assert row["strict compliance"] <= min(row["right decision"], row["acknowledges"]), row
    # measured with 1 and with 2 threads: 1-shot 2 of 4 right, 4-shot 0; the role injection 2 of 2 behind the defence
    assert settings["system + 4-shot"]["right decision"] <= settings["system + 1-shot"]["right decision"] - 0.5, \
        "on a 135M model more examples do not buy more right decisions"
    assert set(results["injection"]) == {f"{m}/{a}" for m in ("plain", "defended")
                                         for a in ("none", "ignore", "role", "escape")}
    injection = results["injection"]
    assert injection["defended/role"] >= injection["defended/none"] + 0.5, "the role injection beats the defence"
    assert "You are a helpful AI assistant named SmolLM" in text, "the template's default system prompt is shown"
    assert "<request>" in text
