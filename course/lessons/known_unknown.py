"""Lesson 09: fine-tuning on facts the model knows against facts it does not (Gekhman et al. 2024), at a size
that can settle it: every general question probed, several prompts per question, seeds, intervals.

The base model is probed once: each question is asked greedily with `variants` few-shot prompts and sampled
`samples` times, which puts it in one of four categories (HighlyKnown, MaybeKnown, WeaklyKnown, Unknown).
Half of the questions are held out; from the other half each seed draws two training sets of one size:
*Known-only* (HighlyKnown and MaybeKnown questions) and *Unknown-heavy* (three quarters Unknown, one quarter
Known). A LoRA adapter learns each set's short answers for several epochs, and after the chosen epochs the
model answers every held-out question closed-book; the training examples' own loss, Known and Unknown apart,
shows how fast each kind is fitted:

    python -m course.lessons.known_unknown --profile cpu --out solutions/09-rag-vs-fine-tuning/results

writes `known_unknown_cpu.csv` (one row per run and epoch, and the base model's row) and
`known_unknown_cpu_probe.jsonl` (each question's category and held-out replies per run); with `--lrs` the
files are named for the rates (`known_unknown-0.001_cpu.csv`), so that rates can run one after another.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from course.errors import CourseError
from course.profiles import Profile, get_profile


@dataclass(frozen=True)
class Sizes:
    """The probe, the held-out set and the fine-tuning runs of one profile."""

    pool: int | None  # general questions probed (None: all of them)
    variants: int  # greedy few-shot prompts per question (different examples in each)
    samples: int  # answers sampled at temperature 0.5 per question
    epochs: tuple[int, ...]  # the held-out questions are answered after these epochs
    seeds: int
    lrs: tuple[float, ...]  # LoRA's learning rates: each condition and seed trains at each


SIZES = {
    "smoke": Sizes(pool=24, variants=2, samples=1, epochs=(1, 2), seeds=2, lrs=(1e-3,)),
    "cpu": Sizes(pool=None, variants=4, samples=4, epochs=(1, 3, 6), seeds=3, lrs=(1e-3, 2e-4)),
    "gpu": Sizes(pool=None, variants=8, samples=8, epochs=(1, 3, 6, 10), seeds=3, lrs=(5e-4, 1e-4)),
}
SPLITS = ("general_train", "general_test", "general_study")  # every general question the knowledge base holds
CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")
KNOWN = ("HighlyKnown", "MaybeKnown")
CONDITIONS = ("Known-only", "Unknown-heavy")
SHOTS, TEMPERATURE, MAX_LEN, NEW_TOKENS = 4, 0.5, 96, 16
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
COLUMNS = ["condition", "seed", "epoch", "steps", "lr", "n_train", "n_train_unknown", "n_test", "accuracy",
           "hallucination", "abstention", "known_test_accuracy", "unknown_test_hallucination", "train_loss_known",
           "train_loss_unknown", "train_seconds", "profile", "model", "device"]


def categorize(greedy_ok: list[bool], sampled_ok: list[bool]) -> str:
    """Gekhman et al.'s category from which greedy and sampled answers were right."""
    if all(greedy_ok):
        return "HighlyKnown"
    if any(greedy_ok):
        return "MaybeKnown"
    return "WeaklyKnown" if any(sampled_ok) else "Unknown"


