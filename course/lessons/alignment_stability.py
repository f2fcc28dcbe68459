"""Lesson 08: DPO against RLOO over seeds and learning rates: the spread of what each run ends with, and what
one training step holds and computes.

Both start from one SFT model and are judged by one reward model (trained once, as in the lab); each run
trains a fresh LoRA adapter with TRL's trainer, then answers the same held-out requests greedily:

    python -m course.lessons.alignment_stability --profile cpu --methods dpo --out solutions/08-alignment/results

writes `dpo_cpu.csv` (one row per run, and the SFT model's row) and `dpo_cpu_replies.jsonl` (every reply).
With `--cache DIR` the first study saves the SFT and reward models and later ones load them, so that
studies of one method or learning rate each can run side by side (`--lrs`).
The forward passes are counted by hooks on the networks while they train: a call of the policy network
(the reference is the same network with its adapter off) or of the reward model, and the token positions
it read.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from course.errors import CourseError
from course.profiles import Profile, get_profile


@dataclass(frozen=True)
class Sizes:
    """One stability run per (method, learning rate, seed)."""

    lrs: dict[str, tuple[float, ...]]  # per method: the learning rates tried
    steps: dict[str, int]  # per method: optimizer steps (RLOO generates before each step, so it gets fewer)
    seeds: int
    n_eval: int  # held-out requests answered by each run


SIZES = {
    "smoke": Sizes({"dpo": (5e-4,), "rloo": (1e-3,)}, {"dpo": 3, "rloo": 2}, seeds=2, n_eval=4),
    # at the lab's rates (5e-4, 1e-3) no greedy reply moves within these budgets (the lab's section 5)
    "cpu": Sizes({"dpo": (2e-3, 5e-3), "rloo": (3e-3, 1e-2)}, {"dpo": 30, "rloo": 20}, seeds=3, n_eval=16),
    "gpu": Sizes({"dpo": (5e-4, 2e-3, 5e-3), "rloo": (1e-3, 3e-3, 1e-2)}, {"dpo": 100, "rloo": 60}, seeds=3,
                 n_eval=60),
}
METHODS = ("dpo", "rloo")
COLUMNS = ["method", "lr", "seed", "steps", "train_seconds", "s_per_step", "policy_calls_per_step",
           "policy_tokens_per_step", "reward_calls_per_step", "reward_tokens_per_step", "params_held", "models_held",
           "final_train_metric", "train_metric", "n_eval", "mean_reward", "win_rate_vs_sft", "policy_accuracy",
           "replies_changed", "profile", "model", "device"]


class ForwardCounter:
    """Counts the calls of a module's forward and the token positions (batch x length) each call read."""

    def __init__(self, module: torch.nn.Module):
        self.calls = self.tokens = 0
        self.handle = module.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        x = kwargs.get("input_ids")
        x = x if x is not None else kwargs.get("inputs_embeds")
        x = x if x is not None else (args[0] if args else None)
        self.calls += 1
        self.tokens += int(x.shape[0] * x.shape[1]) if x is not None and x.dim() >= 2 else 0

    def remove(self) -> None:
        self.handle.remove()


def parameters_held(*modules: torch.nn.Module) -> int:
    """Parameters in memory across `modules`, each tensor counted once."""
    seen = {id(p): p.numel() for m in modules if m is not None for p in m.parameters()}
    return sum(seen.values())


def judge(model, tokenizer, scorer, requests: list[str], rows: list[dict], max_new_tokens: int,
          baseline: tuple[list[str], torch.Tensor] | None = None) -> tuple[dict, list[str], torch.Tensor]:
    """Greedy replies to `requests` and what they score: mean reward, win rate against the baseline's rewards (a
    tie counts half), refund decisions right, share of replies that differ from the baseline's text."""
    from course.airline import refund_decision
    from course.training import generate_reply

    replies = [generate_reply(model, tokenizer, q, max_new_tokens) for q in requests]
    rewards = scorer.score(requests, replies)
    row = {"n_eval": len(requests), "mean_reward": float(rewards.mean()),
           "policy_accuracy": sum(refund_decision(a) is r["refund"] for a, r in zip(replies, rows)) / len(rows)}
    if baseline is not None:
        texts, base_rewards = baseline
        wins = (rewards > base_rewards).float() + 0.5 * (rewards == base_rewards).float()
        row["win_rate_vs_sft"] = float(wins.mean())
        row["replies_changed"] = sum(a != b for a, b in zip(replies, texts)) / len(texts)
    return row, replies, rewards


