"""The seven methods of the comparison, each built as its own lesson builds it, and the sizes per profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from course.errors import CourseError
from course.profiles import PROFILES, Profile, get_profile


@dataclass(frozen=True)
class Sizes:
    """What one benchmark run does in a profile; the training budget is the same for every method."""

    steps: int  # optimizer steps
    batch: int  # examples per step
    max_len: int  # tokens per example (at most)
    n_val: int  # airline validation examples: the learning-rate sweep's loss
    n_eval: int  # new held-out requests for the policy accuracy (pairs: even)
    n_general: int  # general_text passages for the perplexity (0 = all 100)
    lr_factors: tuple[float, ...]  # the sweep: multiples of the method's lesson learning rate
    seeds: int  # seeds per method at the chosen learning rate


SIZES = {
    "smoke": Sizes(steps=3, batch=2, max_len=64, n_val=4, n_eval=4, n_general=4, lr_factors=(1,), seeds=2),
    "cpu": Sizes(steps=16, batch=4, max_len=128, n_val=16, n_eval=128, n_general=8, lr_factors=(1 / 3, 1, 3),
                 seeds=3),
    "gpu": Sizes(steps=200, batch=16, max_len=256, n_val=60, n_eval=256, n_general=0, lr_factors=(1 / 3, 1, 3),
                 seeds=3),
}


def _plain(profile: Profile):
    """(plain model, tokenizer) in the profile's dtype and device."""
    from course.models import load_causal_lm

    return load_causal_lm(profile.model, profile.dtype, profile.device)


def _frozen(profile: Profile):
    """(plain model with every weight frozen, tokenizer): what a prompt changes without training."""
    model, tokenizer = _plain(profile)
    return model.requires_grad_(False), tokenizer


def _peft(profile: Profile, config):
    """(peft model with `config` on the plain model, tokenizer)."""
    from peft import get_peft_model

    model, tokenizer = _plain(profile)
    return get_peft_model(model, config), tokenizer


def _prompt_tuning(profile: Profile):
    """Lesson 03: peft prompt tuning, a virtual token per token of the policy system prompt, started from its words."""
    from peft import get_peft_model

    from course.models import causal_lm_path
    from course.lessons.prompt_tuning import peft_prompt_tuning_config

    model, tokenizer = _plain(profile)
    n = len(tokenizer(_policy_prompt(), add_special_tokens=False)["input_ids"])
    config = peft_prompt_tuning_config(n, _policy_prompt(), causal_lm_path(profile.model))
    return get_peft_model(model, config), tokenizer


def _prefix_tuning(profile: Profile):
    """Lesson 04: peft prefix tuning, 10 virtual tokens of keys and values in every layer, zero at the start."""
    from course.lessons.prefix_tuning import peft_prefix_config

    return _peft(profile, peft_prefix_config(10))


def _adapters(profile: Profile):
    """Lesson 05: Houlsby bottleneck adapters (reduction factor 16) after o_proj and down_proj of every layer."""
    from course.lessons.adapters import AdapterConfig, add_bottleneck_adapters, train_only

    model, tokenizer = _plain(profile)
    add_bottleneck_adapters(model, AdapterConfig("houlsby", reduction_factor=16))
    train_only(model, lambda name: "bottleneck_adapter" in name)
    return model, tokenizer


def _lora(profile: Profile):
    """Lesson 06: peft LoRA r=8, alpha 16 on q_proj and v_proj."""
    from course.lessons.lora import peft_lora_config

    return _peft(profile, peft_lora_config(r=8, alpha=16))


def _qlora(profile: Profile):
    """Lesson 07: LoRA r=8 on all 7 projections of an NF4 base with double quantization."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    from course.lessons.lora import peft_lora_config
    from course.lessons.qlora import QLORA_TARGETS, cpu_repacking, load_4bit

    model, tokenizer = load_4bit(profile.model, double_quant=True, compute_dtype=profile.dtype, device=profile.device)
    cpu_repacking(model, False)  # a repacked layer passes no gradient (lesson 07)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, peft_lora_config(r=8, alpha=16, targets=QLORA_TARGETS)), tokenizer


def _full_lr(profile: Profile) -> float:
    """Lesson 01's full fine-tuning learning rate for this profile."""
    from course.lessons.full_fine_tuning import SIZES

    return SIZES[profile.name].full_lr


