"""What the LoRA lesson needs besides its exercise answers: the widgets, the peft setup for the lab.

The graded pieces (`lora_param_count`, `model_lora_param_count`, `LoRALinear`, `add_lora`) are written by the student;
the exercise's widget takes the student's own counting function as an argument, and the lab's
counts come from peft.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from course.lessons.full_fine_tuning import memory_parts
from course.interactive import dropdown, explorer, slider
from course.plots import bars
from course.units import MB

# (d_in, d_out) of the layers the lesson talks about
LAYER_SHAPES: dict[str, tuple[int, int]] = {
    "SmolLM2-135M q_proj (576 x 576)": (576, 576),
    "SmolLM2-135M v_proj (576 -> 192)": (576, 192),
    "source material example (1000 x 1000)": (1000, 1000),
    "a 7B model's q_proj (4096 x 4096)": (4096, 4096),
}
DEFAULT_TARGETS = ["q_proj", "v_proj"]
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TARGET_SETS = {"q, v": DEFAULT_TARGETS, "all 7 projections": ALL_PROJECTIONS}
MAX_RANK = 64


def rank_figure(*, layer: str, r: int, param_count: Callable[[int, int, int], int]) -> go.Figure:
    """Bars: the full update of `layer` against LoRA's count `param_count(d_in, d_out, r)`, log scale."""
    d_in, d_out = LAYER_SHAPES[layer]
    full, lora = d_in * d_out, param_count(d_in, d_out, r)
    return bars(["full update ΔW", f"LoRA B·A (r={r})"], [full, lora],
                f"{layer}, r = {r}: LoRA trains {lora / full:.2%} of the layer", "trainable parameters", log=True)


def rank_explorer(param_count: Callable[[int, int, int], int]):
    """A slider for the rank r: full weight count versus LoRA's count, from `param_count`."""
    return explorer(partial(rank_figure, param_count=param_count),
                    layer=dropdown("layer", list(LAYER_SHAPES)), r=slider("r", 8, 1, MAX_RANK))


@dataclass(frozen=True)
class LoraCount:
    """peft's count for LoRA on some target modules: `per_rank` trainable parameters per unit of r, `base` frozen ones."""

    per_rank: int
    base: int


def peft_count(config, targets: list[str]) -> LoraCount:
    """peft's count for LoRA of rank 1 on `targets` of the causal LM `config` describes (built on the meta device).

    LoRA's count grows linearly with r, so rank 1 gives every rank.
    """
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from course.training import trainable_parameters

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    trainable, total = trainable_parameters(get_peft_model(model, peft_lora_config(r=1, targets=targets)))
    return LoraCount(trainable, total - trainable)


def training_bytes(frozen: int, trainable: int, frozen_bytes: int = 4) -> dict[str, int]:
    """Bytes of weights, gradients and AdamW's two moments when `trainable` float32 parameters train beside `frozen` ones.

    The trainable part is lesson 01's `memory_parts` (AdamW in float32). Activations are not counted:
    they depend on the batch, not on the method.
    """
    parts = memory_parts(trainable, "adamw", "float32")
    return {"weights": frozen * frozen_bytes + parts["weights"], "gradients": parts["gradients"],
            "AdamW state": parts["optimizer state"]}


def lora_budget_figure(*, counts: dict[str, LoraCount], targets: str, r: int, frozen_bytes: int = 4) -> go.Figure:
    """Trainable parameters against r for `targets`, and training memory of LoRA against full fine-tuning."""
    count = counts[targets]
    trainable = r * count.per_rank
    ranks = list(range(1, MAX_RANK + 1))
    memory = {f"LoRA r={r}": training_bytes(count.base, trainable, frozen_bytes),
              "full fine-tuning": training_bytes(0, count.base)}
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"trainable parameters (LoRA on {targets})",
                                                        "weights + gradients + AdamW state (MB)"))
    fig.add_scatter(x=ranks, y=[k * count.per_rank for k in ranks], mode="lines", name="trainable", row=1, col=1)
    fig.add_scatter(x=[r], y=[trainable], mode="markers", marker_size=12, name=f"r = {r}", row=1, col=1)
    for part in ("weights", "gradients", "AdamW state"):
        fig.add_bar(x=list(memory), y=[m[part] / MB for m in memory.values()], name=part, row=1, col=2)
    lora_mb, full_mb = (sum(m.values()) / MB for m in memory.values())
    fig.update_layout(barmode="stack", height=400, margin=dict(l=40, r=20, t=80, b=40),
                      title=f"r = {r}: {trainable:,} trainable ({trainable / (count.base + trainable):.2%}) on {targets}; "
                            f"training holds {lora_mb:,.0f} MB vs {full_mb:,.0f} MB for full fine-tuning")
    fig.update_xaxes(title_text="rank r", row=1, col=1)
    return fig


def peft_lora_config(r: int = 8, alpha: float = 16, targets: list[str] | None = None, dropout: float = 0.05):
    """The peft LoraConfig the lab uses for a causal LM."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, target_modules=targets or DEFAULT_TARGETS,
                      lora_dropout=dropout, bias="none", task_type="CAUSAL_LM")


def adapter_megabytes(peft_model) -> float:
    """Size of the adapter weights alone (what you store per task), in MB."""
    return sum(p.numel() * p.element_size() for n, p in peft_model.named_parameters() if "lora_" in n) / MB
