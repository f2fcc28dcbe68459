"""Lesson 11 (capstone): the source material's method table, measured on one task and one model family.

Seven ways to make SmolLM2 follow the airline's refund policy, each built with the library and the
settings its own lesson uses, each trained on the same tokens (the same batches, steps and seeds), its
learning rate chosen by a small sweep on validation data, over several seeds, each method in a fresh
Python process:

    python -m course.capstone --method lora --json      # one method: one JSON line per seed
    course capstone --profile cpu --seeds 3 --out results   # all of them: table, CSV, plotly chart

A row is one (method, seed). Policy accuracy is a held-out preference test: for each new request the model
scores its policy reply and the same reply with the opposite refund decision; a pair of requests (one the
airline's fault, one weather) counts when the model prefers the policy reply for both, so a model that takes
one decision whatever the cause scores 0 and a coin 25%. Memory is the method's own bytes, summed from its
tensors: the weights as stored (4-bit codes and their constants included), the gradients and AdamW's state of
what trains, and the activations a training step saves for backward. Forgetting is the change of general-text
perplexity (lesson 01's passages) that training caused, in % of the perplexity before.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from course.errors import CourseError
from course.profiles import PROFILES, Profile, get_profile

MiB = 2 ** 20


@dataclass(frozen=True)
class Sizes:
    """What one benchmark run does in a profile; the training budget is the same for every method."""

    steps: int  # optimizer steps
    batch: int  # examples per step
    max_len: int  # tokens per example (at most)
    n_val: int  # airline validation examples: the learning-rate sweep's loss
    n_eval: int  # new held-out requests for the policy accuracy (pairs: even)
    n_general: int  # general_text passages for the perplexity (0 = all 100)
    lr_factors: tuple[float, ...]  # the sweep: multiples of the method's lesson learning rate
    seeds: int  # seeds per method at the chosen learning rate


SIZES = {
    "smoke": Sizes(steps=3, batch=2, max_len=64, n_val=4, n_eval=4, n_general=4, lr_factors=(1,), seeds=2),
    "cpu": Sizes(steps=16, batch=4, max_len=128, n_val=16, n_eval=128, n_general=8, lr_factors=(1 / 3, 1, 3),
                 seeds=3),
    "gpu": Sizes(steps=200, batch=16, max_len=256, n_val=60, n_eval=256, n_general=0, lr_factors=(1 / 3, 1, 3),
                 seeds=3),
}

# ---------------------------------------------------------------- the methods


def _plain(profile: Profile):
    """(plain model, tokenizer) in the profile's dtype and device."""
    from course.models import load_causal_lm

    return load_causal_lm(profile.model, profile.dtype, profile.device)


def _frozen(profile: Profile):
    """(plain model with every weight frozen, tokenizer): what a prompt changes without training."""
    model, tokenizer = _plain(profile)
    return model.requires_grad_(False), tokenizer


def _peft(profile: Profile, config):
    """(peft model with `config` on the plain model, tokenizer)."""
    from peft import get_peft_model

    model, tokenizer = _plain(profile)
    return get_peft_model(model, config), tokenizer


def _prompt_tuning(profile: Profile):
    """Lesson 03: peft prompt tuning, a virtual token per token of the policy system prompt, started from its words."""
    from peft import get_peft_model

    from course.models import causal_lm_path
    from course.prompt_tuning import peft_prompt_tuning_config

    model, tokenizer = _plain(profile)
    n = len(tokenizer(_policy_prompt(), add_special_tokens=False)["input_ids"])
    config = peft_prompt_tuning_config(n, _policy_prompt(), causal_lm_path(profile.model))
    return get_peft_model(model, config), tokenizer


def _prefix_tuning(profile: Profile):
    """Lesson 04: peft prefix tuning, 10 virtual tokens of keys and values in every layer, zero at the start."""
    from course.prefix_tuning import peft_prefix_config

    return _peft(profile, peft_prefix_config(10))


def _adapters(profile: Profile):
    """Lesson 05: Houlsby bottleneck adapters (reduction factor 16) after o_proj and down_proj of every layer."""
    from course.adapters import AdapterConfig, add_bottleneck_adapters, train_only

    model, tokenizer = _plain(profile)
    add_bottleneck_adapters(model, AdapterConfig("houlsby", reduction_factor=16))
    train_only(model, lambda name: "bottleneck_adapter" in name)
    return model, tokenizer


