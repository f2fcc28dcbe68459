"""Lesson 09's known / unknown study (course/lessons/known_unknown.py): the smoke run, its parts, the stored cpu study."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT
from course.errors import CourseError
from course.lessons.known_unknown import SIZES, categorize, contrast, read, spread, training_sets

RESULTS = ROOT / "solutions" / "09-rag-vs-fine-tuning" / "results"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("known_unknown")
    done = subprocess.run([sys.executable, "-m", "course.lessons.known_unknown", "--profile", "smoke", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "COURSE_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    return read(out, "smoke")


def test_smoke_study_evaluates_every_run_after_every_chosen_epoch(smoke_run):
    rows, probed = smoke_run
    size = SIZES["smoke"]
    assert [(r["condition"], r["lr"], r["seed"], r["epoch"]) for r in rows] == [("base", None, None, 0)] + [
        (c, lr, s, e) for lr in size.lrs for s in range(size.seeds) for c in ("Known-only", "Unknown-heavy")
        for e in size.epochs]
    assert len(probed) == size.pool and sum(q["held_out"] for q in probed) == size.pool // 2
    held = [q for q in probed if q["held_out"]]
    assert all(len(q["replies"]) == len(rows) for q in held) and all(r["n_test"] == len(held) for r in rows)
    for seed in range(size.seeds):
        known, heavy = (next(r for r in rows if (r["condition"], r["seed"]) == (c, seed))
                        for c in ("Known-only", "Unknown-heavy"))
        assert known["n_train"] == heavy["n_train"] and known["n_train_unknown"] == 0
        assert heavy["n_train_unknown"] == heavy["n_train"] - heavy["n_train"] // 4
        # after one epoch the Unknown examples are fitted less than the Known ones of the same run
        assert heavy["train_loss_unknown"] >= heavy["train_loss_known"] + 0.3
    # the airline-free general questions: a 135M model knows some and not others
    assert {"HighlyKnown", "Unknown"} <= {q["category"] for q in probed}


@pytest.mark.parametrize("greedy, sampled, expected", [
    ([True, True], [False], "HighlyKnown"), ([True, False], [False], "MaybeKnown"),
    ([False, False], [True, False], "WeaklyKnown"), ([False, False], [False], "Unknown")])
def test_categories_follow_the_greedy_then_the_sampled_answers(greedy, sampled, expected):
    assert categorize(greedy, sampled) == expected


def _pool(known: int, unknown: int, held: int = 4) -> tuple[list[dict], list[str]]:
    rows = [{"id": f"q{i}", "held_out": i < held} for i in range(held + known + unknown)]
    return rows, ["HighlyKnown"] * held + ["MaybeKnown"] * known + ["Unknown"] * unknown


def test_training_sets_have_one_size_and_leave_the_held_out_questions_alone():
    pool, categories = _pool(known=10, unknown=9)
    sets = training_sets(pool, categories, seed=3)
    kind = {r["id"]: c for r, c in zip(pool, categories)}
    assert len(sets["Known-only"]) == len(sets["Unknown-heavy"]) == 10
    assert all(kind[r["id"]] != "Unknown" for r in sets["Known-only"])
    assert sum(kind[r["id"]] == "Unknown" for r in sets["Unknown-heavy"]) == 8
    assert not any(r["held_out"] for rs in sets.values() for r in rs)
    assert sets != training_sets(pool, categories, seed=4), "the seed draws the sets"
    with pytest.raises(CourseError, match="only 2 Known and 9 Unknown"):
        training_sets(*_pool(known=2, unknown=9), seed=0)


def test_contrast_takes_the_interval_over_seeds_and_over_questions():
    rows = [{"condition": c, "lr": 1e-3, "seed": s, "epoch": 2, "accuracy": a}
            for s, (k, u) in enumerate([(0.6, 0.4), (0.5, 0.4), (0.7, 0.4)])
            for c, a in (("Known-only", k), ("Unknown-heavy", u))]
    probed = [{"held_out": True, "aliases": ["Paris"],
               "replies": {f"{c}/0.001/{s}/2": "Paris" if c == "Known-only" else "Lyon"
                           for c in ("Known-only", "Unknown-heavy") for s in range(3)}}] * 5
    out = contrast(rows, probed, lr=1e-3, epoch=2)
    assert out["difference"] == pytest.approx(0.2) and out["per_seed"] == pytest.approx([0.2, 0.1, 0.3])
    low, high = out["seed_interval"]
    assert low == pytest.approx(0.2 - 4.303 * 0.1 / 3 ** 0.5) and high == pytest.approx(0.2 + 4.303 * 0.1 / 3 ** 0.5)
    assert out["question_interval"] == (1.0, 1.0), "every question right after Known-only, wrong after the other"


def test_spread_is_the_mean_and_sample_deviation_per_rate_condition_and_epoch():
    rows = [{"condition": "Known-only", "lr": 2e-4, "seed": s, "epoch": 1, "accuracy": v, "hallucination": 0.5,
             "abstention": 0.0, "known_test_accuracy": None, "unknown_test_hallucination": 0.5,
             "train_loss_known": 1.0, "train_loss_unknown": None} for s, v in enumerate([0.2, 0.4, 0.6])]
    (row,) = spread([{"condition": "base", "epoch": 0}] + rows)
    assert (row["lr"], row["condition"], row["epoch"], row["seeds"]) == (2e-4, "Known-only", 1, 3)
    assert row["accuracy"] == pytest.approx(0.4) and row["accuracy_sd"] == pytest.approx(0.2)
    assert row["train_loss_unknown"] is None and row["hallucination_sd"] == 0


def test_stored_cpu_study_has_every_run():
    rows, probed = read(RESULTS, "cpu")
    size = SIZES["cpu"]
    assert [(r["lr"], r["seed"], r["condition"], r["epoch"]) for r in rows[1:]] == [
        (lr, s, c, e) for lr in size.lrs for s in range(size.seeds) for c in ("Known-only", "Unknown-heavy")
        for e in size.epochs]
    assert len(probed) == 78 + 189, "every general question of the knowledge base"
    held = [q for q in probed if q["held_out"]]
    assert len(held) == rows[0]["n_test"] == 133 and all(len(q["replies"]) == len(rows) for q in held)
    assert (ROOT / "lessons" / "09-rag-vs-fine-tuning" / "results").is_dir(), "course build copies the results"


def test_stored_cpu_study_shows_what_the_lab_says():
    rows, probed = read(RESULTS, "cpu")
    base, runs = rows[0], rows[1:]
    assert round(base["accuracy"], 3) == 0.481
    # every fine-tuned model, Known-only included, answers fewer held-out questions than the base model
    assert max(r["accuracy"] for r in runs) <= base["accuracy"] - 0.1
    # Unknown examples are fitted more slowly: after one epoch their loss is above the Known ones' of the same run
    for r in runs:
        if r["condition"] == "Unknown-heavy" and r["epoch"] == 1:
            assert r["train_loss_unknown"] >= r["train_loss_known"] + 0.3, r
    # at 1e-3 accuracy falls with every epoch, for both kinds of training
    means = {(s["lr"], s["condition"], s["epoch"]): s["accuracy"] for s in spread(rows)}
    for condition in ("Known-only", "Unknown-heavy"):
        assert means[1e-3, condition, 1] > means[1e-3, condition, 3] + 0.03 > means[1e-3, condition, 6] + 0.06
    # the paper's contrast: small, and no interval excludes 0
    for lr in SIZES["cpu"].lrs:
        for epoch in SIZES["cpu"].epochs:
            c = contrast(rows, probed, lr, epoch)
            assert abs(c["difference"]) <= 0.025
            assert c["seed_interval"][0] < 0 < c["seed_interval"][1], (lr, epoch)
            assert c["question_interval"][0] < 0 < c["question_interval"][1], (lr, epoch)


def test_readme_quotes_the_stored_study():
    rows, probed = read(RESULTS, "cpu")
    text = " ".join((ROOT / "solutions" / "09-rag-vs-fine-tuning" / "README.md").read_text().split())
    for lr in SIZES["cpu"].lrs:
        c = contrast(rows, probed, lr, max(SIZES["cpu"].epochs))
        low, high = c["question_interval"]
        assert f"{100 * c['difference']:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}] at lr {lr:g}" in text, lr
    assert f"base model {100 * rows[0]['accuracy']:.1f}%" in text