def general_pool(size: Sizes) -> list[dict]:
    """The general questions probed, each with `held_out` set for one half (a fixed shuffle, the same every run)."""
    from course.lessons.rag_vs_fine_tuning import load_kb

    rows = [row for split in SPLITS for row in load_kb(split)][:size.pool]
    held = set(random.Random(909).sample(range(len(rows)), len(rows) // 2))
    return [{**row, "held_out": i in held} for i, row in enumerate(rows)]


def probe(model, tokenizer, pool: list[dict], size: Sizes) -> list[str]:
    """Each question's category: `variants` greedy few-shot prompts and `samples` sampled answers (the first prompt).

    The few-shot examples are the probed questions themselves, the asked one left out."""
    from course.lessons.rag_vs_fine_tuning import complete, few_shot_prompt, matches

    def prompts(variant: int) -> list[str]:
        order = random.Random(variant).sample(pool, len(pool))
        return [few_shot_prompt([s for s in order if s["id"] != row["id"]][:SHOTS], row["question"]) for row in pool]

    greedy = [complete(model, tokenizer, prompts(v), max_new_tokens=8, batch_size=32) for v in range(size.variants)]
    sampled = [complete(model, tokenizer, prompts(0), max_new_tokens=8, temperature=TEMPERATURE, seed=s,
                        batch_size=32) for s in range(size.samples)]
    return [categorize([matches(g[i], row["aliases"]) for g in greedy],
                       [matches(s[i], row["aliases"]) for s in sampled]) for i, row in enumerate(pool)]


def training_sets(pool: list[dict], categories: list[str], seed: int) -> dict[str, list[dict]]:
    """Known-only and Unknown-heavy sets of one size from the questions not held out, drawn by `seed`."""
    rng = random.Random(seed)
    trainable = [(r, c) for r, c in zip(pool, categories) if not r["held_out"]]
    known = rng.sample([r for r, c in trainable if c in KNOWN], sum(c in KNOWN for _, c in trainable))
    unknown = rng.sample([r for r, c in trainable if c == "Unknown"], sum(c == "Unknown" for _, c in trainable))
    n = min(len(known), len(unknown) * 4 // 3)
    if n < 4:
        raise CourseError(f"only {len(known)} Known and {len(unknown)} Unknown training questions: probe more")
    return {"Known-only": known[:n], "Unknown-heavy": unknown[:n - n // 4] + known[:n // 4]}


def evaluate(model, tokenizer, held_out: list[dict], held_categories: list[str]) -> tuple[dict, list[str]]:
    """Closed-book answers to the held-out questions: accuracy, hallucination and abstention over all of them,
    accuracy on those the base model knew, hallucination on those it did not."""
    from course.lessons.rag_vs_fine_tuning import GENERAL_INSTRUCTION, answer, messages, score

    chats = [messages(r["question"], instruction=GENERAL_INSTRUCTION) for r in held_out]
    replies, tokens = answer(model, tokenizer, chats, NEW_TOKENS, batch_size=16)
    row = {k: v for k, v in score(replies, held_out, tokens).items() if k in ("accuracy", "hallucination",
                                                                                 "abstention")}
    for name, group, metric in [("known_test_accuracy", KNOWN, "accuracy"),
                                ("unknown_test_hallucination", ("Unknown",), "hallucination")]:
        picked = [i for i, c in enumerate(held_categories) if c in group]
        row[name] = score([replies[i] for i in picked], [held_out[i] for i in picked], [0] * len(picked))[metric] \
            if picked else None
    return row, replies


def run_key(condition: str, lr: float | None = None, seed: int | None = None, epoch: int = 0) -> str:
    """How a record names one run's reply after one epoch ("base" for the base model)."""
    return condition if condition == "base" else f"{condition}/{lr:g}/{seed}/{epoch}"


def study(profile: Profile, seeds: int | None = None, lrs: list[float] | None = None,
          log: Callable[[str], None] = print,
          save: Callable[[list[dict], list[dict]], None] | None = None) -> tuple[list[dict], list[dict]]:
    """The probe, then each learning rate (`lrs`: a subset of the profile's), seed and condition; (rows, records):
    the base model's row first; a record per question (its category, whether held out, and each run's reply per
    epoch). `save` is called after each run."""
    import copy

    import torch
    from peft import get_peft_model

    from course.results import device_name
    from course.lessons.lora import peft_lora_config
    from course.models import load_causal_lm
    from course.lessons.rag_vs_fine_tuning import GENERAL_INSTRUCTION, fact_batches
    from course.training import eval_loss, train

    size = SIZES[profile.name]
    seeds = seeds or size.seeds
    torch.manual_seed(0)
    model, tokenizer = load_causal_lm(profile.model, profile.dtype, profile.device)
    pool = general_pool(size)
    t0 = time.perf_counter()
    categories = probe(model, tokenizer, pool, size)
    log(f"probed {len(pool)} questions in {time.perf_counter() - t0:.0f} s: {dict(Counter(categories))}")
    category = {r["id"]: c for r, c in zip(pool, categories)}
    held = [i for i, r in enumerate(pool) if r["held_out"]]
    held_out, held_categories = [pool[i] for i in held], [categories[i] for i in held]
    common = {"n_test": len(held_out), "profile": profile.name, "model": profile.model,
              "device": device_name(profile.device)}
    base_row, base_replies = evaluate(model, tokenizer, held_out, held_categories)
    rows = [{"condition": "base", "epoch": 0, "steps": 0, **base_row, **common}]
    replies = {run_key("base"): base_replies}
    for lr, seed in [(lr, seed) for lr in size.lrs if lrs is None or lr in lrs for seed in range(seeds)]:
        for condition, subset in training_sets(pool, categories, seed).items():
            by_kind = {kind: [{**r, "reply": r["answer"]} for r in subset
                              if (category[r["id"]] == "Unknown") == (kind == "unknown")]
                       for kind in ("known", "unknown")}
            batches = fact_batches(tokenizer, [{**r, "reply": r["answer"]} for r in subset], profile.batch_size,
                                   MAX_LEN, seed=seed, instruction=GENERAL_INSTRUCTION)
            loss_batches = {kind: fact_batches(tokenizer, rs, 16, MAX_LEN, instruction=GENERAL_INSTRUCTION)
                            for kind, rs in by_kind.items() if rs}
            torch.manual_seed(seed)
            tuned = get_peft_model(copy.deepcopy(model), peft_lora_config(r=16, alpha=32, targets=TARGETS,
                                                                          dropout=0.0))
            clock = {"start": time.perf_counter(), "evaluating": 0.0}

            def checkpoint(step: int, loss: float) -> None:
                epoch, end = divmod(step + 1, len(batches))
                if end or epoch not in size.epochs:
                    return
                paused = time.perf_counter()
                trained = paused - clock["start"] - clock["evaluating"]  # training alone, up to this epoch
                row, texts = evaluate(tuned, tokenizer, held_out, held_categories)
                losses = {f"train_loss_{kind}": eval_loss(tuned, b) for kind, b in loss_batches.items()}
                tuned.train()
                clock["evaluating"] += time.perf_counter() - paused
                rows.append({"condition": condition, "lr": lr, "seed": seed, "epoch": epoch, "steps": step + 1,
                             "n_train": len(subset), "n_train_unknown": len(by_kind["unknown"]), **row, **losses,
                             "train_seconds": trained, **common})
                replies[run_key(condition, lr, seed, epoch)] = texts
                log(f"{condition} lr {lr:g} seed {seed} epoch {epoch}: accuracy {row['accuracy']:.3f} (base "
                    f"{base_row['accuracy']:.3f}), hallucination {row['hallucination']:.3f}, "
                    + ", ".join(f"{k} {v:.3f}" for k, v in losses.items()))

            train(tuned, batches, steps=len(batches) * max(size.epochs), lr=lr, on_step=checkpoint, seed=seed)
            del tuned
            if save is not None:
                save(rows, records(pool, categories, replies))
    return rows, records(pool, categories, replies)


def records(pool: list[dict], categories: list[str], replies: dict[str, list[str]]) -> list[dict]:
    """One record per probed question: its category, whether held out, and each run's reply (held-out ones)."""
    held = [i for i, r in enumerate(pool) if r["held_out"]]
    position = {i: k for k, i in enumerate(held)}
    return [{"id": r["id"], "question": r["question"], "aliases": r["aliases"], "category": c,
             "held_out": r["held_out"],
             "replies": {key: texts[position[i]] for key, texts in replies.items()} if r["held_out"] else {}}
            for i, (r, c) in enumerate(zip(pool, categories))]


# ---------------------------------------------------------------- stored results


def write(rows: list[dict], probed: list[dict], folder: Path, stem: str) -> None:
    """`folder/<stem>.csv` (the rows) and `folder/<stem>_probe.jsonl` (one line per question)."""
    from course.results import write_csv

    write_csv(rows, folder / f"{stem}.csv", COLUMNS)
    with open(folder / f"{stem}_probe.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in probed)


def read(folder: str | Path, profile: str) -> tuple[list[dict], list[dict]]:
    """The rows (the base model's once, first, then by learning rate, seed, condition, epoch) and the
    per-question records (every run's replies) of each `known_unknown*_<profile>.csv` in `folder`."""
    from course.results import read_csv

    rows: list[dict] = []
    probed: dict[str, dict] = {}
    for path in sorted(Path(folder).glob(f"known_unknown*_{profile}.csv")):
        rows += [r for r in read_csv(path) if r["condition"] != "base" or not rows]
        for line in path.with_name(f"{path.stem}_probe.jsonl").read_text().splitlines():
            record = json.loads(line)
            kept = probed.setdefault(record["id"], record)
            if (kept["category"], kept["held_out"]) != (record["category"], record["held_out"]):
                raise CourseError(f"{path.name}: question {record['id']} was probed or split differently")
            kept["replies"].update(record["replies"])
    runs = sorted(rows[1:], key=lambda r: (-r["lr"], r["seed"], CONDITIONS.index(r["condition"]), r["epoch"]))
    return rows[:1] + runs, list(probed.values())


SPREAD = ["accuracy", "hallucination", "abstention", "known_test_accuracy", "unknown_test_hallucination",
          "train_loss_known", "train_loss_unknown"]
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}  # t, 97.5%


def spread(rows: list[dict]) -> list[dict]:
    """One row per (learning rate, condition, epoch) of the fine-tuned runs: each `SPREAD` column's mean over
    seeds and its sample standard deviation."""
    out = []
    keys = sorted({(r["lr"], r["condition"], r["epoch"]) for r in rows if r["condition"] != "base"},
                  key=lambda k: (-k[0], CONDITIONS.index(k[1]), k[2]))
    for key in keys:
        runs = [r for r in rows if r["condition"] != "base" and (r["lr"], r["condition"], r["epoch"]) == key]
        row = {"lr": key[0], "condition": key[1], "epoch": key[2], "seeds": len(runs)}
        for column in SPREAD:
            values = [r[column] for r in runs if r[column] is not None]
            row[column] = statistics.fmean(values) if values else None
            row[f"{column}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(row)
    return out


def contrast(rows: list[dict], probed: list[dict], lr: float, epoch: int, metric: str = "accuracy",
             resamples: int = 2000) -> dict:
    """Known-only minus Unknown-heavy in `metric` after `epoch` at learning rate `lr`: the mean over seeds, a 95% interval over seeds
    (Student's t on the per-seed differences) and a 95% interval over questions (a bootstrap of the held-out
    questions, both conditions and every seed on each resample; accuracy and hallucination only)."""
    from course.lessons.rag_vs_fine_tuning import hallucinated, matches

    by = {(r["condition"], r["seed"]): r[metric] for r in rows
          if r["condition"] != "base" and (r["lr"], r["epoch"]) == (lr, epoch)}
    seeds = sorted({s for _, s in by})
    diffs = [by["Known-only", s] - by["Unknown-heavy", s] for s in seeds]
    mean = statistics.fmean(diffs)
    half = T95[len(diffs) - 1] * statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.inf
    out = {"metric": metric, "lr": lr, "epoch": epoch, "seeds": len(diffs), "difference": mean, "per_seed": diffs,
           "seed_interval": (mean - half, mean + half)}
    if metric in ("accuracy", "hallucination"):
        hit = matches if metric == "accuracy" else hallucinated
        held = [q for q in probed if q["held_out"]]
        per_question = [statistics.fmean(
            hit(q["replies"][run_key("Known-only", lr, s, epoch)], q["aliases"])
            - hit(q["replies"][run_key("Unknown-heavy", lr, s, epoch)], q["aliases"]) for s in seeds) for q in held]
        rng = random.Random(0)
        means = sorted(statistics.fmean(rng.choices(per_question, k=len(per_question))) for _ in range(resamples))
        out["question_interval"] = (means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])
    return out


def figure(rows: list[dict], lr: float):
    """At learning rate `lr`: held-out accuracy and hallucination by epoch for each condition (mean and seed
    standard deviation), the base model as a dotted line; and the training loss of Known and Unknown examples."""
    from plotly.subplots import make_subplots

    table = [r for r in spread(rows) if r["lr"] == lr]
    base = next(r for r in rows if r["condition"] == "base")
    panels = [("accuracy", "held-out accuracy"), ("hallucination", "held-out hallucination rate"),
              ("train_loss", "training loss of the examples")]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in panels])
    colors = {"Known-only": "#1f77b4", "Unknown-heavy": "#d62728"}
    for i, (column, _) in enumerate(panels, start=1):
        for condition, color in colors.items():
            runs = [r for r in table if r["condition"] == condition]
            kinds = [("known", "solid"), ("unknown", "dash")] if column == "train_loss" else [("", "solid")]
            for kind, dash in kinds:
                key = f"{column}_{kind}" if kind else column
                if all(r[key] is None for r in runs):
                    continue
                fig.add_scatter(x=[r["epoch"] for r in runs], y=[r[key] for r in runs],
                                error_y={"type": "data", "array": [r[f"{key}_sd"] for r in runs]},
                                line={"color": color, "dash": dash}, name=f"{condition}" + (f", {kind} examples"
                                                                                             if kind else ""),
                                showlegend=i != 2, row=1, col=i)
        if column != "train_loss":
            fig.add_hline(y=base[column], line_dash="dot", annotation_text="base", row=1, col=i)
    seeds = max(r["seed"] for r in rows if r["condition"] != "base") + 1
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=420, title=f"Fine-tuning on Known versus Unknown facts, lr {lr:g}: {seeds} seeds, "
                                        f"{base['n_test']} held-out questions ({base['profile']} profile)")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the study for one profile and write its files; one line per evaluation as it goes."""
    from course.results import check_study_arguments, study_arguments, writable_folder

    args = study_arguments("python -m course.lessons.known_unknown", main.__doc__,
                           "known_unknown[-<lrs>]_<profile>.csv and _probe.jsonl").parse_args(argv)
    profile = get_profile(args.profile)
    check_study_arguments(args, SIZES[profile.name].lrs)
    folder = writable_folder(args.out)
    start = time.perf_counter()
    stem = "known_unknown" + "".join(f"-{lr:g}" for lr in args.lrs or []) + f"_{profile.name}"
    rows, probed = study(profile, args.seeds, args.lrs,
                         save=lambda rows, probed: write(rows, probed, folder, stem))
    write(rows, probed, folder, stem)
    print(f"{len(rows) - 1} evaluations in {time.perf_counter() - start:.0f} s; wrote {folder}")
    return 0


if __name__ == "__main__":
    from course.results import run_study

    run_study(main)
