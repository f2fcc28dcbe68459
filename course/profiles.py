"""Run profiles: one notebook, three sizes (smoke / cpu / gpu).

The profile is read from the environment variable `COURSE_PROFILE` when set, otherwise
`gpu` when CUDA is available and `cpu` when it is not. Tests and CI set `smoke`.
A profile changes sizes only, never the code path a lab takes. On a GPU the sizes depend on the
card: `profile_for_gpu` picks the model, batch and precision for its memory and compute capability.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from course.units import GiB

ENV_VAR = "COURSE_PROFILE"
OFFLINE_MODEL = "smollm2-135m-instruct"  # the model the offline package holds


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
    dtype: torch.dtype  # the weights a lab loads; trained weights are float32 whatever this is
    device: str
    precision: str = "fp32"  # course.training.train's precision: "fp32", "bf16-mixed" or "fp16-mixed"
    checkpointing: bool = False  # gradient checkpointing in full fine-tuning (labs 01, 10, 11): memory_plan
    card: str = ""  # the class of GPU the sizes are for ("16 GB", "24-48 GB", "80 GB")


@dataclass(frozen=True)
class CardClass:
    """GPUs with less than `below_gib` of memory: the model and batch every lab fits with (see memory_plan)."""

    label: str
    below_gib: float
    model: str
    batch_size: int
    checkpointing: bool


# SmolLM2-1.7B's full fine-tuning holds 16 bytes per parameter (float32 weights, gradients and two AdamW
# moments: 27.4 GB measured on an H200, course.lessons.full_fine_tuning.GPU_MEASURED) plus its activations: about 46 GB at
# 16 x 256 tokens, too much below 60 GiB. SmolLM2-360M's takes about 16 GB, 10 GB with checkpointing.
CARD_CLASSES = (
    # T4, V100-16GB, RTX 4080
    CardClass(label="16 GB", below_gib=20, model="smollm2-360m-instruct", batch_size=8, checkpointing=True),
    # L4, A10, RTX 4090, A100-40GB, L40S, A6000
    CardClass(label="24-48 GB", below_gib=60, model="smollm2-360m-instruct", batch_size=16, checkpointing=False),
    # A100-80GB, H100, H200
    CardClass(label="80 GB", below_gib=float("inf"), model="smollm2-1.7b-instruct", batch_size=16, checkpointing=False),
)

# the smallest common card of each class (name, total_memory, capability): the plans are checked against it
REFERENCE_CARDS = {"16 GB": ("Tesla T4", 15_828_320_256, (7, 5)), "24-48 GB": ("NVIDIA L4", 23_580_639_232, (8, 9)),
                   "80 GB": ("NVIDIA A100-SXM4-80GB", 85_089_632_256, (8, 0))}

PROFILES: dict[str, Profile] = {
    "smoke": Profile(name="smoke", model=OFFLINE_MODEL, n_train=32, n_eval=8, max_len=96, batch_size=4, steps=6,
                     lr=2e-3, max_new_tokens=24, dtype=torch.float32, device="cpu"),
    "cpu": Profile(name="cpu", model=OFFLINE_MODEL, n_train=0, n_eval=32, max_len=160, batch_size=8, steps=60,
                   lr=1e-3, max_new_tokens=64, dtype=torch.float32, device="cpu"),
    # the largest class; on a machine with CUDA, get_profile("gpu") sizes it for the card (profile_for_gpu)
    "gpu": Profile(name="gpu", model="smollm2-1.7b-instruct", n_train=0, n_eval=60, max_len=256, batch_size=16,
                   steps=200, lr=2e-4, max_new_tokens=96, dtype=torch.bfloat16, device="cuda",
                   precision="bf16-mixed", card="80 GB"),
}


def card_class(total_memory_bytes: int) -> CardClass:
    """The class of a GPU with `total_memory_bytes` of memory."""
    return next(c for c in CARD_CLASSES if total_memory_bytes < c.below_gib * GiB)


def profile_for_gpu(total_memory_bytes: int, capability: tuple[int, int]) -> Profile:
    """The gpu profile sized for a card: its class's model and batch, `course.training.mixed_precision` of its
    capability (bf16 from 8.0, float16 below) and weights loaded in that 16-bit type."""
    from course.training import mixed_precision

    cls = card_class(total_memory_bytes)
    precision = mixed_precision(capability)
    return replace(PROFILES["gpu"], model=cls.model, batch_size=cls.batch_size, card=cls.label,
                   checkpointing=cls.checkpointing, precision=precision,
                   dtype=torch.bfloat16 if precision == "bf16-mixed" else torch.float16)


def memory_plan(profile: Profile) -> dict[str, int]:
    """Each lab's predicted peak GPU bytes at `profile`'s sizes (course.memory.lab_peaks)."""
    from course.memory import lab_peaks

    return lab_peaks(profile)


def detect() -> str:
    """The profile name this machine should use when none is asked for."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def device_summary() -> str:
    """One line naming this machine's GPU with its memory and compute capability, or saying there is none."""
    if not torch.cuda.is_available():
        return "GPU: none"
    card = torch.cuda.get_device_properties(0)
    return (f"GPU: {card.name}, {card.total_memory / GiB:.1f} GiB, "
            f"compute capability {card.major}.{card.minor}")


def with_reachable_model(profile: Profile) -> Profile:
    """`profile`, or, when its model is neither cached nor downloadable, the same sizes with the offline model."""
    from course.models import ModelUnavailable, causal_lm_path

    if profile.model == OFFLINE_MODEL:
        return profile
    try:
        causal_lm_path(profile.model)
    except ModelUnavailable:
        print(f"{profile.model} cannot be loaded (not cached, hub unreachable): "
              f"using the offline {OFFLINE_MODEL} at the {profile.name} sizes")
        return replace(profile, model=OFFLINE_MODEL)
    return profile


def get_profile(name: str | None = None, verbose: bool = False) -> Profile:
    """The profile `name`, else `$COURSE_PROFILE`, else the detected one; on a GPU, sized for the card."""
    chosen = name or os.environ.get(ENV_VAR) or detect()
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}: choose one of {', '.join(PROFILES)}")
    profile = PROFILES[chosen]
    if profile.device == "cuda" and torch.cuda.is_available():
        card = torch.cuda.get_device_properties(0)
        profile = with_reachable_model(profile_for_gpu(card.total_memory, (card.major, card.minor)))
    if verbose:
        how = "asked for" if (name or os.environ.get(ENV_VAR)) else "detected"
        on_card = profile.card and torch.cuda.is_available()
        card = f" card class {profile.card} ({device_summary().removeprefix('GPU: ')})" if on_card else ""
        print(f"profile: {profile.name} ({how}; set {ENV_VAR}=smoke|cpu|gpu to change){card} "
              f"model={profile.model} steps={profile.steps} batch={profile.batch_size} "
              f"max_len={profile.max_len} precision={profile.precision} device={profile.device}")
    return profile