def _lora(profile: Profile):
    """Lesson 06: peft LoRA r=8, alpha 16 on q_proj and v_proj."""
    from course.lora import peft_lora_config

    return _peft(profile, peft_lora_config(r=8, alpha=16))


def _qlora(profile: Profile):
    """Lesson 07: LoRA r=8 on all 7 projections of an NF4 base with double quantization."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    from course.lora import peft_lora_config
    from course.qlora import QLORA_TARGETS, cpu_repacking, load_4bit

    model, tokenizer = load_4bit(profile.model, double_quant=True, compute_dtype=profile.dtype, device=profile.device)
    cpu_repacking(model, False)  # a repacked layer passes no gradient (lesson 07)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, peft_lora_config(r=8, alpha=16, targets=QLORA_TARGETS)), tokenizer


def _full_lr(profile: Profile) -> float:
    """Lesson 01's full fine-tuning learning rate for this profile."""
    from course.full_ft import LAB_SIZES

    return LAB_SIZES[profile.name].full_lr


def _adapter_lr(profile: Profile) -> float:
    """Lesson 05's adapter learning rate."""
    from course.adapters import LEARNING_RATES

    return LEARNING_RATES["adapters"]


def _prompt_lr(profile: Profile) -> float:
    """Lesson 03's prompt-tuning learning rate (lesson 04 uses the same for prefixes)."""
    from course.prompt_tuning import LEARNING_RATE

    return LEARNING_RATE


def _policy_prompt() -> str:
    """Lesson 02's system prompt: the airline's role and refund policy in words."""
    from course.prompting import SYSTEM_PROMPT

    return SYSTEM_PROMPT


@dataclass(frozen=True)
class Method:
    """One row of the comparison: how to build its trainable model, and how fast it learns."""

    name: str  # as the source material calls it
    alters: str  # what it changes, as built here
    build: Callable[[Profile], tuple]  # (model to train, tokenizer)
    lr: Callable[[Profile], float] | None  # None: nothing is trained
    system: Callable[[], str] | None = None  # the system prompt of its replies


METHODS: dict[str, Method] = {
    "full-ft": Method("full fine-tuning", "all weights", _plain, _full_lr),
    "soft-prompt": Method("soft prompting", "the input words: the policy as a system prompt", _frozen, None,
                          _policy_prompt),
    "prompt-tuning": Method("prompt tuning", "trainable input vectors, one per token of the system prompt",
                            _prompt_tuning, _prompt_lr),
    "prefix-tuning": Method("prefix tuning", "10 trainable keys and values in every layer", _prefix_tuning, _prompt_lr),
    "adapters": Method("adapters", "2 bottleneck layers (d -> d/16 -> d) in every layer", _adapters, _adapter_lr),
    "lora": Method("LoRA", "rank-8 updates of q_proj, v_proj", _lora, lambda profile: profile.lr),
    "qlora": Method("QLoRA", "rank-8 updates of all 7 projections; 4-bit NF4 base", _qlora, lambda profile: profile.lr),
}

# The source material's closing table, in its own words: (efficiency, effectiveness).
SOURCE_WORDS: dict[str, tuple[str, str]] = {
    "full-ft": ("very low", "very high (risks forgetting)"),
    "soft-prompt": ("extremely high", "very low"),
    "prompt-tuning": ("very high", "low"),
    "prefix-tuning": ("high", "moderate"),
    "adapters": ("moderate", "high"),
    "lora": ("high", "very high"),
    "qlora": ("very high", "high"),
}

COLUMNS = ["method", "name", "alters", "seed", "lr", "lr_sweep", "trainable_params", "trainable_pct", "method_bytes",
           "weights_bytes", "training_state_bytes", "activation_bytes", "s_per_step", "tokens_per_s", "train_tokens",
           "n_eval", "policy_accuracy", "decision_accuracy", "trivial_accuracy", "val_loss_before", "val_loss_after",
           "general_ppl_before", "general_ppl_after", "forgetting", "steps", "batch", "max_len", "n_general",
           "train_seconds", "run_seconds", "load_average", "model", "profile", "device"]


