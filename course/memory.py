"""The memory of training, in one place: measured in a process, counted from tensors, predicted from a shape.

Measured (lessons 01, 07 and the capstone): `measure_training_step_memory` runs one real step and reads the
process's peak RSS on a CPU or torch's allocator on a GPU; `tensor_bytes`, `saved_activation_bytes` and
`method_memory` count the bytes a method's tensors hold.

Predicted (docs/gpu.md): lesson 01's bytes per parameter plus the activations kept for backward, counted
from a model's shape (`course.models.smollm2_config`), so a plan needs no GPU and no download. The activation model counts what a Llama decoder layer saves for backward under mixed precision
(float32 master weights, 16-bit compute, attention by a fused kernel that keeps no score matrix) and what the
loss keeps of the logits; tests/test_memory.py checks it against the tensors autograd saves on a CPU.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from course.training import to_device
from course.units import GB, GiB

OPTIMIZERS = ("sgd", "sgd_momentum", "adamw")
BYTES = {"fp32": 4, "bf16-mixed": 2, "fp16-mixed": 2}
ADAMW_BYTES = 16  # per trained parameter: float32 weight, gradient and AdamW's two moments
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # NF4 with double quantization (lesson 07)


# ---------------------------------------------------------------- measured

def make_optimizer(name: str, params, lr: float = 1e-5) -> torch.optim.Optimizer:
    """The torch optimizer behind each name the lesson uses: sgd, sgd_momentum, adamw."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


def trim() -> None:
    """Give freed memory back to the operating system, so that RSS counts what is really held."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): RSS is a little noisier there
        pass


def rss() -> int:
    """Resident set size of this process, in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


class PeakRSS:
    """Peak RSS over a block: the kernel's high-water mark, reset on entry (Linux), else sampled every ms."""

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            self._sampler = None
        except OSError:
            self._peak, self._stop = rss(), threading.Event()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        if self._sampler is None:
            with open("/proc/self/status") as f:
                hwm = next(line for line in f if line.startswith("VmHWM:"))
            self.peak = int(hwm.split()[1]) * 1024
        else:
            self._stop.set()
            self._sampler.join()
            self.peak = max(self._peak, rss())


def measure_training_step_memory(model, batch: dict[str, torch.Tensor], optimizer_name: str = "adamw",
                                 device: str | torch.device | None = None, lr: float = 1e-5) -> dict:
    """Run ONE real training step (forward, backward, optimizer step) and report the memory it used.

    Bytes in the result:
    - `weights`: the parameters themselves (numel x element size);
    - `persistent`: weights + what the step left allocated (gradients, optimizer state): the part
      that a memory formula without activations predicts;
    - `peak`: weights + the step's peak increase (adds activations and temporary buffers).
    On a GPU the figures come from torch.cuda's allocator; on the CPU from the process RSS
    (peak: the kernel's high-water mark), so they also count allocator slack: compare with a tolerance.
    A warm-up step with learning rate 0 first lets the libraries allocate their one-time buffers
    (they are not the step's); it leaves the parameters unchanged. The measured step's optimizer
    is created afterwards, so its state appears during the step.
    """
    device = torch.device(device or next(model.parameters()).device)
    model.to(device).train()
    batch = to_device(batch, device)
    params = [p for p in model.parameters() if p.requires_grad]
    model(**batch).loss.backward()  # warm-up
    make_optimizer(optimizer_name, params, lr=0.0).step()
    for p in params:
        p.grad = None
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    optimizer = make_optimizer(optimizer_name, params, lr)
    trim()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        before = rss()
    start = time.perf_counter()
    with PeakRSS() as tracker:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    del loss
    trim()
    if cuda:
        peak, after = torch.cuda.max_memory_allocated(device), torch.cuda.memory_allocated(device)
    else:
        peak, after = tracker.peak, rss()
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values()
                if torch.is_tensor(t) and t.dim() > 0)  # skip the scalar step counters
    grads = sum(p.grad.numel() * p.grad.element_size() for p in params if p.grad is not None)
    result = {
        "device": str(device), "how": "torch.cuda.max_memory_allocated" if cuda else "process RSS (VmHWM)",
        "optimizer": optimizer_name, "dtype": str(params[0].dtype).replace("torch.", ""),
        "n_params": sum(p.numel() for p in model.parameters()), "weights": weights,
        "gradients_held": grads, "optimizer_state_held": state,
        "persistent": weights + max(0, after - before), "peak": weights + max(0, peak - before),
        "step_seconds": seconds,
    }
    optimizer.zero_grad(set_to_none=True)
    del optimizer
    trim()
    return result


