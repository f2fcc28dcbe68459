"""Lesson 11 (capstone): the source material's method table, measured on one task and one model family.

Seven ways to make SmolLM2 follow the airline's refund policy, each built with the library and the
settings its own lesson uses, each trained on the same batches for the same number of steps, each
measured in a fresh Python process (so that its peak memory is its own):

    python -m course.capstone --method lora --json      # one method, one JSON line
    course capstone --profile cpu --out results          # all of them: table, CSV, plotly chart

Columns: trainable parameters (count, % of the plain model's), peak memory during training (the
process RSS high-water mark on a CPU, torch.cuda.max_memory_allocated on a GPU), median seconds per
training step (the first step is warm-up and left out), training tokens per second (non-padding
tokens / training wall time), policy accuracy on held-out requests (greedy replies, as lesson 06
measures it) and the share of replies that take no refund decision, validation loss, and forgetting:
the change of general-text perplexity (lesson 01's passages) that training caused, in % of the
perplexity before training. Each row also records the 1-minute load average at its start and end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
    n_val: int  # airline validation examples for the loss
    n_test: int  # held-out airline requests for the policy accuracy
    max_new_tokens: int  # greedy reply length
    n_general: int  # general_text passages for the perplexity (0 = all 100)


SIZES = {
    "smoke": Sizes(steps=3, batch=2, max_len=64, n_val=4, n_test=4, max_new_tokens=16, n_general=4),
    # sized for a shared 2-core CPU: prompt and prefix tuning decode with a full forward pass per new token
    "cpu": Sizes(steps=12, batch=4, max_len=128, n_val=8, n_test=12, max_new_tokens=48, n_general=8),
    "gpu": Sizes(steps=200, batch=16, max_len=256, n_val=60, n_test=60, max_new_tokens=96, n_general=0),
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

COLUMNS = ["method", "name", "alters", "trainable_params", "trainable_pct", "peak_memory_mib", "memory_measured_as",
           "seconds_per_step", "tokens_per_second", "policy_accuracy", "policy_undecided", "val_loss_before",
           "val_loss_after", "general_ppl_before", "general_ppl_after", "forgetting_pct", "lr", "steps", "batch",
           "max_len", "n_test", "max_new_tokens", "n_general", "train_seconds", "run_seconds", "load_average", "model",
           "profile", "device"]


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


@contextlib.contextmanager
def peak_memory(device: str) -> Iterator[dict]:
    """Peak memory of the block in `out["bytes"]`: torch.cuda.max_memory_allocated, else the RSS high-water mark."""
    from course.full_ft import _PeakRSS, _trim

    out: dict = {}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        yield out
        torch.cuda.synchronize()
        out["bytes"] = torch.cuda.max_memory_allocated()
        return
    _trim()  # give back what earlier evaluations freed, so that the mark starts from what is held
    with _PeakRSS() as tracker:
        yield out
    out["bytes"] = tracker.peak


def memory_measure(device: str) -> str:
    """How `peak_memory` measures on `device`, in words."""
    return "torch.cuda.max_memory_allocated" if device.startswith("cuda") else "process RSS high-water mark (VmHWM)"


def timed_training(model, batches: list[dict], steps: int, lr: float, device: str, checkpointing: bool = False) -> dict:
    """Train with `course.training.train`; peak memory, median step time after the first, tokens per second."""
    from course.training import train

    stamps: list[float] = []
    with peak_memory(device) as peak:
        start = time.perf_counter()
        train(model, batches, steps, lr, on_step=lambda step, loss: stamps.append(time.perf_counter()),
              checkpointing=checkpointing)
    seconds = stamps[-1] - start
    step_times = [b - a for a, b in zip([start] + stamps, stamps)]
    tokens = sum(int(batches[i % len(batches)]["attention_mask"].sum()) for i in range(steps))
    return {"peak_memory_mib": peak["bytes"] / MiB, "seconds_per_step": statistics.median(step_times[1:] or step_times),
            "tokens_per_second": tokens / seconds, "train_seconds": seconds}


def measure(method: str, profile: Profile) -> dict:
    """Build `method`, train it on the profile's budget and measure one row of the comparison."""
    from course.airline import policy_accuracy, refund_decision
    from course.data import load_split
    from course.full_ft import text_batches
    from course.training import eval_loss, make_batches, trainable_parameters

    spec, size = METHODS[require_methods([method])[0]], SIZES[profile.name]
    start, load = time.perf_counter(), os.getloadavg()[0]
    torch.manual_seed(0)
    model, tokenizer = spec.build(profile)
    general = [r["text"] for r in load_split("general_text", "test")][:size.n_general or None]
    general_batches = text_batches(tokenizer, general, batch_size=8)
    row = {"method": method, "name": spec.name, "alters": spec.alters,
           "trainable_params": trainable_parameters(model)[0], "memory_measured_as": memory_measure(profile.device),
           "general_ppl_before": math.exp(eval_loss(model, general_batches))}
    row["trainable_pct"] = 100 * row["trainable_params"] / base_parameter_count(profile.model)
    if spec.lr is not None:
        train_rows = load_split("airline_support", "train")
        train_batches = make_batches(tokenizer, train_rows, size.batch, size.max_len, seed=0)
        val_batches = make_batches(tokenizer, load_split("airline_support", "validation")[:size.n_val], 8, size.max_len)
        row["lr"] = spec.lr(profile)
        row["val_loss_before"] = eval_loss(model, val_batches)
        row |= timed_training(model, train_batches, size.steps, row["lr"], profile.device, profile.checkpointing)
        row["val_loss_after"] = eval_loss(model, val_batches)
        row["general_ppl_after"] = math.exp(eval_loss(model, general_batches))
    else:  # nothing trained: the same weights, so the same perplexity
        row["general_ppl_after"] = row["general_ppl_before"]
    row["forgetting_pct"] = 100 * (row["general_ppl_after"] / row["general_ppl_before"] - 1)
    test_rows = load_split("airline_support", "test")[:size.n_test]
    system = spec.system() if spec.system else None
    row["policy_accuracy"], replies = policy_accuracy(model, tokenizer, test_rows, size.max_new_tokens, system)
    row["policy_undecided"] = sum(refund_decision(reply) is None for reply in replies) / len(replies)
    row |= {"steps": size.steps, "batch": size.batch, "max_len": size.max_len, "n_test": len(test_rows),
            "max_new_tokens": size.max_new_tokens, "n_general": len(general), "model": profile.model,
            "profile": profile.name, "device": device_name(profile.device),
            "run_seconds": time.perf_counter() - start, "load_average": f"{load:.1f} -> {os.getloadavg()[0]:.1f}"}
    return {column: row.get(column) for column in COLUMNS}


