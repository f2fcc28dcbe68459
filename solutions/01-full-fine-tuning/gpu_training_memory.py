"""Training-step memory on a GPU: predicted bytes for weights, gradients and optimizer state vs measured.

    python solutions/01-full-fine-tuning/gpu_training_memory.py [--models 135m 1.7b] [--batch 4] [--seq 256]

Builds SmolLM2-shaped Llama models from their configs (random weights: memory and speed do not
depend on the values, so no hub download is needed) and runs real AdamW steps in three set-ups:
full fine-tuning in float32, full fine-tuning with bf16 autocast (float32 master weights), and
LoRA (r=8 on q/v, peft) in bf16. For each it prints the predicted persistent bytes, the measured
`torch.cuda.memory_allocated` after the step (weights + gradients + optimizer state), the measured
peak `torch.cuda.max_memory_allocated` (that plus activations and temporaries) and seconds per step.
Lesson 01 and the README quote its figures (gpu_training_memory_h200.jsonl beside this file).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import LlamaForCausalLM

from course.lessons.full_fine_tuning import SMOLLM2_SHAPES, smollm2_config
from course.units import GB


def build(name: str, dtype: torch.dtype) -> LlamaForCausalLM:
    """A randomly initialised SmolLM2-shaped model on the GPU."""
    with torch.device("cuda"):  # initialise on the GPU: seconds, not minutes, for 1.7B
        return LlamaForCausalLM(smollm2_config(name)).to(dtype)


def predicted_bytes(model: torch.nn.Module, optimizer_states: int = 2) -> int:
    """Weights of every parameter, plus a gradient and AdamW's two moments for each trainable one,
    each in its parameter's own dtype (peft keeps LoRA weights in float32 on a bf16 base)."""
    return sum(p.numel() * p.element_size() * (1 + (1 + optimizer_states) * p.requires_grad)
               for p in model.parameters())


def measure(name: str, setup: str, batch: int, seq: int, steps: int = 4) -> dict:
    """Run `steps` AdamW steps and report memory after the last one and the peak."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    dtype = torch.bfloat16 if setup == "lora-bf16" else torch.float32
    model = build(name, dtype)
    if setup == "lora-bf16":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    params = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    # the plain per-parameter AdamW: two moment tensors per parameter (plus a scalar step count)
    optimizer = torch.optim.AdamW(params, lr=1e-5, foreach=False)
    ids = torch.randint(0, 49152, (batch, seq), device="cuda")
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=setup == "full-mixed"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    after_step = torch.cuda.memory_allocated()  # gradients kept: weights + grads + states
    predicted = predicted_bytes(model)
    row = {"model": name, "setup": setup, "trainable": n_trainable, "frozen": n_frozen,
           "predicted_GB": predicted / GB, "after_step_GB": after_step / GB,
           "peak_GB": torch.cuda.max_memory_allocated() / GB, "ratio_after_to_predicted": after_step / predicted,
           "s_per_step": min(times[1:]), "tokens_per_s": batch * seq / min(times[1:])}
    del model, optimizer, params
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["135m", "1.7b"], choices=list(SMOLLM2_SHAPES))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU (the CPU figures come from the lesson 01 lab)")
    print(f"{torch.cuda.get_device_name()} torch {torch.__version__} batch {args.batch} x {args.seq} tokens")
    for name in args.models:
        for setup in ("full-fp32", "full-mixed", "lora-bf16"):
            print(json.dumps(measure(name, setup, args.batch, args.seq)), flush=True)


if __name__ == "__main__":
    main()