def require_profile(name: str | None) -> str:
    """The profile `name` (default: $COURSE_PROFILE, else detected), or a CourseError listing the profiles."""
    if name is not None and name not in PROFILES:
        raise CourseError(f"unknown profile {name!r} (profiles: {', '.join(PROFILES)})")
    return get_profile(name).name


def require_methods(methods: list[str]) -> list[str]:
    """`methods` if each is a known method id, else a CourseError listing the ids."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CourseError(f"unknown method {unknown[0]!r} (methods: {', '.join(METHODS)})")
    return methods


# ---------------------------------------------------------------- one method, in this process


def device_name(device: str) -> str:
    """The device in words: 'cuda: <GPU name>' or 'cpu: <CPU model>, <threads> threads'."""
    if device.startswith("cuda"):
        return f"cuda: {torch.cuda.get_device_name(torch.device(device))}"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    except OSError:
        import platform

        cpu = platform.processor() or "unknown CPU"
    threads = torch.get_num_threads()
    return f"cpu: {cpu}, {threads} thread{'s' if threads > 1 else ''}"


def base_parameter_count(name: str) -> int:
    """Parameters of the plain model `name`, counted on the meta device (no memory, no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from course.models import causal_lm_path

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(causal_lm_path(name)))
    return sum(p.numel() for p in model.parameters())


def tensor_bytes(tensors) -> int:
    """Bytes of `tensors`, each storage counted once."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def saved_activation_bytes(model, batch: dict[str, torch.Tensor], precision: str) -> int:
    """Bytes a training forward pass over `batch` saves for backward, the model's own parameters left out."""
    from course.training import to_device

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


def method_memory(model, batch: dict[str, torch.Tensor], precision: str, optimizer_bytes: int) -> dict:
    """The method's own bytes from its tensors: weights as stored, gradients and AdamW state, saved activations."""
    from course.qlora import quantized_weight_bytes

    weights = sum(quantized_weight_bytes(model).values())
    grads = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    activations = saved_activation_bytes(model, batch, precision) if grads else 0
    return {"weights_bytes": weights, "training_state_bytes": grads + optimizer_bytes, "activation_bytes": activations,
            "method_bytes": weights + grads + optimizer_bytes + activations}


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
    from course.full_ft import text_batches
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


# ---------------------------------------------------------------- all methods, one process each


