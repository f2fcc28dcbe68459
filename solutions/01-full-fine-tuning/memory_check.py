"""Predicted against measured training memory, on the CPU or a GPU (lesson 01).

    python solutions/01-full-fine-tuning/memory_check.py                     # cpu, MiniLM
    python solutions/01-full-fine-tuning/memory_check.py --device cuda --model smollm2-135m-instruct

For each optimizer it builds the model from its config (random weights: memory does not depend on
their values), runs ONE real training step with `course.memory.measure_training_step_memory`
and prints the bytes predicted by the reference `training_memory_bytes` (the exercise's answer,
which is why this script lives in solutions/, not in the course package) next to the bytes the
step left allocated (weights, gradients, optimizer state) and the peak (plus activations).
Rows: float32 with sgd / sgd_momentum / adamw; on a GPU also bf16 weights with AdamW states in
bf16 ("pure bf16", 8 bytes per parameter). Mixed precision with a float32 master copy
(16 bytes per parameter) is printed as a prediction only: torch has no single switch for it.
"""

from __future__ import annotations

import argparse
import json

import torch

import course  # noqa: F401  (quiets library warnings)
from course.lessons.full_fine_tuning import INTENTS
from course.memory import OPTIMIZERS, measure_training_step_memory
from course.units import MiB


def training_memory_bytes(n_params: int, param_bytes: int = 4, grad_bytes: int = 4, optimizer: str = "adamw",
                          optimizer_state_bytes: int = 4) -> int:
    """The reference answer of the exercise: weights + gradients + k optimizer states."""
    states = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}
    if optimizer not in states:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    return n_params * (param_bytes + grad_bytes + states[optimizer] * optimizer_state_bytes)


def build(name: str, dtype: torch.dtype, device: str):
    """(model, batch): the named model built from its config with random weights, and one batch."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from course.models import causal_lm_path, encoder_source, get_spec

    torch.manual_seed(0)
    if get_spec(name).kind == "encoder":
        source = encoder_source(name)
        config = AutoConfig.from_pretrained(source, num_labels=len(INTENTS))
        model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source)
        batch = dict(tokenizer(["I would like a refund for my flight to Oslo, please."] * 16, padding="max_length",
                               max_length=64, return_tensors="pt"))
        batch["labels"] = torch.zeros(16, dtype=torch.long)
    else:
        path = causal_lm_path(name)
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=dtype)
        ids = torch.randint(0, model.config.vocab_size, (8, 128))
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    return model.to(device), batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    rows = [(torch.float32, name) for name in OPTIMIZERS]
    if args.device.startswith("cuda"):
        rows.append((torch.bfloat16, "adamw"))
    results = []
    for dtype, optimizer in rows:
        model, batch = build(args.model, dtype, args.device)
        m = measure_training_step_memory(model, batch, optimizer, args.device)
        size = torch.finfo(dtype).bits // 8
        predicted = training_memory_bytes(m["n_params"], size, size, optimizer, size)
        m["predicted"] = predicted
        results.append(m)
        print(f"{args.model} {m['dtype']:>8} {optimizer:>12} on {m['device']}: predicted {predicted / MiB:9.1f} MiB | "
              f"after the step {m['persistent'] / MiB:9.1f} MiB ({m['persistent'] / predicted:.3f}x) | "
              f"peak {m['peak'] / MiB:9.1f} MiB | {m['step_seconds']:.2f} s  [{m['how']}]")
        del model
    n = results[0]["n_params"]
    print(f"mixed precision + AdamW (bf16 weights and gradients, fp32 master copy and states), predicted: "
          f"{training_memory_bytes(n, 2 + 4, 2) / MiB:.1f} MiB")
    print("RESULTS", json.dumps(results))


if __name__ == "__main__":
    main()