def _adapter_lr(profile: Profile) -> float:
    """Lesson 05's adapter learning rate."""
    from course.lessons.adapters import LEARNING_RATES

    return LEARNING_RATES["adapters"]


def _prompt_lr(profile: Profile) -> float:
    """Lesson 03's prompt-tuning learning rate (lesson 04 uses the same for prefixes)."""
    from course.lessons.prompt_tuning import LEARNING_RATE

    return LEARNING_RATE


def _policy_prompt() -> str:
    """Lesson 02's system prompt: the airline's role and refund policy in words."""
    from course.lessons.soft_prompting import SYSTEM_PROMPT

    return SYSTEM_PROMPT


@dataclass(frozen=True)
class Method:
    """One row of the comparison: how to build its trainable model, and how fast it learns."""

    name: str  # as the source material calls it
    alters: str  # what it changes, as built here
    build: Callable[[Profile], tuple]  # (model to train, tokenizer)
    lr: Callable[[Profile], float] | None  # None: nothing is trained
    system: Callable[[], str] | None = None  # the system prompt of its replies


METHODS: dict[str, Method] = {
    "full-ft": Method("full fine-tuning", "all weights", _plain, _full_lr),
    "soft-prompt": Method("soft prompting", "the input words: the policy as a system prompt", _frozen, None,
                          _policy_prompt),
    "prompt-tuning": Method("prompt tuning", "trainable input vectors, one per token of the system prompt",
                            _prompt_tuning, _prompt_lr),
    "prefix-tuning": Method("prefix tuning", "10 trainable keys and values in every layer", _prefix_tuning, _prompt_lr),
    "adapters": Method("adapters", "2 bottleneck layers (d -> d/16 -> d) in every layer", _adapters, _adapter_lr),
    "lora": Method("LoRA", "rank-8 updates of q_proj, v_proj", _lora, lambda profile: profile.lr),
    "qlora": Method("QLoRA", "rank-8 updates of all 7 projections; 4-bit NF4 base", _qlora, lambda profile: profile.lr),
}

# The source material's closing table, in its own words: (efficiency, effectiveness).
SOURCE_WORDS: dict[str, tuple[str, str]] = {
    "full-ft": ("very low", "very high (risks forgetting)"),
    "soft-prompt": ("extremely high", "very low"),
    "prompt-tuning": ("very high", "low"),
    "prefix-tuning": ("high", "moderate"),
    "adapters": ("moderate", "high"),
    "lora": ("high", "very high"),
    "qlora": ("very high", "high"),
}

COLUMNS = ["method", "name", "alters", "seed", "lr", "lr_sweep", "trainable_params", "trainable_pct", "method_bytes",
           "weights_bytes", "training_state_bytes", "activation_bytes", "s_per_step", "tokens_per_s", "train_tokens",
           "n_eval", "policy_accuracy", "decision_accuracy", "trivial_accuracy", "val_loss_before", "val_loss_after",
           "general_ppl_before", "general_ppl_after", "forgetting", "steps", "batch", "max_len", "n_general",
           "train_seconds", "run_seconds", "load_average", "model", "profile", "device"]


def require_profile(name: str | None) -> str:
    """The profile `name` (default: $COURSE_PROFILE, else detected), or a CourseError listing the profiles."""
    if name is not None and name not in PROFILES:
        raise CourseError(f"unknown profile {name!r} (profiles: {', '.join(PROFILES)})")
    return get_profile(name).name


def require_methods(methods: list[str]) -> list[str]:
    """`methods` if each is a known method id, else a CourseError listing the ids."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CourseError(f"unknown method {unknown[0]!r} (methods: {', '.join(METHODS)})")
    return methods
