"""Run profiles: one notebook, three sizes (smoke / cpu / gpu).

The profile is read from the environment variable `COURSE_PROFILE` when set, otherwise
`gpu` when CUDA is available and `cpu` when it is not. Tests and CI set `smoke`.
A profile changes sizes only, never the code path a lab takes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

ENV_VAR = "COURSE_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Sizes a lab uses; every lab reads the same fields."""

    name: str
    model: str  # a name in course.models.REGISTRY
    n_train: int  # training examples (0 = the whole split)
    n_eval: int  # validation examples used for the before / after loss
    max_len: int  # tokens per example
    batch_size: int
    steps: int  # optimizer steps
    lr: float
    max_new_tokens: int  # for the before / after generations
    dtype: torch.dtype
    device: str


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "smollm2-135m-instruct", 32, 8, 96, 4, 6, 2e-3, 24, torch.float32, "cpu"),
    "cpu": Profile("cpu", "smollm2-135m-instruct", 0, 32, 160, 8, 60, 1e-3, 64, torch.float32, "cpu"),
    "gpu": Profile("gpu", "smollm2-1.7b-instruct", 0, 60, 256, 16, 200, 2e-4, 96, torch.bfloat16, "cuda"),
}


def detect() -> str:
    """The profile name this machine should use when none is asked for."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def device_summary() -> str:
    """One line naming this machine's GPU with its memory and compute capability, or saying there is none."""
    if not torch.cuda.is_available():
        return "GPU: none"
    card = torch.cuda.get_device_properties(0)
    return (f"GPU: {card.name}, {card.total_memory / 2**30:.1f} GiB, "
            f"compute capability {card.major}.{card.minor}")


def get_profile(name: str | None = None, verbose: bool = False) -> Profile:
    """The profile `name`, else `$COURSE_PROFILE`, else the detected one."""
    chosen = name or os.environ.get(ENV_VAR) or detect()
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}: choose one of {', '.join(PROFILES)}")
    profile = PROFILES[chosen]
    if verbose:
        how = "asked for" if (name or os.environ.get(ENV_VAR)) else "detected"
        print(f"profile: {profile.name} ({how}; set {ENV_VAR}=smoke|cpu|gpu to change) "
              f"model={profile.model} steps={profile.steps} batch={profile.batch_size} "
              f"max_len={profile.max_len} device={profile.device}")
    return profile