def run_method(method: str, profile: str, seeds: int | None = None) -> list[dict]:
    """`measure` in a fresh Python process, so that no method inherits another's memory; the rows it printed."""
    import course

    paths = [str(Path(course.__file__).parent.parent), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env = {**os.environ, "COURSE_PROGRESS": "0", "COURSE_PROFILE": profile,
           "PYTHONPATH": os.pathsep.join(filter(None, paths))}  # the same `course` as this process
    command = [sys.executable, "-m", "course.capstone", "--method", method, "--profile", profile, "--json"]
    done = subprocess.run(command + (["--seeds", str(seeds)] if seeds else []), capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{method} failed (exit {done.returncode}):\n{tail}")
    return [json.loads(line) for line in done.stdout.strip().splitlines() if line.startswith("{")]


def writable_folder(out: str | Path) -> Path:
    """`out`, created if needed, or a CourseError when it cannot be written."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(f"{path}: cannot create the output folder ({error.strerror})") from None
    if not os.access(path, os.W_OK):
        raise CourseError(f"{path}: the output folder is not writable")
    return path


def benchmark(profile: str, methods: list[str] | None = None, out: str | Path | None = None,
              seeds: int | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Run each method in its own process; write `out/<profile>.csv` and `out/<profile>.html` when `out` is given.

    Bad input (an unknown profile or method, fewer than one seed, an output folder that cannot be written) fails
    before any work.
    """
    profile, methods = require_profile(profile), require_methods(methods or list(METHODS))
    if seeds is not None and seeds < 1:
        raise CourseError(f"--seeds must be at least 1, not {seeds}")
    folder = writable_folder(out) if out is not None else None
    n = seeds or SIZES[profile].seeds
    log(f"capstone: {len(methods)} method(s), profile {profile}, {n} seed(s), each method in its own process")
    rows = []
    for method in methods:
        start = time.perf_counter()
        done = run_method(method, profile, seeds)
        accuracy = [r["policy_accuracy"] for r in done]
        lr = f"{done[0]['lr']:.3g}" if done[0]["lr"] else "-"
        log(f"{method:>14}: {time.perf_counter() - start:6.1f} s, lr {lr}, policy accuracy "
            + ", ".join(f"{a:.0%}" for a in accuracy))
        rows += done
    if folder is not None:
        write_csv(rows, folder / f"{profile}.csv")
        figure(rows).write_html(folder / f"{profile}.html", include_plotlyjs="directory")
    return rows


# ---------------------------------------------------------------- the results: CSV, summary, table, chart


def write_csv(rows: list[dict], path: Path, columns: list[str] = COLUMNS) -> None:
    """The rows as CSV, one column per `columns` entry (empty where a row has no value); `read_csv` reads it."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: ("" if row.get(c) is None else row[c]) for c in columns} for row in rows)


def _value(text: str) -> int | float | str | None:
    """A CSV cell back as an int, a float, a string, or None when empty."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path: str | Path) -> list[dict]:
    """Rows written by `write_csv`, with numbers as numbers and empty cells as None."""
    with open(path, newline="") as f:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def stored_results(folder: str | Path) -> dict[str, list[dict]]:
    """The runs stored in `folder` as <profile>.csv, by profile."""
    paths = {name: Path(folder) / f"{name}.csv" for name in PROFILES}
    return {name: read_csv(path) for name, path in paths.items() if path.exists()}


SUMMARY = ["policy_accuracy", "decision_accuracy", "val_loss_after", "forgetting", "method_bytes", "s_per_step",
           "tokens_per_s"]


def summary(rows: list[dict]) -> list[dict]:
    """One row per method, in order: its first row's fields, with each `SUMMARY` column's mean over the seeds
    and its sample standard deviation as `<column>_sd` (0 with one seed), and the seeds counted as `seeds`."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in methods:
        runs = [r for r in rows if r["method"] == method]
        row = dict(runs[0]) | {"seeds": len(runs)}
        for column in SUMMARY:
            values = [r[column] for r in runs if r[column] is not None]
            row[column] = statistics.fmean(values) if values else None
            row[f"{column}_sd"] = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
        out.append(row)
    return out


# (column, header, format) of the printed table; mean ± sd where the column is in SUMMARY
TABLE = [("name", "method", "{}"), ("trainable_params", "trainable", "{:,}"), ("trainable_pct", "%", "{:.3g}"),
         ("lr", "lr", "{:.3g}"), ("method_bytes", "MiB", "{:,.0f}"), ("s_per_step", "s/step", "{:.2f}"),
         ("tokens_per_s", "tokens/s", "{:,.0f}"), ("policy_accuracy", "policy acc. (pairs)", "{:.0%}"),
         ("decision_accuracy", "per request", "{:.0%}"), ("val_loss_after", "val loss after", "{:.3f}"),
         ("forgetting", "forgetting %", "{:+.1f}")]


def _cell(row: dict, column: str, fmt: str) -> str:
    """A table cell: the value, or mean ± sd over seeds; '-' when there is none."""
    value = row[column]
    if value is None:
        return "-"
    scale = 1 / MiB if column == "method_bytes" else 1
    text = fmt.format(value * scale)
    sd = row.get(f"{column}_sd")
    if sd and row["seeds"] > 1:
        text += " ± " + fmt.format(sd * scale).lstrip("+")
    return text


def table(rows: list[dict]) -> str:
    """The comparison as aligned text, mean ± standard deviation over seeds, with the budget and device below."""
    methods = summary(rows)
    cells = [[header for _, header, _ in TABLE]]
    cells += [[_cell(row, col, fmt) for col, _, fmt in TABLE] for row in methods]
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    first = rows[0]
    seeds = max(row["seeds"] for row in methods)
    lines.append(f"{seeds} seed(s) per method at the learning rate its sweep chose; {first['steps']} steps of "
                 f"{first['batch']} x {first['max_len']} tokens; policy accuracy: {first['n_eval']} new requests in "
                 f"pairs, a one-decision answer scores {first['trivial_accuracy']:.0%}; MiB: the method's tensors "
                 "(weights, gradients, AdamW state, saved activations); forgetting: general-text perplexity change")
    lines.append(f"model {first['model']}, profile {first['profile']}, device {first['device']}")
    return "\n".join(lines)


# (column, subplot title, log axis, label format) of the chart
CHART = [("trainable_pct", "trainable parameters (% of the model, log)", True, "{:.3g}"),
         ("method_bytes", "the method's memory (MiB, from its tensors)", False, "{:,.0f}"),
         ("s_per_step", "seconds per training step", False, "{:.2f}"),
         ("val_loss_after", "validation loss after training", False, "{:.2f}"),
         ("policy_accuracy", "policy accuracy, held-out pairs (%)", False, "{:.0f}"),
         ("forgetting", "forgetting: general-text perplexity change (%)", False, "{:+.1f}")]


def figure(rows: list[dict]):
    """Six bar charts, one bar per method: the mean over seeds with ± one standard deviation as error bars."""
    from plotly.subplots import make_subplots

    methods = summary(rows)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[title for _, title, _, _ in CHART], vertical_spacing=0.16)
    names = [row["name"] for row in methods]
    for i, (column, _, log, fmt) in enumerate(CHART):
        scale = {"policy_accuracy": 100, "method_bytes": 1 / MiB}.get(column, 1)
        values = [None if row[column] is None else scale * row[column] for row in methods]
        errors = [None if row.get(f"{column}_sd") is None else scale * row[f"{column}_sd"] for row in methods]
        fig.add_bar(x=names, y=values, showlegend=False, row=i // 3 + 1, col=i % 3 + 1,
                    error_y={"type": "data", "array": errors, "visible": column in SUMMARY},
                    text=["" if v is None else fmt.format(v) for v in values], textposition="outside")
        fig.update_yaxes(type="log" if log else "linear", row=i // 3 + 1, col=i % 3 + 1)
    fig.add_hline(y=25, line_dash="dot", annotation_text="coin: 25%", row=2, col=2)
    first = rows[0]
    budget = f"{first['steps']} steps of {first['batch']} x {first['max_len']} tokens each"
    seeds = max(row["seeds"] for row in methods)
    fig.update_layout(height=720, title=f"{first['model']}, {budget}, {seeds} seed(s) ({first['profile']} profile; "
                                        f"{first['device']})<br><sup>bars: mean over seeds; error bars: ± one "
                                        "standard deviation</sup>")
    return fig


# what the explorer can put on an axis: label -> column (means over seeds)
AXES = {"trainable parameters (% of the model)": "trainable_pct", "the method's memory (bytes)": "method_bytes",
        "seconds per training step": "s_per_step", "training tokens per second": "tokens_per_s",
        "policy accuracy (pairs)": "policy_accuracy", "validation loss after training": "val_loss_after",
        "forgetting (% perplexity change)": "forgetting"}


LOG_AXES = {"trainable_pct"}  # spans five orders of magnitude


def _plottable(row: dict, label: str) -> bool:
    """Whether `row` has a value for the axis `label` (a log axis cannot show 0)."""
    value = row[AXES[label]]
    return value is not None and (AXES[label] not in LOG_AXES or value > 0)


def trade_off(rows: list[dict], x: str, y: str):
    """One point per method (its mean over seeds), `y` against `x` (labels of `AXES`); the title names the methods
    it cannot show."""
    import plotly.graph_objects as go

    methods = summary(rows)
    shown = [row for row in methods if _plottable(row, x) and _plottable(row, y)]
    fig = go.Figure(go.Scatter(x=[row[AXES[x]] for row in shown], y=[row[AXES[y]] for row in shown],
                               text=[row["name"] for row in shown], mode="markers+text", textposition="top center",
                               marker={"size": 14}))
    missing = [row["name"] for row in methods if row not in shown]
    fig.update_layout(title=f"{y} against {x}" + (f" (not shown: {', '.join(missing)})" if missing else ""),
                      xaxis_title=x, yaxis_title=y, height=460)
    fig.update_xaxes(type="log" if AXES[x] in LOG_AXES else "linear")
    fig.update_yaxes(type="log" if AXES[y] in LOG_AXES else "linear")
    return fig


# ---------------------------------------------------------------- python -m course.capstone


def main(argv: list[str] | None = None) -> int:
    """Measure one method in this process and print its rows (one JSON line per seed with --json, else the table)."""
    p = argparse.ArgumentParser(prog="python -m course.capstone", description=main.__doc__)
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
