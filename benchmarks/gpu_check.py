"""Each lab's training step at this card's gpu sizes, measured against the course's memory plan; NF4 on CUDA.

    python benchmarks/gpu_check.py --out benchmarks/results/<card>.jsonl   # on a GPU machine, a few minutes
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_check.jsonl      # the same code on a CPU, tiny shapes

Models are built from their configurations with random weights: no hub, no weight files (memory and speed do
not depend on the values). For each training set-up of the labs (full fine-tuning, LoRA on q and v, LoRA r=16 on
all projections, prompt tuning, prefix tuning, QLoRA, a DPO step, a distillation step) it runs a few steps of
`course.training.train` at the profile's precision and checkpointing, and writes one JSON line: the measured peak
(`torch.cuda.max_memory_allocated`) against `course.memory`'s prediction for that set-up, tokens per second and the
model FLOPs utilisation (6 x trained model's parameters x tokens per second when its layers train or, in DPO, a
reference pass comes on top, 4 x when the base is frozen, against the card's dense 16-bit peak). Then
bitsandbytes' NF4 on CUDA against its CPU result, bit for bit, timed (the exercise of lesson 07 is graded against
the CPU result), and the 4-bit model's bytes against 16 bits for the profile's model. The QLoRA step loads the
random model from a temporary folder in 4 bits; `weights_GB` is what each model holds before training (the 4-bit
one's quantization constants included).
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from dataclasses import replace

import torch

from course.lessons.lora import ALL_PROJECTIONS, DEFAULT_TARGETS
from course.lessons.qlora import eager_bitsandbytes
from course.memory import (ADAMW_BYTES, BYTES, CONTEXT_BYTES, Shape, activation_bytes, adapter_training_bytes,
                           full_fine_tuning_bytes, nf4_bytes, weights_bytes)
from course.models import smollm2_config, smollm2_size
from course.profiles import PROFILES, profile_for_gpu
from course.training import train
from course.units import GB, GiB

# dense bf16 (fp16 on a T4) tensor-core peaks, FLOP/s, from the vendors' data sheets
PEAK_FLOPS = {"T4": 65e12, "L4": 121e12, "A10": 125e12, "A100": 312e12, "L40S": 362e12, "H100": 989e12,
              "H200": 989e12}
STEPS = 4


def card_peak(name: str) -> float | None:
    """The dense 16-bit peak of the card whose name contains a known model, else None."""
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


def build(config, dtype: torch.dtype, device: str):
    """A randomly initialised causal LM of `config` on `device`."""
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def setups(profile) -> dict:
    """Each lab's training set-up: (how to make the model trainable, predicted bytes for one model, FLOPs factor)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from course.lessons.distillation import freeze_embeddings
    from course.lessons.prefix_tuning import peft_prefix_config
    from course.lessons.prompt_tuning import peft_prompt_tuning_config

    def lora(targets, r):
        return lambda model: get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=list(targets)))

    return {
        "full fine-tuning (labs 01, 11)": (lambda model: model, "full", 6),
        "LoRA r=8 on q, v (lab 06)": (lora(DEFAULT_TARGETS, 8), ("lora", DEFAULT_TARGETS, 8), 4),
        "LoRA r=16 on all projections (lab 09)": (lora(ALL_PROJECTIONS, 16), ("lora", ALL_PROJECTIONS, 16), 4),
        "prompt tuning, 11 tokens (lab 03)": (lambda model: get_peft_model(model, peft_prompt_tuning_config(11)),
                                              ("frozen", 11), 4),
        "prefix tuning, 10 tokens (lab 04)": (lambda model: get_peft_model(model, peft_prefix_config(10)),
                                              ("frozen", 10), 4),
        "QLoRA r=8 on all projections, NF4 + double quantization (lab 07)": (
            lambda model: lora(ALL_PROJECTIONS, 8)(prepare_model_for_kbit_training(model, False)), "qlora", 4),
        "DPO with LoRA r=8 on q, v, reference = adapter off (lab 08)": (lora(DEFAULT_TARGETS, 8), "dpo", 6),
        "distillation: a student of the teacher's layers, CE + KL on cached teacher logits (lab 10)": (
            lambda student: freeze_embeddings(student) and student, "distill", 6),
    }


def batch_shape(kind, profile) -> tuple[int, int]:
    """(sequences, length) of a step: DPO reads a chosen and a rejected reply per pair, 64 tokens longer (lab 08)."""
    if kind == "dpo":
        return 2 * max(2, profile.batch_size // 2), profile.max_len + 64
    return profile.batch_size, profile.max_len


def dpo_loss(model, batch: dict[str, torch.Tensor], beta: float = 0.1) -> torch.Tensor:
    """DPO's loss on a batch whose first half are chosen and second half rejected sequences (every token scored)."""
    def log_probs(m) -> torch.Tensor:
        logits = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        return torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1).sum(-1)

    policy = log_probs(model)
    with torch.no_grad(), model.disable_adapter():
        reference = log_probs(model)
    margin = policy - reference
    half = len(margin) // 2
    return -torch.nn.functional.logsigmoid(beta * (margin[:half] - margin[half:])).mean()


