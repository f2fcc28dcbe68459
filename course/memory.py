"""Predicted GPU memory of a training step: lesson 01's bytes per parameter plus the activations kept for backward.

Everything is counted from a model's shape (`course.models.smollm2_config`), so a plan needs no GPU and no
download. The activation model counts what a Llama decoder layer saves for backward under mixed precision
(float32 master weights, 16-bit compute, attention by a fused kernel that keeps no score matrix) and what the
loss keeps of the logits; tests/test_memory.py checks it against the tensors autograd saves on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from course.lora import ALL_PROJECTIONS, DEFAULT_TARGETS

BYTES = {"fp32": 4, "bf16-mixed": 2, "fp16-mixed": 2}
ADAMW_BYTES = 16  # per trained parameter: float32 weight, gradient and AdamW's two moments
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # NF4 with double quantization (lesson 07)


@dataclass(frozen=True)
class Shape:
    """What the memory of a decoder-only model depends on."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    params: int  # all parameters (tied embeddings once)
    linear_params: int  # the decoder layers' linear weights (what 4-bit loading quantizes)

    @classmethod
    def of(cls, config) -> Shape:
        """The shape of a transformers LlamaConfig (SmolLM2's, Llama's)."""
        h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
        head = getattr(config, "head_dim", None) or h // config.num_attention_heads
        q, kv = config.num_attention_heads * head, config.num_key_value_heads * head
        linear = layers * (h * q + 2 * h * kv + q * h + 3 * h * i)
        embeddings = config.vocab_size * h * (1 if config.tie_word_embeddings else 2)
        norms = (2 * layers + 1) * h
        return cls(hidden=h, intermediate=i, layers=layers, heads=config.num_attention_heads,
                   kv_heads=config.num_key_value_heads, head_dim=head, vocab=config.vocab_size,
                   params=linear + embeddings + norms, linear_params=linear)


def saved_bytes(shape: Shape, tokens: int, precision: str, frozen_base: bool = False,
                lora_targets: Sequence[str] = (), lora_rank: int = 8, checkpointing: bool = False) -> int:
    """Bytes a training forward pass over `tokens` tokens (batch x length) keeps for backward, weights aside.

    With c the compute dtype's bytes, per token and layer:
    - full fine-tuning (float32 weights, a float32 residual stream): each RMSNorm keeps its input and output
      and a scale (2 x (8 h + 4)); the attention kernel keeps q, k, v, its output (c (2 q + 2 kv)) and a
      log-sum-exp per head (4 heads); the linear layers keep their inputs for their weights' gradients: under
      autocast q, k, v, gate and up each cast the normed input (5 c h), in float32 two tensors serve them
      (8 h); o reads the kernel's output; SwiGLU keeps gate, up, silu(gate) and down's input (4 c i);
    - a frozen 16-bit base (LoRA, prompt and prefix tuning, QLoRA): a frozen linear layer keeps nothing of
      its input, a norm keeps its float32 input and scale (2 x (4 h + 4)), SwiGLU keeps gate, up and
      silu(gate) (3 c i); each LoRA adapter keeps its input (q, k, v share theirs, gate and up theirs; o's is
      the kernel's output made contiguous, c q; down's is c i) and the r numbers of A's output.
    Once per token: rotary cos and sin, the final norm, the head's input and the float32 logits the loss keeps
    (4 vocab). With checkpointing a layer keeps only its input (4 h) and one layer is recomputed at a time.
    """
    c = BYTES[precision]
    h, i, q, kv = shape.hidden, shape.intermediate, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    attention = c * (2 * q + 2 * kv) + 4 * shape.heads
    if frozen_base:
        targets = set(lora_targets)
        lora = c * (h * bool({"q_proj", "k_proj", "v_proj"} & targets) + h * bool({"gate_proj", "up_proj"} & targets)
                    + q * ("o_proj" in targets) + i * ("down_proj" in targets) + lora_rank * len(targets))
        per_layer = 2 * (4 * h + 4) + attention + 3 * c * i + lora
        once = 2 * c * shape.head_dim + 4 * h + 4 + 4 * shape.vocab
    else:
        linear_inputs = 5 * c * h if precision != "fp32" else 8 * h
        per_layer = 2 * (8 * h + 4) + attention + linear_inputs + 4 * c * i
        once = 8 * shape.head_dim + 8 * h + 4 + c * h + 4 * shape.vocab
    layers = shape.layers * 4 * h + per_layer if checkpointing else shape.layers * per_layer
    return tokens * (layers + once)


