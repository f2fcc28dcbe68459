"""What the LoRA lesson needs besides its exercise answers: the widget, the peft setup for the lab.

The graded pieces (`lora_param_count`, `LoRALinear`, `add_lora`) are written by the student;
the widget takes the student's own counting function as an argument.
"""

from __future__ import annotations

from collections.abc import Callable

from course.plots import bars

# (d_in, d_out) of the layers the lesson talks about
LAYER_SHAPES: dict[str, tuple[int, int]] = {
    "SmolLM2-135M q_proj (576 x 576)": (576, 576),
    "SmolLM2-135M v_proj (576 -> 192)": (576, 192),
    "source material example (1000 x 1000)": (1000, 1000),
    "a 7B model's q_proj (4096 x 4096)": (4096, 4096),
}
DEFAULT_TARGETS = ["q_proj", "v_proj"]


def rank_explorer(param_count: Callable[[int, int, int], int]):
    """A slider for the rank r: full weight count versus LoRA's count, from `param_count`."""
    import ipywidgets as widgets
    from IPython.display import display

    def show(layer: str, r: int) -> None:
        d_in, d_out = LAYER_SHAPES[layer]
        full, lora = d_in * d_out, param_count(d_in, d_out, r)
        display(bars(["full update ΔW", f"LoRA B·A (r={r})"], [full, lora],
                     f"{layer}: LoRA trains {lora / full:.2%} of the layer", "trainable parameters", log=True))

    return widgets.interactive(show, layer=widgets.Dropdown(options=list(LAYER_SHAPES)),
                               r=widgets.IntSlider(value=8, min=1, max=64, step=1))


def peft_lora_config(r: int = 8, alpha: float = 16, targets: list[str] | None = None, dropout: float = 0.05):
    """The peft LoraConfig the lab uses for a causal LM."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, target_modules=targets or DEFAULT_TARGETS,
                      lora_dropout=dropout, bias="none", task_type="CAUSAL_LM")


def adapter_megabytes(peft_model) -> float:
    """Size of the adapter weights alone (what you store per task), in MB."""
    return sum(p.numel() * p.element_size() for n, p in peft_model.named_parameters() if "lora_" in n) / 1e6
