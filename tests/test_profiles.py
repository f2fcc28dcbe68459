"""Profiles: auto-detected, overridable by COURSE_PROFILE, unknown names rejected."""

from __future__ import annotations

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
