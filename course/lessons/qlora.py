"""What the QLoRA lesson needs besides its exercise answers: 4-bit loading, bitsandbytes' side of
the NF4 comparison, the uniform int4 baseline, memory figures and plots.

The graded pieces (the NF4 codebook, `quantize_nf4`, absmax int8, the bits per parameter, a 4-bit model's bytes)
are written by the student; nothing here derives the codebook or picks NF4 levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from course.lessons.lora import ALL_PROJECTIONS
from course.plots import bars

BLOCKSIZE = 64  # QLoRA's block size for the 4-bit weights
DQ_BLOCKSIZE = 256  # and for the second quantization of their absmax constants
QLORA_TARGETS = ALL_PROJECTIONS
EXPLORER_BLOCKSIZES = (32, 64, 256, 4096)  # bitsandbytes takes 32 to 4096 on a CPU


def bnb_nf4(w: torch.Tensor, blocksize: int = BLOCKSIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """bitsandbytes' NF4 of `w`: (codes, one uint8 per element in flattened order; absmax; dequantized).

    Quantizes `w` flattened: bitsandbytes 0.50's CPU de-quantize kernel returns wrong values
    when the last dimension is smaller than the blocksize (measured: 16 or 32 columns with 64-blocks),
    and the codes and absmax do not depend on the shape.
    """
    import bitsandbytes.functional as F

    packed, state = F.quantize_4bit(w.float().reshape(-1).contiguous(), blocksize=blocksize, quant_type="nf4")
    with torch.compiler.set_stance("force_eager"):  # see eager_bitsandbytes
        back = F.dequantize_4bit(packed, state).reshape(w.shape)
    return unpack_4bit(packed, w.numel()), state.absmax, back


def nf4_levels() -> torch.Tensor:
    """bitsandbytes' 16 NF4 levels, in [-1, 1]."""
    import bitsandbytes.functional as F

    return F.get_4bit_type("nf4", device="cpu")


@dataclass(frozen=True)
class BlockView:
    """One block size's view of a weight matrix: its weights over their block's absmax, binned, and NF4's error."""

    edges: torch.Tensor  # bin edges over [-1, 1]
    shares: torch.Tensor  # share of the weights in each bin
    mse: float  # mean squared error of bitsandbytes' NF4 round trip


def block_views(w: torch.Tensor, blocksizes: tuple[int, ...] = EXPLORER_BLOCKSIZES,
                bins: int = 100) -> dict[int, BlockView]:
    """For each block size: the histogram of `w` divided by its block's absmax, and bitsandbytes' NF4 MSE on `w`."""
    views = {}
    for size in blocksizes:
        blocks = w.detach().float().cpu().reshape(-1, size)
        scaled = blocks / blocks.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
        views[size] = BlockView(torch.linspace(-1, 1, bins + 1), torch.histc(scaled, bins, -1, 1) / w.numel(),
                                mse(w, bnb_nf4(w, size)[2]))
    return views


def nf4_figure(*, views: dict[int, BlockView], blocksize: int, name: str = "the weights") -> go.Figure:
    """NF4's 16 levels over the histogram of the weights scaled by their block's absmax; NF4's MSE in the title."""
    view = views[blocksize]
    centers = ((view.edges[1:] + view.edges[:-1]) / 2).tolist()
    top = float(view.shares.max())
    x, y = [], []
    for level in nf4_levels().tolist():
        x += [level, level, None]
        y += [0, top, None]
    fig = go.Figure([go.Bar(x=centers, y=view.shares.tolist(), name="weights / block absmax", marker_color="lightsteelblue"),
                     go.Scatter(x=x, y=y, mode="lines", line=dict(color="crimson", width=1.5), name="the 16 NF4 levels")])
    fig.update_layout(title=f"blocks of {blocksize}: NF4 MSE {view.mse:.3e} on {name}; "
                            f"the float32 absmax costs {32 / blocksize:.3f} bits per weight",
                      xaxis_title="weight / absmax of its block", yaxis_title="share of the weights", bargap=0,
                      height=400, margin=dict(l=40, r=20, t=50, b=40))
    return fig


def eager_bitsandbytes() -> None:
    """Run torch.compile'd functions eagerly in this process, as bitsandbytes on a CPU needs.

    bitsandbytes 0.50 de-quantizes on the CPU with a torch.compile'd function. Measured here
    (torch 2.13, 2 cores): compiling it for each weight shape makes loading SmolLM2 in 4 bits
    take 13 s instead of 1.7 s and a QLoRA step 15 s instead of 1.3 s; past 8 shapes it warns
    on stderr and, recompiled with dynamic shapes, returns wrong values for some shapes.
    Eager mode gives bitsandbytes' exact values.
    """
    torch.compiler.set_stance("force_eager")


