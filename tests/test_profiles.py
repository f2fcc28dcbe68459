"""Profiles: auto-detected, overridable by COURSE_PROFILE, unknown names rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course.profiles import PROFILES, detect, get_profile


def test_env_var_chooses(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    assert get_profile().name == "cpu"
    assert get_profile("smoke").name == "smoke"  # an explicit name wins


def test_detected_without_env(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    import torch

    assert get_profile().name == detect() == ("gpu" if torch.cuda.is_available() else "cpu")


def test_unknown_profile(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        get_profile()


def test_profiles_only_change_sizes():
    assert PROFILES["smoke"].steps < PROFILES["cpu"].steps < PROFILES["gpu"].steps
    assert {p.device for p in PROFILES.values()} == {"cpu", "cuda"}


def test_verbose_says_which(capsys):
    get_profile("smoke", verbose=True)
    assert "profile: smoke" in capsys.readouterr().out


def test_device_summary_names_the_card_its_memory_and_compute_capability(monkeypatch):
    from types import SimpleNamespace

    from course.profiles import device_summary

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_summary() == "GPU: none"
    t4 = SimpleNamespace(name="Tesla T4", total_memory=15_828_320_256, major=7, minor=5)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: t4)
    assert device_summary() == "GPU: Tesla T4, 14.7 GiB, compute capability 7.5"


# (name, torch.cuda.get_device_properties(0).total_memory, compute capability) of real cards
CARDS = [("Tesla T4", 15_828_320_256, (7, 5)), ("NVIDIA L4", 23_580_639_232, (8, 9)),
         ("NVIDIA A100-SXM4-40GB", 42_298_834_944, (8, 0)), ("NVIDIA H100 80GB HBM3", 85_045_870_592, (9, 0))]


@pytest.mark.parametrize("name, memory, capability", CARDS)
def test_each_card_gets_a_profile_its_labs_fit(name, memory, capability):
    from course.profiles import memory_plan, profile_for_gpu

    profile = profile_for_gpu(memory, capability)
    expected = {"Tesla T4": ("16 GB", "smollm2-360m-instruct", torch.float16, "fp16-mixed", True),
                "NVIDIA L4": ("24-48 GB", "smollm2-360m-instruct", torch.bfloat16, "bf16-mixed", False),
                "NVIDIA A100-SXM4-40GB": ("24-48 GB", "smollm2-360m-instruct", torch.bfloat16, "bf16-mixed", False),
                "NVIDIA H100 80GB HBM3": ("80 GB", "smollm2-1.7b-instruct", torch.bfloat16, "bf16-mixed", False)}
    assert (profile.card, profile.model, profile.dtype, profile.precision, profile.checkpointing) == expected[name]
    assert profile.name == "gpu" and profile.device == "cuda"
    plan = memory_plan(profile)
    assert len(plan) == 11 and all(lab[:2].isdigit() for lab in plan)
    assert max(plan.values()) < 0.92 * memory, {lab: round(b / 1e9, 1) for lab, b in plan.items()}


def test_full_fine_tuning_of_the_big_model_does_not_fit_the_middle_class():
    """Why the 24-48 GB class trains SmolLM2-360M: the 80 GB profile's own plan exceeds a 48 GB card."""
    from course.profiles import memory_plan

    assert memory_plan(PROFILES["gpu"])["01-full-fine-tuning"] > 0.92 * 48e9


def test_the_16_gb_class_needs_checkpointing():
    from dataclasses import replace

    from course.profiles import memory_plan, profile_for_gpu

    t4 = profile_for_gpu(15_828_320_256, (7, 5))
    assert memory_plan(replace(t4, checkpointing=False))["01-full-fine-tuning"] > 0.92 * 15_828_320_256
    assert memory_plan(t4)["01-full-fine-tuning"] < 0.7 * 15_828_320_256


def test_on_a_gpu_the_profile_is_sized_for_the_card_and_says_so(monkeypatch, capsys):
    from types import SimpleNamespace

    t4 = SimpleNamespace(name="Tesla T4", total_memory=15_828_320_256, major=7, minor=5)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: t4)
    monkeypatch.setattr("course.profiles.with_reachable_model", lambda profile: profile)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    profile = get_profile(verbose=True)
    assert (profile.model, profile.precision) == ("smollm2-360m-instruct", "fp16-mixed")
    out = capsys.readouterr().out
    assert "card class 16 GB (Tesla T4, 14.7 GiB, compute capability 7.5)" in out and "precision=fp16-mixed" in out


def test_an_unreachable_gpu_model_falls_back_to_the_offline_one_in_one_line(monkeypatch, capsys):
    from course import models
    from course.profiles import with_reachable_model

    def unreachable(name):
        raise models.ModelUnavailable(f"model {name!r} is not in the cache")

    monkeypatch.setattr(models, "causal_lm_path", unreachable)
    profile = with_reachable_model(PROFILES["gpu"])
    assert profile.model == "smollm2-135m-instruct"
    assert (profile.batch_size, profile.max_len, profile.steps) == (16, 256, 200), "the gpu sizes stay"
    out = capsys.readouterr().out
    assert out == ("smollm2-1.7b-instruct cannot be loaded (not cached, hub unreachable): "
                   "using the offline smollm2-135m-instruct at the gpu sizes\n")
    monkeypatch.setattr(models, "causal_lm_path", lambda name: Path("/cached"))
    assert with_reachable_model(PROFILES["gpu"]) == PROFILES["gpu"]