def activation_bytes(shape: Shape, tokens: int, precision: str, frozen_base: bool = False,
                     lora_targets: Sequence[str] = (), lora_rank: int = 8, checkpointing: bool = False) -> int:
    """The peak the activations reach: what the forward pass saves (`saved_bytes`), plus the logits' gradients
    at the start of backward (float32 and compute dtype: (4 + c) bytes per vocabulary entry and token)."""
    saved = saved_bytes(shape, tokens, precision, frozen_base, lora_targets, lora_rank, checkpointing)
    return saved + tokens * (4 + BYTES[precision]) * shape.vocab


def weights_bytes(shape: Shape, precision: str) -> int:
    """A frozen copy of the model in the precision's compute dtype."""
    return shape.params * BYTES[precision]


def nf4_bytes(shape: Shape, precision: str) -> int:
    """The model loaded in 4 bits (QLoRA): NF4 linear layers with double quantization, the rest in 16 bits."""
    return int(shape.linear_params * NF4_BITS / 8) + (shape.params - shape.linear_params) * BYTES[precision]


def full_fine_tuning_bytes(shape: Shape, precision: str) -> int:
    """Full fine-tuning with AdamW: 16 bytes per parameter, plus the 16-bit copy autocast keeps of each weight."""
    cast_copy = shape.params * 2 if precision != "fp32" else 0
    return shape.params * ADAMW_BYTES + cast_copy


def lora_params(shape: Shape, r: int, targets: Sequence[str]) -> int:
    """LoRA's trainable count on `targets` of every layer (lesson 06's count)."""
    h, i, q, kv = shape.hidden, shape.intermediate, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    sizes = {"q_proj": h + q, "k_proj": h + kv, "v_proj": h + kv, "o_proj": q + h,
             "gate_proj": h + i, "up_proj": h + i, "down_proj": i + h}
    return shape.layers * r * sum(sizes[t] for t in targets)


def adapter_training_bytes(shape: Shape, tokens: int, precision: str, targets: Sequence[str] = (), rank: int = 8,
                           checkpointing: bool = False) -> int:
    """Training on a frozen 16-bit base, its weights aside: LoRA's trained parameters on `targets` (none for prompt
    and prefix tuning) with AdamW, and the activations."""
    return (lora_params(shape, rank, targets) * ADAMW_BYTES
            + activation_bytes(shape, tokens, precision, True, targets, rank, checkpointing))


def kv_cache_bytes(shape: Shape, tokens: int, precision: str) -> int:
    """Keys and values of every layer for `tokens` tokens (batch x context) during generation."""
    return tokens * shape.layers * 2 * shape.kv_heads * shape.head_dim * BYTES[precision]


CONTEXT_BYTES = 500_000_000  # the CUDA context and kernels' workspace: on the card, outside torch's allocator