# ---------------------------------------------------------------- all methods, one process each


def run_method(method: str, profile: str) -> dict:
    """`measure` in a fresh Python process, so that its peak memory is its own; the row it printed."""
    import course

    paths = [str(Path(course.__file__).parent.parent), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env = {**os.environ, "COURSE_PROGRESS": "0", "COURSE_PROFILE": profile,
           "PYTHONPATH": os.pathsep.join(filter(None, paths))}  # the same `course` as this process
    done = subprocess.run([sys.executable, "-m", "course.capstone", "--method", method, "--profile", profile, "--json"],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{method} failed (exit {done.returncode}):\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
              log: Callable[[str], None] = print) -> list[dict]:
    """Run each method in its own process; write `out/<profile>.csv` and `out/<profile>.html` when `out` is given.

    Bad input (an unknown profile or method, an output folder that cannot be written) fails before any work.
    """
    profile, methods = require_profile(profile), require_methods(methods or list(METHODS))
    folder = writable_folder(out) if out is not None else None
    log(f"capstone: {len(methods)} method(s), profile {profile}, each in its own process")
    rows = []
    for method in methods:
        row = run_method(method, profile)
        log(f"{method:>14}: {row['run_seconds']:6.1f} s (policy accuracy {row['policy_accuracy']:.0%})")
        rows.append(row)
    if folder is not None:
        write_csv(rows, folder / f"{profile}.csv")
        figure(rows).write_html(folder / f"{profile}.html", include_plotlyjs="directory")
    return rows


# ---------------------------------------------------------------- the results: CSV, table, chart


def write_csv(rows: list[dict], path: Path) -> None:
    """The rows as CSV, one column per `COLUMNS` entry (empty where a method has no value)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)


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


# (column, header, format) of the printed table
TABLE = [("name", "method", "{}"), ("trainable_params", "trainable", "{:,}"), ("trainable_pct", "%", "{:.3g}"),
         ("peak_memory_mib", "peak MiB", "{:,.0f}"), ("seconds_per_step", "s/step", "{:.2f}"),
         ("tokens_per_second", "tokens/s", "{:,.0f}"), ("policy_accuracy", "policy acc.", "{:.0%}"),
         ("policy_undecided", "no decision", "{:.0%}"),
         ("val_loss_before", "val loss before", "{:.3f}"), ("val_loss_after", "after", "{:.3f}"),
         ("forgetting_pct", "forgetting %", "{:+.1f}")]


def table(rows: list[dict]) -> str:
    """The comparison as aligned text, with what memory measures and the device below it."""
    cells = [[header for _, header, _ in TABLE]]
    cells += [["-" if row[col] is None else fmt.format(row[col]) for col, _, fmt in TABLE] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "-" * len(lines[0]))
    first = rows[0]
    lines.append(f"peak memory: {first['memory_measured_as']}, during training; forgetting: change of general-text "
                 f"perplexity caused by training; {first['steps']} steps of {first['batch']} x {first['max_len']} "
                 f"tokens; {first['n_test']} test requests, {first['max_new_tokens']} new tokens")
    lines.append(f"model {first['model']}, profile {first['profile']}, device {first['device']}")
    return "\n".join(lines)


# (column, subplot title, log axis, label format) of the chart
CHART = [("trainable_pct", "trainable parameters (% of the model, log)", True, "{:.3g}"),
         ("peak_memory_mib", "peak memory during training (MiB)", False, "{:,.0f}"),
         ("seconds_per_step", "seconds per training step", False, "{:.2f}"),
         ("tokens_per_second", "training tokens per second", False, "{:,.0f}"),
         ("policy_accuracy", "policy accuracy on held-out requests (%)", False, "{:.0f}"),
         ("forgetting_pct", "forgetting: general-text perplexity change (%)", False, "{:+.1f}")]


def figure(rows: list[dict]):
    """Six bar charts, one per main column, a bar per method (a method without a value has no bar)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=3, subplot_titles=[title for _, title, _, _ in CHART], vertical_spacing=0.16)
    names = [row["name"] for row in rows]
    for i, (column, _, log, fmt) in enumerate(CHART):
        scale = 100 if column == "policy_accuracy" else 1
        values = [None if row[column] is None else scale * row[column] for row in rows]
        fig.add_bar(x=names, y=values, showlegend=False, row=i // 3 + 1, col=i % 3 + 1,
                    text=["" if v is None else fmt.format(v) for v in values], textposition="outside")
        fig.update_yaxes(type="log" if log else "linear", row=i // 3 + 1, col=i % 3 + 1)
    first = rows[0]
    budget = f"{first['steps']} steps of {first['batch']} x {first['max_len']} tokens each"
    fig.update_layout(height=720, title=f"{first['model']}, {budget} ({first['profile']} profile; {first['device']})"
                                        f"<br><sup>peak memory: {first['memory_measured_as']}</sup>")
    return fig


# what the explorer can put on an axis: label -> column
AXES = {"trainable parameters (% of the model)": "trainable_pct",
        "peak memory during training (MiB)": "peak_memory_mib",
        "seconds per training step": "seconds_per_step", "training tokens per second": "tokens_per_second",
        "policy accuracy": "policy_accuracy", "validation loss after training": "val_loss_after",
        "forgetting (% perplexity change)": "forgetting_pct"}


LOG_AXES = {"trainable_pct"}  # spans five orders of magnitude


def _plottable(row: dict, label: str) -> bool:
    """Whether `row` has a value for the axis `label` (a log axis cannot show 0)."""
    value = row[AXES[label]]
    return value is not None and (AXES[label] not in LOG_AXES or value > 0)


def trade_off(rows: list[dict], x: str, y: str):
    """One point per method, `y` against `x` (labels of `AXES`); the title names the methods it cannot show."""
    import plotly.graph_objects as go

    shown = [row for row in rows if _plottable(row, x) and _plottable(row, y)]
    fig = go.Figure(go.Scatter(x=[row[AXES[x]] for row in shown], y=[row[AXES[y]] for row in shown],
                               text=[row["name"] for row in shown], mode="markers+text", textposition="top center",
                               marker={"size": 14}))
    missing = [row["name"] for row in rows if row not in shown]
    fig.update_layout(title=f"{y} against {x}" + (f" (not shown: {', '.join(missing)})" if missing else ""),
                      xaxis_title=x, yaxis_title=y, height=460)
    fig.update_xaxes(type="log" if AXES[x] in LOG_AXES else "linear")
    fig.update_yaxes(type="log" if AXES[y] in LOG_AXES else "linear")
    return fig


# ---------------------------------------------------------------- python -m course.capstone


def main(argv: list[str] | None = None) -> int:
    """Measure one method in this process and print its row (JSON with --json, else the table)."""
    p = argparse.ArgumentParser(prog="python -m course.capstone", description=main.__doc__)
    p.add_argument("--method", required=True, choices=list(METHODS))
    p.add_argument("--profile", choices=list(PROFILES), help="default: $COURSE_PROFILE, else detected")
    p.add_argument("--json", action="store_true", help="print the row as one JSON line")
    args = p.parse_args(argv)
    row = measure(args.method, get_profile(args.profile))
    print(json.dumps(row) if args.json else table([row]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