def predicted(config, kind, profile, tokens: int) -> int:
    """course.memory's bytes for one model of `config` trained in set-up `kind` on `tokens` tokens per step."""
    shape, p = Shape.of(config), profile.precision
    if kind == "full":
        return full_fine_tuning_bytes(shape, p) + activation_bytes(shape, tokens, p,
                                                                   checkpointing=profile.checkpointing)
    if kind == "dpo":  # TRL checkpoints the layers; the reference pass's float32 log-probabilities come on top
        return (weights_bytes(shape, p) + tokens * shape.vocab * 4
                + adapter_training_bytes(shape, tokens, p, DEFAULT_TARGETS, checkpointing=True))
    if kind == "distill":  # the teacher in 16 bits; the student's layers train, its embeddings stay frozen
        student = distill_shape(config, profile)
        frozen = student.vocab * student.hidden
        return (weights_bytes(shape, p) + (student.params - frozen) * (ADAMW_BYTES + BYTES[p]) + frozen * BYTES[p]
                + activation_bytes(student, tokens, p, checkpointing=profile.checkpointing)
                + tokens * shape.vocab * (2 + BYTES[p] + 4 + 4))  # cached targets on the card, cast; two softmaxes
    if kind == "qlora":  # prepare_model_for_kbit_training holds the 16-bit parameters in float32
        upcast = (shape.params - shape.linear_params) * (4 - BYTES[p])
        return nf4_bytes(shape, p) + upcast + adapter_training_bytes(shape, tokens, p, ALL_PROJECTIONS)
    if kind[0] == "lora":
        _, targets, r = kind
        return weights_bytes(shape, p) + adapter_training_bytes(shape, tokens, p, targets, r)
    virtual = kind[1] * profile.batch_size
    return weights_bytes(shape, p) + adapter_training_bytes(shape, tokens + virtual, p)


def student_layers(n_teacher: int, profile) -> list[int]:
    """The teacher layers lab 10's student keeps at `profile`'s sizes (fewer than the teacher's)."""
    from course.lessons.distillation import SIZES, keep_layers

    return keep_layers(n_teacher, min(SIZES[profile.name].student_layers, n_teacher - 1))


def distill_shape(teacher_config, profile) -> Shape:
    """The shape of lab 10's student of a teacher of `teacher_config`: the same config with fewer layers."""
    student = copy.deepcopy(teacher_config)
    student.num_hidden_layers = len(student_layers(teacher_config.num_hidden_layers, profile))
    return Shape.of(student)


def ce_plus_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Lab 10's objective: half cross-entropy, half T^2 KL(teacher || student) at temperature T = 2."""
    from trl.experimental.gkd import GKDTrainer

    kl = GKDTrainer.generalized_jsd_loss(student_logits, teacher_logits, beta=0.0, temperature=2.0)
    return 0.5 * torch.nn.functional.cross_entropy(student_logits, labels) + 0.5 * 4.0 * kl


def predicted_weights(config, kind, profile) -> int:
    """course.memory's bytes for what set-up `kind` holds before training: a 16-bit or 4-bit model, or in
    distillation the teacher and its student."""
    shape = Shape.of(config)
    if kind == "qlora":
        return nf4_bytes(shape, profile.precision)
    student = weights_bytes(distill_shape(config, profile), profile.precision) if kind == "distill" else 0
    return weights_bytes(shape, profile.precision) + student


def load_4bit(folder: str, profile, device: str):
    """The model saved in `folder`, loaded with its decoder's linear layers in NF4 with double quantization."""
    from transformers import AutoModelForCausalLM

    from course.lessons.qlora import bnb_config

    return AutoModelForCausalLM.from_pretrained(folder, quantization_config=bnb_config(True, profile.dtype),
                                                dtype=profile.dtype, device_map=device)


