"""What lesson 05 (bottleneck adapters) needs besides its exercise answers.

Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP",
arXiv:1902.00751) live in AdapterHub's `adapters` library, not in peft. `adapters` 1.3.0 pins
transformers ~=4.57 and cannot be installed beside the course's transformers 5.x, so the lab uses
the small implementation below, written in AdapterHub's vocabulary:

- `reduction_factor`: the bottleneck size is m = d // reduction_factor (AdapterHub's default 16);
- "houlsby" (AdapterHub's `double_seq_bn`): two adapters per layer, after the attention output
  projection and after the feed-forward output projection, each before its residual add and
  LayerNorm; "pfeiffer" (`seq_bn`): one adapter per layer, after the feed-forward block (here at
  the same spot as Houlsby's second one, without AdapterHub's extra layer-norm wiring);
- each adapter holds `adapter_down` (Linear d -> m, then the non-linearity) and `adapter_up`
  (Linear m -> d): 2*d*m + d + m parameters, counted as AdapterHub counts them; `adapter_up`
  starts at zero (AdapterHub's "mam_adapter" initialisation), so a new adapter is the identity.

A student can read this file: it is the lab's tool, written with forward hooks so that it works on
any BERT-family encoder, and it shows one way to do what the exercise asks (the exercise wants
your own class, inserted by module replacement, and checks it against the formula and a reference).
On transformers 4.57, AdapterHub does the same with `pip install adapters`, then
`adapters.init(model)`, `model.add_adapter("intents", config="double_seq_bn")` (or "seq_bn"),
`model.train_adapter("intents")`.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import plotly.graph_objects as go
import torch

from course.interactive import dropdown, explorer, slider
from course.progress import progress

ARCHITECTURES = {"houlsby": "double_seq_bn", "pfeiffer": "seq_bn"}  # ours -> AdapterHub's config name
ACTIVATIONS: dict[str, Callable[[], torch.nn.Module]] = {"relu": torch.nn.ReLU, "swish": torch.nn.SiLU,
                                                         "gelu": torch.nn.GELU}

__all__ = ["ARCHITECTURES", "AdapterConfig", "Bottleneck", "add_bottleneck_adapters", "train_only", "adapter_modules",
           "meta_counts", "is_head", "peft_lora_seq_cls_config", "latency_table", "encoder_linear_macs", "share_explorer",
           "Sizes", "SIZES", "LEARNING_RATES"]


@dataclass(frozen=True)
class AdapterConfig:
    """AdapterHub-style settings: 'houlsby' (two per layer, swish) or 'pfeiffer' (one per layer, relu)."""

    architecture: str = "houlsby"
    reduction_factor: float = 16
    non_linearity: str | None = None  # None: the architecture's default (houlsby: swish, pfeiffer: relu)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}: choose one of {', '.join(ARCHITECTURES)}")
        if (self.non_linearity or self.activation_name) not in ACTIVATIONS:
            raise ValueError(f"unknown non_linearity {self.non_linearity!r}: choose one of {', '.join(ACTIVATIONS)}")

    @property
    def activation_name(self) -> str:
        """The non-linearity used: the one asked for, else the architecture's default."""
        return self.non_linearity or ("swish" if self.architecture == "houlsby" else "relu")

    def bottleneck(self, d_model: int) -> int:
        """m = d_model // reduction_factor (at least 1), as AdapterHub computes it."""
        return max(1, int(d_model // self.reduction_factor))

    @property
    def per_layer(self) -> int:
        """Adapters in each transformer layer: 2 for houlsby, 1 for pfeiffer."""
        return 2 if self.architecture == "houlsby" else 1


class Bottleneck(torch.nn.Module):
    """AdapterHub's sequential bottleneck block: h + adapter_up(act(adapter_down(h))), identity at init."""

    def __init__(self, d_model: int, bottleneck: int, non_linearity: str = "swish"):
        super().__init__()
        self.adapter_down = torch.nn.Sequential(torch.nn.Linear(d_model, bottleneck), ACTIVATIONS[non_linearity]())
        self.adapter_up = torch.nn.Linear(bottleneck, d_model)
        if self.adapter_up.weight.device.type != "meta":
            torch.nn.init.zeros_(self.adapter_up.weight)
            torch.nn.init.zeros_(self.adapter_up.bias)
            torch.nn.init.zeros_(self.adapter_down[0].bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.adapter_up(self.adapter_down(h))


def _transformer_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer layers of a BERT-family encoder or a Llama-family decoder (bare or with a head)."""
    base = getattr(model, "base_model", model)
    if hasattr(base, "encoder"):
        return list(base.encoder.layer)
    if isinstance(getattr(base, "layers", None), torch.nn.ModuleList):
        return list(base.layers)
    raise TypeError(f"{type(model).__name__} is not a BERT-family encoder (no encoder.layer) "
                    "nor a Llama-family decoder (no layers)")


def _projections(layer: torch.nn.Module, architecture: str) -> list[tuple[torch.nn.Module, str]]:
    """(parent, name) of the output projections an adapter follows: attention's (houlsby only), then feed-forward's."""
    if hasattr(layer, "self_attn"):  # Llama family: o_proj and down_proj, before each residual add
        spots = [(layer.self_attn, "o_proj"), (layer.mlp, "down_proj")]
    else:  # BERT family: the `dense` of BertSelfOutput and of BertOutput
        spots = [(layer.attention.output, "dense"), (layer.output, "dense")]
    return spots if architecture == "houlsby" else spots[1:]


def _attach(parent: torch.nn.Module, adapter: Bottleneck,
            projection: str = "dense") -> torch.utils.hooks.RemovableHandle:
    """Register `adapter` on `parent` and run it on the output of `parent.<projection>` (before the residual add)."""
    parent.add_module("bottleneck_adapter", adapter)
    return getattr(parent, projection).register_forward_hook(lambda module, args, output: adapter(output))


def add_bottleneck_adapters(model: torch.nn.Module, config: AdapterConfig = AdapterConfig()) -> list[Bottleneck]:
    """Add adapters to every layer of a BERT-family encoder or a Llama-family decoder (in place), in forward order.

    Each adapter is a submodule (so it moves with `.to()` and appears in `parameters()`) and runs
    through a forward hook on an output projection: BERT's `dense` of BertSelfOutput (houlsby only)
    and of BertOutput; Llama's `self_attn.o_proj` (houlsby only) and `mlp.down_proj`. Nothing is
    frozen here: see `train_only`.
    """
    added = []
    for layer in _transformer_layers(model):
        for parent, projection in _projections(layer, config.architecture):
            linear = getattr(parent, projection)
            d = linear.out_features
            adapter = Bottleneck(d, config.bottleneck(d), config.activation_name).to(linear.weight.device,
                                                                                     linear.weight.dtype)
            _attach(parent, adapter, projection)
            added.append(adapter)
    return added


def adapter_modules(model: torch.nn.Module) -> list[Bottleneck]:
    """The `Bottleneck` adapters inside `model`."""
    return [m for m in model.modules() if isinstance(m, Bottleneck)]


def train_only(model: torch.nn.Module, keep: Callable[[str], bool]) -> tuple[int, int]:
    """Freeze every parameter whose name `keep` rejects (like AdapterHub's `train_adapter`); (trainable, total)."""
    for name, p in model.named_parameters():
        p.requires_grad_(keep(name))
    return (sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters()))


def meta_counts(n_layers: int, d_model: int, intermediate: int, config: AdapterConfig,
                vocab_size: int = 30522, heads: int = 12) -> tuple[int, int]:
    """(adapter parameters, base parameters) of a BERT model of this size, built on the meta device (no memory)."""
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        bert = BertModel(BertConfig(num_hidden_layers=n_layers, hidden_size=d_model, intermediate_size=intermediate,
                                    num_attention_heads=heads, vocab_size=vocab_size))
        base = sum(p.numel() for p in bert.parameters())
        adapters = add_bottleneck_adapters(bert, config)
    return sum(p.numel() for a in adapters for p in a.parameters()), base


def is_head(name: str) -> bool:
    """Whether a parameter belongs to the classification head of a BERT classifier: the pooler and the classifier.

    all-MiniLM-L6-v2 was trained for mean pooling, so its pooler (dense + tanh on the [CLS] state)
    gives almost the same vector for every request: the head must train it, whatever the method.
    """
    return name.startswith("classifier.") or ".pooler." in name or name.startswith("pooler.")


def peft_lora_seq_cls_config(r: int = 8, alpha: float = 16, targets: list[str] | None = None, dropout: float = 0.0):
    """The peft LoraConfig of the lab: query and value of a BERT encoder; the head (pooler + classifier) trains too."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, target_modules=targets or ["query", "value"], lora_dropout=dropout,
                      bias="none", task_type="SEQ_CLS", modules_to_save=["classifier", "pooler"])


def encoder_linear_macs(model: torch.nn.Module) -> int:
    """Multiply-adds per token in the linear layers of the encoder (adapters and unmerged LoRA included)."""
    encoder = getattr(model, "base_model", model)
    encoder = getattr(encoder, "model", encoder)  # a peft model wraps the transformers model once more
    encoder = getattr(encoder, "bert", encoder).encoder
    return sum(m.in_features * m.out_features for m in encoder.modules() if isinstance(m, torch.nn.Linear))


@torch.no_grad()
def latency_table(models: dict[str, torch.nn.Module], batch: dict[str, torch.Tensor], repeats: int = 20,
                  warmup: int = 3) -> dict[str, float]:
    """Median seconds of one forward pass on `batch` for each model.

    The models take turns, in a new (seeded) random order each round, so that load from other
    processes and the position in the round hit all of them alike.
    """
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    for model in models.values():
        model.eval()
        for _ in range(warmup):
            model(**inputs)
    times: dict[str, list[float]] = {name: [] for name in models}
    order, rng = list(models), random.Random(0)
    for _ in progress(range(repeats), "timed rounds"):
        rng.shuffle(order)
        for name in order:
            model = models[name]
            start = time.perf_counter()
            model(**inputs)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# (n_layers, d_model, base parameters) of the models the widget shows; BERT sizes from transformers' BertModel
WIDGET_MODELS: dict[str, tuple[int, int, int]] = {
    "all-MiniLM-L6-v2 (6 x 384)": (6, 384, 22_713_216),
    "BERT-base (12 x 768)": (12, 768, 109_482_240),
    "BERT-large (24 x 1024)": (24, 1024, 335_141_888),
}


def share_explorer(param_count: Callable[[int, int, int, int], int]):
    """Controls for the model, the bottleneck m and adapters per layer above `share_figure` with `param_count`."""
    return explorer(partial(share_figure, param_count=param_count), model=dropdown("model", list(WIDGET_MODELS)),
                    bottleneck=slider("bottleneck m", 64, 8, 256, 8),
                    per_layer=dropdown("adapters per layer", [("houlsby: 2", 2), ("pfeiffer: 1", 1)], 2))


# ---------------------------------------------------------------- lab sizes

@dataclass(frozen=True)
class Sizes:
    """What the lab of lesson 05 runs in one profile."""

    steps: int  # optimizer steps of every method (the same for all four)
    batch: int
    n_test: int  # intent test requests for the accuracy (0 = all 160)
    latency_batch: int  # requests per batch in the latency comparison
    latency_repeats: int  # timed forward passes per model (the median is reported)


SIZES = {
    "smoke": Sizes(steps=3, batch=8, n_test=32, latency_batch=8, latency_repeats=5),
    "cpu": Sizes(steps=50, batch=16, n_test=0, latency_batch=32, latency_repeats=30),
    "gpu": Sizes(steps=200, batch=32, n_test=0, latency_batch=64, latency_repeats=100),
}
LEARNING_RATES = {"head only": 3e-3, "adapters": 3e-3, "LoRA": 3e-3, "full fine-tuning": 1e-4}


# ---------------------------------------------------------------- the share explorer's figure

# Houlsby et al., section 2.1: adapters use "around 0.5 - 8% of the parameters of the original model"
PAPER_BAND = (0.5, 8.0)


def share_figure(model: str, bottleneck: int, per_layer: int,
                 param_count: Callable[[int, int, int, int], int]) -> go.Figure:
    """Adapter parameters as a share of `WIDGET_MODELS[model]` against the bottleneck m, the paper's band shaded."""
    n_layers, d, base = WIDGET_MODELS[model]
    sizes = sorted({8, 16, 32, 64, 128, 256, bottleneck})
    shares = [100 * param_count(d, m, n_layers, per_layer) / base for m in sizes]
    chosen = shares[sizes.index(bottleneck)]
    fig = go.Figure(go.Scatter(x=sizes, y=shares, mode="lines", name="adapters / base model", line_color="gray"))
    fig.add_scatter(x=[bottleneck], y=[chosen], mode="markers+text", text=[f"{chosen:.2f}%"], textposition="top left",
                    marker=dict(size=12, color="crimson"), name=f"m = {bottleneck}")
    fig.add_hrect(y0=PAPER_BAND[0], y1=PAPER_BAND[1], fillcolor="green", opacity=0.12, line_width=0,
                  annotation_text="the paper's 0.5-8%", annotation_position="top left")
    fig.update_layout(title=f"{model}, m = {bottleneck}, {per_layer} per layer: adapters = {chosen:.2f}% of the base model",
                      xaxis=dict(title="bottleneck m", type="log", tickvals=[8, 16, 32, 64, 128, 256]),
                      yaxis=dict(title="% of the base model's parameters", rangemode="tozero"), height=380)
    return fig