def lab_peaks(profile) -> dict[str, int]:
    """Each lab's predicted peak bytes on the GPU at `profile`'s sizes (read from the labs' own size tables).

    What each lab holds at its peak (read from the notebooks): 01 and 11 fully fine-tune the profile's
    model; 02 generates with 4-shot prompts; 03 keeps two copies and prompt-tunes one; 04 briefly holds
    three copies and trains prefix tuning with a 512-wide projection; 05 trains MiniLM (22.7M parameters);
    06 trains LoRA on q and v; 07 keeps a 4-bit QLoRA model beside a 16-bit copy it trains LoRA on (all seven
    projections), after holding float32 and 16-bit copies together; 08 holds four copies for DPO (TRL
    checkpoints the layers); 09 four copies and LoRA r=16 on all projections at length 192; 10 the teacher,
    two students of `student_layers` layers (one float32) and the one it trains, after fully fine-tuning
    the teacher as 01 does.
    """
    from course.capstone import SIZES as CAPSTONE
    from course.distillation import distill_sizes
    from course.full_ft import LAB_SIZES as FULL_FT
    from course.models import smollm2_config, smollm2_size

    config = smollm2_config(smollm2_size(profile.model))
    s, p = Shape.of(config), profile.precision
    w, b, length, ckpt = weights_bytes(s, p), profile.batch_size, profile.max_len, profile.checkpointing
    full = FULL_FT[profile.name]
    capstone = CAPSTONE[profile.name]
    student_config = smollm2_config(smollm2_size(profile.model))
    student_config.num_hidden_layers = distill_sizes(profile).student_layers
    student = Shape.of(student_config)
    embeddings = s.vocab * s.hidden
    minilm = Shape(hidden=384, intermediate=1536, layers=6, heads=12, kv_heads=12, head_dim=32, vocab=16,
                   params=22_713_216, linear_params=6 * 12 * 384 * 384)
    peaks = {
        "01-full-fine-tuning": full_fine_tuning_bytes(s, p)
        + activation_bytes(s, full.ft_batch * full.ft_len, p, checkpointing=ckpt),
        "02-soft-prompting": w + kv_cache_bytes(s, 8 * (1024 + profile.max_new_tokens), p) + 8 * s.vocab * 4,
        "03-prompt-tuning": 2 * w + adapter_training_bytes(s, max(1, b // 2) * (length + 11), p),
        "04-prefix-tuning": 3 * w + 52_000_000 * ADAMW_BYTES + adapter_training_bytes(s, b * (length + 10), p),
        "05-adapters": full_fine_tuning_bytes(minilm, p) + activation_bytes(minilm, 32 * 64, p),
        "06-lora": w + adapter_training_bytes(s, b * length, p, DEFAULT_TARGETS),
        "07-qlora": max(6 * s.params, nf4_bytes(s, p) + 2 * embeddings + w
                        + adapter_training_bytes(s, b * length, p, ALL_PROJECTIONS)),
        "08-alignment": 4 * w + adapter_training_bytes(s, 2 * max(2, b // 2) * (length + 64), p, DEFAULT_TARGETS,
                                                       checkpointing=True),
        "09-rag-vs-fine-tuning": 4 * w + adapter_training_bytes(s, b * 192, p, ALL_PROJECTIONS, 16),
        "10-distillation": max(full_fine_tuning_bytes(s, p) + activation_bytes(s, b * length, p, checkpointing=ckpt),
                               w + weights_bytes(student, p) + 4 * student.params + full_fine_tuning_bytes(student, p)
                               + activation_bytes(student, b * length, p, checkpointing=ckpt)),
        "11-capstone": full_fine_tuning_bytes(s, p)
        + activation_bytes(s, capstone.batch * capstone.max_len, p, checkpointing=ckpt),
    }
    return {lab: peak + CONTEXT_BYTES for lab, peak in peaks.items()}


def plan_table() -> str:
    """A markdown table: for each class of card, its profile and each lab's predicted peak (docs/gpu.md)."""
    from course.profiles import CARD_CLASSES, REFERENCE_CARDS, profile_for_gpu

    rows = []
    for cls in CARD_CLASSES:
        name, memory, capability = REFERENCE_CARDS[cls.label]
        profile = profile_for_gpu(memory, capability)
        plan = lab_peaks(profile)
        if not rows:
            rows.append("| card class (checked on) | model, precision | " + " | ".join(lab[:2] for lab in plan) + " |")
            rows.append("| --- | --- | " + " | ".join("---:" for _ in plan) + " |")
        how = f"{profile.model.removeprefix('smollm2-').removesuffix('-instruct').upper()}, {profile.precision}"
        if profile.checkpointing:
            how += ", checkpointing"
        rows.append(f"| {cls.label} ({name}, {memory / 2**30:.1f} GiB) | {how} | "
                    + " | ".join(f"{peak / 1e9:.1f}" for peak in plan.values()) + " |")
    return "\n".join(rows)