def measure_step(name: str, make, kind, factor: int, config, profile, device: str, folder: str) -> dict:
    """A few training steps of one set-up: measured peak against predicted, speed, utilisation."""
    from course.lessons.qlora import quantized_weight_bytes

    on_gpu = device == "cuda"
    if on_gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    rows, length = batch_shape(kind, profile)
    batch = {"input_ids": torch.randint(0, config.vocab_size, (rows, length), device=device)}
    batch |= {"attention_mask": torch.ones_like(batch["input_ids"]), "labels": batch["input_ids"]}
    model = load_4bit(folder, profile, device) if kind == "qlora" else build(config, profile.dtype, device)
    loaded = sum(quantized_weight_bytes(model).values())
    batch_loss = (lambda i: dpo_loss(model, batch)) if kind == "dpo" else None
    if kind == "distill":  # the teacher's logits are cached once (on the CPU, in float16), as the lab does
        from course.lessons.distillation import distill_loss, student_from_teacher, teacher_logits

        teacher, targets = model, teacher_logits(model, [batch])
        model = student_from_teacher(teacher, student_layers(config.num_hidden_layers, profile))
        loaded += sum(quantized_weight_bytes(model).values())
        batch_loss = distill_loss(model, [batch], targets, ce_plus_kl)
    elif kind != "full":
        model.requires_grad_(False)
    model = make(model)
    stamps: list[float] = []

    def stamp(step: int, loss: float) -> None:
        if on_gpu:
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    stamp(-1, 0.0)
    checkpointing = (profile.checkpointing and kind in ("full", "distill")) or kind == "dpo"
    losses = train(model, [batch], STEPS, 1e-5, precision=profile.precision, checkpointing=checkpointing,
                   on_step=stamp, batch_loss=batch_loss)
    step_s = min(b - a for a, b in zip(stamps, stamps[1:]))
    tokens = rows * length
    trained = distill_shape(config, profile) if kind == "distill" else Shape.of(config)
    flops = card_peak(torch.cuda.get_device_properties(0).name) if on_gpu else None
    row = {"setup": name, "model": profile.model, "batch": rows, "length": length,
           "precision": profile.precision, "checkpointing": checkpointing,
           "loss_first": losses[0], "loss_last": losses[-1], "weights_GB": loaded / GB,
           "predicted_weights_GB": predicted_weights(config, kind, profile) / GB,
           "predicted_GB": predicted(config, kind, profile, tokens) / GB,
           "measured_GB": torch.cuda.max_memory_allocated() / GB if on_gpu else None,
           "s_per_step": step_s, "tokens_per_s": tokens / step_s,
           "mfu": factor * trained.params * tokens / step_s / flops if flops else None}
    del model, batch_loss
    return row


def nf4_check(profile, device: str) -> dict:
    """bitsandbytes' NF4 on `device` against its CPU result, bit for bit, timed; the 4-bit model's predicted bytes."""
    import bitsandbytes.functional as F

    from course.lessons.qlora import bnb_nf4, unpack_4bit

    torch.manual_seed(0)
    w = torch.randn(4096 if device == "cuda" else 256, 4096 if device == "cuda" else 256)
    codes, absmax, _ = bnb_nf4(w)
    on = w.to(device)
    start = time.perf_counter()
    packed, state = F.quantize_4bit(on.reshape(-1), blocksize=64, quant_type="nf4")
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    shape = Shape.of(smollm2_config(smollm2_size(profile.model)))
    large = Shape.of(smollm2_config("1.7b"))
    return {"setup": "NF4 quantize", "elements": w.numel(), "device": device,
            "codes_equal_cpu": bool(torch.equal(unpack_4bit(packed.cpu(), w.numel()), codes)),
            "absmax_equal_cpu": bool(torch.equal(state.absmax.cpu(), absmax)), "seconds": seconds,
            "model": profile.model, "nf4_double_quant_GB": nf4_bytes(shape, profile.precision) / GB,
            "bf16_GB": weights_bytes(shape, "bf16-mixed") / GB,
            "nf4_share_of_bf16": nf4_bytes(shape, profile.precision) / weights_bytes(shape, "bf16-mixed"),
            "nf4_share_of_bf16_1.7B": nf4_bytes(large, "bf16-mixed") / weights_bytes(large, "bf16-mixed")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="a JSONL file: one line per set-up")
    parser.add_argument("--dry-run", action="store_true", help="on the CPU: a 2-layer SmolLM2-135M, 2 x 32 tokens")
    args = parser.parse_args()
    if args.dry_run:
        eager_bitsandbytes()
        device = "cpu"
        profile = replace(PROFILES["gpu"], model="smollm2-135m-instruct", batch_size=2, max_len=32,
                          dtype=torch.bfloat16, precision="bf16-mixed", checkpointing=True)
        config = smollm2_config("135m")
        config.num_hidden_layers = 2
        card = "dry run (CPU)"
    elif torch.cuda.is_available():
        device = "cuda"
        props = torch.cuda.get_device_properties(0)
        profile = profile_for_gpu(props.total_memory, (props.major, props.minor))
        config = smollm2_config(smollm2_size(profile.model))
        card = f"{props.name}, {props.total_memory / GiB:.1f} GiB, capability {props.major}.{props.minor}"
    else:
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --dry-run")
    rows = [{"card": card, "card_class": profile.card, "context_GB": CONTEXT_BYTES / GB, "torch": torch.__version__}]
    with tempfile.TemporaryDirectory() as folder:
        build(config, profile.dtype, device).save_pretrained(folder)  # random weights, for the 4-bit load
        for name, (make, kind, factor) in setups(profile).items():
            rows.append(measure_step(name, make, kind, factor, config, profile, device, folder))
            print(json.dumps(rows[-1]), flush=True)
    rows.append(nf4_check(profile, device))
    print(json.dumps(rows[-1]), flush=True)
    with open(args.out, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