def cuda_peak_mark(device: str) -> int:
    """Before a run loads its model: reset CUDA's peak counter and return what is allocated now (0 on a CPU)."""
    if not str(device).startswith("cuda"):
        return 0
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated()


def training_peak_bytes(device: str, mark: int, weight_bytes: int, trainable: int) -> int:
    """A training run's peak bytes: measured on CUDA (the peak since `mark`, less what was there before); on a
    CPU computed, as the weights plus 16 bytes per trained parameter (activations not counted)."""
    if str(device).startswith("cuda"):
        return torch.cuda.max_memory_allocated() - mark
    return weight_bytes + ADAMW_BYTES * trainable


def tensor_bytes(tensors) -> int:
    """Bytes of `tensors`, each storage counted once."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def saved_activation_bytes(model, batch: dict[str, torch.Tensor], precision: str) -> int:
    """Bytes a training forward pass over `batch` saves for backward, the model's own parameters left out."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in params:
            saved.append(t)
        return t

    device = next(model.parameters()).device
    dtype = {"bf16-mixed": torch.bfloat16, "fp16-mixed": torch.float16}.get(precision)
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model(**to_device(batch, device)).loss.backward()
    model.zero_grad(set_to_none=True)
    model.eval()
    return tensor_bytes(saved)


def method_memory(model, batch: dict[str, torch.Tensor], precision: str, optimizer_bytes: int) -> dict:
    """A method's own bytes from its tensors: weights as stored, gradients and AdamW state, saved activations."""
    from course.lessons.qlora import quantized_weight_bytes

    weights = sum(quantized_weight_bytes(model).values())
    grads = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    activations = saved_activation_bytes(model, batch, precision) if grads else 0
    return {"weights_bytes": weights, "training_state_bytes": grads + optimizer_bytes, "activation_bytes": activations,
            "method_bytes": weights + grads + optimizer_bytes + activations}


# ---------------------------------------------------------------- predicted


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
    from course.lessons.capstone import SIZES as CAPSTONE
    from course.lessons.alignment import SIZES as ALIGNMENT
    from course.lessons.alignment import dpo_batch_size
    from course.lessons.distillation import SIZES as DISTILLATION
    from course.lessons.full_fine_tuning import SIZES as FULL_FT
    from course.lessons.lora import ALL_PROJECTIONS, DEFAULT_TARGETS
    from course.models import smollm2_config, smollm2_size

    config = smollm2_config(smollm2_size(profile.model))
    s, p = Shape.of(config), profile.precision
    w, b, length, ckpt = weights_bytes(s, p), profile.batch_size, profile.max_len, profile.checkpointing
    full = FULL_FT[profile.name]
    dpo_len = ALIGNMENT[profile.name].dpo_max_len  # prompt and reply of a DPO sequence
    capstone = CAPSTONE[profile.name]
    student_config = smollm2_config(smollm2_size(profile.model))
    student_config.num_hidden_layers = DISTILLATION[profile.name].student_layers
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
        "08-alignment": 4 * w + adapter_training_bytes(s, 2 * dpo_batch_size(profile) * dpo_len, p, DEFAULT_TARGETS,
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
        rows.append(f"| {cls.label} ({name}, {memory / GiB:.1f} GiB) | {how} | "
                    + " | ".join(f"{peak / GB:.1f}" for peak in plan.values()) + " |")
    return "\n".join(rows)