def shared_stages(profile: Profile, cache: Path | None, log: Callable[[str], None] = print):
    """(SFT model, tokenizer, reward scorer), trained as the lab trains them (seed 0), or loaded from `cache` where
    an earlier study saved them, so that studies run side by side share one SFT model."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from course.lessons.alignment import SIZES as LAB_SIZES
    from course.lessons.alignment import RewardScorer, load_preferences, reward_trainer, sft_trainer
    from course.data import load_split
    from course.models import load_causal_lm

    if cache is not None and (cache / "reward").exists():
        sft_model = AutoModelForCausalLM.from_pretrained(cache / "sft", dtype=profile.dtype).to(profile.device)
        rm = AutoModelForSequenceClassification.from_pretrained(cache / "reward").to(profile.device)
        log(f"SFT and reward model loaded from {cache}")
        return (sft_model.eval(), AutoTokenizer.from_pretrained(cache / "sft"),
                RewardScorer(rm, AutoTokenizer.from_pretrained(cache / "reward")))
    steps = LAB_SIZES[profile.name].steps
    cut = (lambda rows: rows[:profile.n_train]) if profile.n_train else (lambda rows: rows)
    torch.manual_seed(0)
    base, tokenizer = load_causal_lm(profile.model, profile.dtype, profile.device)
    t0 = time.perf_counter()
    sft = sft_trainer(base, tokenizer, cut(load_split("airline_support", "train")), profile, steps["sft"])
    sft.train()
    sft_model = sft.model.merge_and_unload().eval()
    rm = reward_trainer(cut(load_preferences("train")), profile, steps["reward"])
    rm.train()
    log(f"SFT ({steps['sft']} steps) and reward model ({steps['reward']} steps): {time.perf_counter() - t0:.0f} s")
    if cache is not None:
        for model, tok, name in [(sft_model, tokenizer, "sft"), (rm.model, rm.processing_class, "reward")]:
            model.save_pretrained(cache / name)
            tok.save_pretrained(cache / name)
    return sft_model, tokenizer, RewardScorer(rm.model, rm.processing_class)


def study(profile: Profile, methods: list[str], seeds: int | None = None, lrs: list[float] | None = None,
          cache: Path | None = None, first_seed: int = 0, log: Callable[[str], None] = print,
          save: Callable[[list[dict], list[dict]], None] | None = None) -> tuple[list[dict], list[dict]]:
    """Each method at each learning rate (`lrs`: a subset of the profile's) and seed (`seeds` of them from
    `first_seed`), from the SFT model;
    (rows, replies), the SFT model's row first. `save(rows, replies)` is called after each run, so that a long
    study keeps what it has measured."""
    from course.lessons.alignment import dpo_trainer, load_preferences, logged, rloo_trainer
    from course.results import device_name

    size = SIZES[profile.name]
    seeds = seeds or size.seeds
    pref_train = load_preferences("train")[:profile.n_train or None]
    pref_test = load_preferences("test")[:size.n_eval]
    requests = [r["prompt"] for r in pref_test]
    sft_model, tokenizer, scorer = shared_stages(profile, cache, log)
    common = {"profile": profile.name, "model": profile.model, "device": device_name(profile.device)}
    sft_row, sft_replies, sft_rewards = judge(sft_model, tokenizer, scorer, requests, pref_test,
                                              profile.max_new_tokens)
    rows = [{"method": "sft", **sft_row, **common}]
    replies = [{"method": "sft", "lr": None, "seed": None, "requests": requests, "replies": sft_replies}]
    for method in methods:
        for lr in [lr for lr in size.lrs[method] if lrs is None or lr in lrs]:
            for seed in range(first_seed, first_seed + seeds):
                policy = copy.deepcopy(sft_model)
                counters = {"policy": ForwardCounter(policy), "reward": ForwardCounter(scorer.model)}
                if method == "dpo":
                    trainer = dpo_trainer(policy, tokenizer, pref_train, profile, size.steps[method], lr, seed)
                else:
                    trainer = rloo_trainer(policy, tokenizer, scorer, pref_train, profile, size.steps[method], lr,
                                           seed)
                start = time.perf_counter()
                trainer.train()
                seconds = time.perf_counter() - start
                for counter in counters.values():
                    counter.remove()
                n = size.steps[method]
                metric = "rewards/margins" if method == "dpo" else "reward"
                held = [trainer.model, getattr(trainer, "ref_model", None)]
                held += [scorer.model] if method == "rloo" else []
                row = {"method": method, "lr": lr, "seed": seed, "steps": n, "train_seconds": seconds,
                       "s_per_step": seconds / n,
                       **{f"{k}_calls_per_step": c.calls / n for k, c in counters.items()},
                       **{f"{k}_tokens_per_step": c.tokens / n for k, c in counters.items()},
                       "params_held": parameters_held(*held),
                       "models_held": " + ".join(type(m).__name__ for m in held if m is not None),
                       "final_train_metric": logged(trainer, metric)[-1], "train_metric": metric}
                judged, texts, _ = judge(trainer.model.eval(), tokenizer, scorer, requests, pref_test,
                                         profile.max_new_tokens, (sft_replies, sft_rewards))
                rows.append(row | judged | common)
                replies.append({"method": method, "lr": lr, "seed": seed, "requests": requests, "replies": texts})
                if save is not None:
                    save(rows, replies)
                log(f"{method} lr {lr:g} seed {seed}: {seconds:.0f} s, mean reward {judged['mean_reward']:.3f} "
                    f"(SFT {sft_row['mean_reward']:.3f}), policy accuracy {judged['policy_accuracy']:.0%}, "
                    f"replies changed {judged['replies_changed']:.0%}")
                del trainer, policy
    return rows, replies


# ---------------------------------------------------------------- stored results


def write(rows: list[dict], replies: list[dict], folder: Path, stem: str) -> None:
    """`folder/<stem>.csv` (the rows) and `folder/<stem>_replies.jsonl` (one line per run)."""
    from course.results import write_csv

    write_csv(rows, folder / f"{stem}.csv", COLUMNS)
    with open(folder / f"{stem}_replies.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in replies)


def read(folder: str | Path, profile: str) -> tuple[list[dict], list[dict]]:
    """The rows (the SFT row once, first) and replies of every `<methods>_<profile>.csv` in `folder`, the runs
    in the order method, learning rate, seed."""
    from course.results import read_csv

    rows, replies = [], []
    for path in sorted(Path(folder).glob(f"*_{profile}.csv")):
        rows += [r for r in read_csv(path) if r["method"] != "sft" or not rows]
        lines = path.with_name(f"{path.stem}_replies.jsonl").read_text().splitlines()
        replies += [r for r in map(json.loads, lines) if r["method"] != "sft" or not replies]
    order = sorted(range(1, len(rows)),
                   key=lambda i: (METHODS.index(rows[i]["method"]), rows[i]["lr"], rows[i]["seed"]))
    return rows[:1] + [rows[i] for i in order], replies[:1] + [replies[i] for i in order]


SPREAD = ["mean_reward", "policy_accuracy", "replies_changed", "win_rate_vs_sft", "final_train_metric",
          "s_per_step"]


def spread(rows: list[dict]) -> list[dict]:
    """One row per (method, learning rate): each `SPREAD` column's mean over seeds and its sample standard
    deviation as `<column>_sd`."""
    out = []
    for key in dict.fromkeys((r["method"], r["lr"]) for r in rows if r["method"] != "sft"):
        runs = [r for r in rows if r["method"] != "sft" and (r["method"], r["lr"]) == key]
        row = {"method": key[0], "lr": key[1], "seeds": len(runs)}
        for column in SPREAD:
            values = [r[column] for r in runs]
            row[column] = statistics.fmean(values)
            row[f"{column}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(row)
    return out


def costs(rows: list[dict]) -> list[dict]:
    """What one training step of each method holds and computes (its first run's counts)."""
    first: dict[str, dict] = {}
    for row in rows:
        if row["method"] != "sft":
            first.setdefault(row["method"], row)
    return [{"method": m, "models held": r["models_held"], "parameters held": r["params_held"],
             "policy forward calls / step": r["policy_calls_per_step"],
             "policy token positions / step": r["policy_tokens_per_step"],
             "reward-model calls / step": r["reward_calls_per_step"], "steps": r["steps"]}
            for m, r in first.items()]


def figure(rows: list[dict]):
    """Three panels, one point per run: its mean reward, its refund decisions right and its replies changed
    against SFT, by method and learning rate; the SFT model as a dotted line."""
    from plotly.subplots import make_subplots

    panels = [("mean_reward", "mean reward of the greedy replies"), ("policy_accuracy", "refund decisions right"),
              ("replies_changed", "replies that differ from SFT's")]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in panels])
    sft = next(r for r in rows if r["method"] == "sft")
    for i, (column, _) in enumerate(panels, start=1):
        for method, color in zip(METHODS, ("#1f77b4", "#d62728")):
            runs = [r for r in rows if r["method"] == method]
            fig.add_scatter(x=[f"{method} {r['lr']:g}" for r in runs], y=[r[column] for r in runs], mode="markers",
                            marker={"color": color, "size": 9, "opacity": 0.7}, name=method, showlegend=i == 1,
                            text=[f"seed {r['seed']}" for r in runs], row=1, col=i)
        if column != "replies_changed":
            fig.add_hline(y=sft[column], line_dash="dot", annotation_text="SFT", row=1, col=i)
    seeds = max(r["seed"] for r in rows if r["method"] != "sft") + 1
    fig.update_layout(height=420, title=f"DPO and RLOO from one SFT model: {seeds} seeds per learning rate, "
                                        f"{sft['n_eval']} held-out requests ({sft['profile']} profile)")
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run the study for one profile and write its files; one line per run as it goes."""
    from course.results import check_study_arguments, study_arguments, writable_folder

    p = study_arguments("python -m course.lessons.alignment_stability", main.__doc__,
                        "<methods>_<profile>.csv and _replies.jsonl")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--first-seed", type=int, default=0, help="the first seed run (default 0), so that the seeds "
                   "of one learning rate can run side by side")
    p.add_argument("--cache", help="folder where the SFT and reward models are saved, or loaded from when there")
    args = p.parse_args(argv)
    if args.first_seed < 0:
        raise CourseError(f"--first-seed must be 0 or more, not {args.first_seed}")
    profile = get_profile(args.profile)
    check_study_arguments(args, [lr for m in args.methods for lr in SIZES[profile.name].lrs[m]])
    folder = writable_folder(args.out)
    start = time.perf_counter()
    stem = ("_".join(args.methods) + "".join(f"-{lr:g}" for lr in args.lrs or [])
            + (f"-seed{args.first_seed}" if args.first_seed else "") + f"_{profile.name}")
    rows, replies = study(profile, args.methods, args.seeds, args.lrs, Path(args.cache) if args.cache else None,
                          args.first_seed, save=lambda rows, replies: write(rows, replies, folder, stem))
    print(f"{len(rows) - 1} runs in {time.perf_counter() - start:.0f} s; wrote {folder}")
    return 0


if __name__ == "__main__":
    from course.results import run_study

    run_study(main)
