"""One method measured in this process: its learning-rate sweep, its seeds, one row each.

    python -m course.lessons.capstone.measure --method lora --json   # one JSON line per seed
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

from course.lessons.capstone.methods import COLUMNS, METHODS, SIZES, Method, Sizes, require_methods
from course.lessons.capstone.report import table
from course.memory import method_memory, tensor_bytes
from course.profiles import PROFILES, Profile, get_profile
from course.results import device_name


def base_parameter_count(name: str) -> int:
    """Parameters of the plain model `name`, counted on the meta device (no memory, no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from course.models import causal_lm_path

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(causal_lm_path(name)))
    return sum(p.numel() for p in model.parameters())


class _KeptAdamW(torch.optim.AdamW):
    """AdamW that remembers its last instance, so that its state can be counted after `train`."""

    last: torch.optim.AdamW | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        type(self).last = self


def timed_training(model, batches: list[dict], steps: int, lr: float, seed: int, checkpointing: bool = False) -> dict:
    """Train with `course.training.train`; median step time after the first, tokens per second, AdamW's state."""
    from course.training import train

    stamps: list[float] = []
    start = time.perf_counter()
    train(model, batches, steps, lr, seed=seed, on_step=lambda step, loss: stamps.append(time.perf_counter()),
          optimizer_class=_KeptAdamW, checkpointing=checkpointing)
    seconds = stamps[-1] - start
    step_times = [b - a for a, b in zip([start] + stamps, stamps)]
    tokens = sum(int(batches[i % len(batches)]["attention_mask"].sum()) for i in range(steps))
    state = [t for s in _KeptAdamW.last.state.values() for t in s.values() if torch.is_tensor(t)]
    return {"s_per_step": statistics.median(step_times[1:] or step_times), "tokens_per_s": tokens / seconds,
            "train_tokens": tokens, "train_seconds": seconds, "optimizer_bytes": tensor_bytes(state)}


def evaluate(model, tokenizer, spec: Method, size: Sizes, general_batches: list[dict]) -> dict:
    """Held-out policy preference (paired and per request) and general-text perplexity."""
    from course.airline import paired_accuracy, policy_preference
    from course.data.make_airline_support import held_out
    from course.training import eval_loss

    right = policy_preference(model, tokenizer, held_out(size.n_eval), spec.system() if spec.system else None)
    return {"n_eval": len(right), "policy_accuracy": paired_accuracy(right),
            "decision_accuracy": sum(right) / len(right), "trivial_accuracy": 0.0,
            "general_ppl_after": math.exp(eval_loss(model, general_batches))}


def measure(method: str, profile: Profile, seeds: int | None = None) -> list[dict]:
    """Build `method`, sweep its learning rate on validation loss (seed 0), train it on the profile's budget
    with each seed at the chosen rate, and measure one row per seed."""
    from course.data import load_split
    from course.lessons.full_fine_tuning import text_batches
    from course.training import eval_loss, make_batches, trainable_parameters

    spec, size = METHODS[require_methods([method])[0]], SIZES[profile.name]
    seeds = seeds or size.seeds
    load = os.getloadavg()[0]
    general = [r["text"] for r in load_split("general_text", "test")][:size.n_general or None]
    train_rows = load_split("airline_support", "train")
    val_rows = load_split("airline_support", "validation")[:size.n_val]

    def run(seed: int, lr: float | None) -> dict:
        start = time.perf_counter()
        torch.manual_seed(seed)
        model, tokenizer = spec.build(profile)
        general_batches = text_batches(tokenizer, general, batch_size=8)
        row = {"method": method, "name": spec.name, "alters": spec.alters, "seed": seed, "lr": lr,
               "trainable_params": trainable_parameters(model)[0],
               "general_ppl_before": math.exp(eval_loss(model, general_batches))}
        optimizer_bytes = 0
        if lr is not None:
            batches = make_batches(tokenizer, train_rows, size.batch, size.max_len, seed=seed)
            val_batches = make_batches(tokenizer, val_rows, 8, size.max_len)
            row["val_loss_before"] = eval_loss(model, val_batches)
            timing = timed_training(model, batches, size.steps, lr, seed, profile.checkpointing)
            optimizer_bytes = timing.pop("optimizer_bytes")
            row |= timing | {"val_loss_after": eval_loss(model, val_batches)}
        else:
            batches = make_batches(tokenizer, train_rows[:size.batch], size.batch, size.max_len)
        row |= method_memory(model, batches[0], profile.precision, optimizer_bytes)
        return {**row, "model_and_tokenizer": (model, tokenizer), "general_batches": general_batches,
                "start": start}

    base = base_parameter_count(profile.model)

    def finish(row: dict, sweep: str) -> dict:
        """Evaluate the run's model and let it go, so that at most two trained models (a sweep's best and the
        candidate) are held at once."""
        model, tokenizer = row.pop("model_and_tokenizer")
        row |= evaluate(model, tokenizer, spec, size, row.pop("general_batches"))
        row["forgetting"] = 100 * (row["general_ppl_after"] / row["general_ppl_before"] - 1)
        row |= {"lr_sweep": sweep, "trainable_pct": 100 * row["trainable_params"] / base, "steps": size.steps,
                "batch": size.batch, "max_len": size.max_len, "n_general": len(general), "model": profile.model,
                "profile": profile.name, "device": device_name(profile.device),
                "run_seconds": time.perf_counter() - row.pop("start"),
                "load_average": f"{load:.1f} -> {os.getloadavg()[0]:.1f}"}
        return {column: row.get(column) for column in COLUMNS}

    if spec.lr is None:  # nothing trained: one row, the same for every seed
        return [finish(run(0, None), "")]
    center = spec.lr(profile)
    tried = {}
    best = None
    for factor in size.lr_factors:
        candidate = run(0, center * factor)
        tried[candidate["lr"]] = candidate["val_loss_after"]
        if best is None or candidate["val_loss_after"] < best["val_loss_after"]:
            best = candidate  # the one it replaces, and its model, go
    sweep = "; ".join(f"{lr:.3g}: {loss:.3f}" for lr, loss in tried.items())
    del candidate  # a rate the sweep did not choose lets its model go
    rows = [finish(best, sweep)]
    for seed in range(1, seeds):
        rows.append(finish(run(seed, rows[0]["lr"]), sweep))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure one method in this process and print its rows (one JSON line per seed with --json, else the table)."""
    p = argparse.ArgumentParser(prog="python -m course.lessons.capstone.measure", description=main.__doc__)
    p.add_argument("--method", required=True, choices=list(METHODS))
    p.add_argument("--profile", choices=list(PROFILES), help="default: $COURSE_PROFILE, else detected")
    p.add_argument("--seeds", type=int, help="seeds at the chosen learning rate (default: the profile's)")
    p.add_argument("--json", action="store_true", help="print each row as one JSON line")
    args = p.parse_args(argv)
    rows = measure(args.method, get_profile(args.profile), args.seeds)
    print("\n".join(json.dumps(row) for row in rows) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