def dequantize_layer(layer: torch.nn.Module) -> torch.Tensor:
    """The float weight a bitsandbytes Linear4bit layer holds, de-quantized (eagerly: see eager_bitsandbytes)."""
    import bitsandbytes.functional as F

    with torch.compiler.set_stance("force_eager"):
        return F.dequantize_4bit(layer.weight.data, layer.weight.quant_state)


def unpack_4bit(packed: torch.Tensor, n: int) -> torch.Tensor:
    """Split bitsandbytes' bytes into 4-bit codes: the first element of each pair is the high nibble."""
    flat = packed.reshape(-1)
    codes = torch.empty(flat.numel() * 2, dtype=torch.uint8, device=flat.device)
    codes[0::2], codes[1::2] = flat >> 4, flat & 0x0F
    return codes[:n]


def int4_roundtrip(w: torch.Tensor, blocksize: int = BLOCKSIZE) -> torch.Tensor:
    """The baseline NF4 beats: evenly spaced 4-bit levels (-7..7) x absmax/7 in each block."""
    blocks = w.float().reshape(-1, blocksize)
    step = blocks.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / 7
    return (torch.round(blocks / step).clamp(-7, 7) * step).reshape(w.shape)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared difference, computed in float64."""
    return float((a.double() - b.double()).pow(2).mean())


def bnb_config(double_quant: bool, compute_dtype: torch.dtype = torch.float32):
    """The BitsAndBytesConfig of QLoRA: NF4 weights, optional double quantization."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double_quant,
                              bnb_4bit_compute_dtype=compute_dtype)


def load_4bit(name: str, double_quant: bool = True, compute_dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """(model, tokenizer) with every linear layer of the decoder in NF4 (the LM head stays as it is)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course.models import causal_lm_path

    if device == "cpu":
        eager_bitsandbytes()
    path = causal_lm_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=bnb_config(double_quant, compute_dtype),
                                                 dtype=compute_dtype, device_map=device)
    return model.eval(), tokenizer


def linear4bit_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The bitsandbytes 4-bit linear layers of `model`, by qualified name."""
    import bitsandbytes as bnb

    return {name: m for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}


def cpu_repacking(model: torch.nn.Module, enabled: bool) -> None:
    """Allow or forbid bitsandbytes' CPU repacking of 4-bit weights (on CPUs with AVX512-BF16).

    bitsandbytes 0.50 repacks a 4-bit layer into a faster CPU layout the first time it runs in
    eval mode without gradients (`generate`, an evaluation). Training through a repacked layer
    passes no gradient to its input, silently (150 of 210 adapters stop learning). Forbid it while training; allow it
    after, for fast generation.
    """
    for layer in linear4bit_layers(model).values():
        layer.support_avx512bf16_for_cpu = enabled and torch.cpu._is_avx512_bf16_supported()


def quantized_weight_bytes(model: torch.nn.Module) -> dict[str, int]:
    """Bytes of the 4-bit weights, of their quantization constants, and of everything else.

    `get_memory_footprint()` counts parameters and buffers only, so it misses the constants
    (absmax and, with double quantization, their own constants) that live in each quant_state.
    """
    layers = linear4bit_layers(model)
    packed = sum(m.weight.numel() * m.weight.element_size() for m in layers.values())
    constants = sum(constant_bytes(model).values())
    seen = {id(m.weight) for m in layers.values()}
    other = sum(p.numel() * p.element_size() for p in model.parameters() if id(p) not in seen)
    other += sum(b.numel() * b.element_size() for b in model.buffers())
    return {"4-bit weights": packed, "quantization constants": constants, "everything else": other}


def memory_chart(footprints: dict[str, float], title: str = "SmolLM2-135M in memory"):
    """Bars of megabytes per way of loading the model."""
    return bars(list(footprints), list(footprints.values()), title, "MB")


def constant_bytes(model: torch.nn.Module) -> dict[str, int]:
    """The quantization constants of `model`'s 4-bit layers, split by what they grow with.

    "per-block scales" grow with the number of weights: one absmax per block of 64 (float32, or
    uint8 with double quantization) and, with double quantization, one float32 absmax per block of
    256 of those. "per-layer tables" do not: bitsandbytes keeps a copy of the 16 NF4 levels in every
    layer and, with double quantization, of the 256 levels of the 8-bit code and one offset.
    The two add up to the "quantization constants" of `quantized_weight_bytes`.
    """
    scales = tables = 0
    for m in linear4bit_layers(model).values():
        state = m.weight.quant_state
        scales += state.absmax.numel() * state.absmax.element_size()
        tables += state.code.numel() * state.code.element_size()
        if state.nested:
            inner = state.state2
            scales += inner.absmax.numel() * inner.absmax.element_size()
            tables += inner.code.numel() * 4 + 4
    return {"per-block scales": scales, "per-layer tables": tables}
