"""The bundled data sets: each rebuilt byte for byte by its generator; the airline sets sized as documented
and faithful to the policy."""

from __future__ import annotations

import importlib
import sys

import pytest

from course.airline import refund_decision
from course.data import DATA_DIR, load_split
from course.data.make_airline_support import AIRLINE_CAUSES, SPLITS, WEATHER_CAUSES, generate


DATA_SETS = sorted(p.name for p in DATA_DIR.iterdir() if (DATA_DIR / f"make_{p.name}.py").is_file())


def test_every_data_set_has_its_generator():
    assert DATA_SETS == ["airline_kb", "airline_preferences", "airline_support", "general_text", "grumpy_assistant",
                         "support_intents"]


@pytest.mark.parametrize("name", DATA_SETS)
def test_rebuild_is_byte_identical(tmp_path, name):
    generator = importlib.import_module(f"course.data.make_{name}")
    source_python = getattr(generator, "SOURCE_PYTHON", None)  # general_text quotes this Python's pydoc_data
    if source_python and sys.version.split()[0] != source_python:
        pytest.skip(f"{name} is built from Python {source_python}'s pydoc_data")
    generator.write(tmp_path)
    committed = sorted(p.name for p in (DATA_DIR / name / "v1").glob("*.jsonl"))
    assert committed == sorted(p.name for p in tmp_path.glob("*.jsonl")) and committed
    for file in committed:
        assert (tmp_path / file).read_bytes() == (DATA_DIR / name / "v1" / file).read_bytes(), file


def test_sizes_and_unique_requests():
    rows = {s: load_split("airline_support", s) for s in SPLITS}
    assert {s: len(r) for s, r in rows.items()} == {"train": 480, "validation": 60, "test": 60}
    requests = [r["request"] for split in rows.values() for r in split]
    assert len(set(requests)) == len(requests) == 600


def test_every_reply_applies_the_policy():
    for row in load_split("airline_support", "train"):
        assert row["cause"] in (AIRLINE_CAUSES if row["refund"] else WEATHER_CAUSES)
        assert row["cause"] in row["request"] and row["cause"] in row["reply"]
        assert refund_decision(row["reply"]) is row["refund"]
    assert sum(r["refund"] for r in load_split("airline_support", "test")) == 30


def test_generation_depends_on_the_seed():
    assert generate(1)["train"][0] != generate(2)["train"][0]


@pytest.mark.parametrize("reply, decision", [
    ("I'm sorry. Because a crew shortage is our responsibility, you are entitled to a full refund.", True),
    ("I'm sorry, but weather such as fog is not covered by refunds under our policy.", False),
    ("Our policy only provides refunds when a delay is our fault, so a refund isn't possible here.", False),
    ("Have a nice day!", None),
])
def test_refund_decision(reply, decision):
    assert refund_decision(reply) is decision


def test_unknown_data_set_and_split():
    with pytest.raises(ValueError, match="unknown data set"):
        load_split("nope", "train")
    with pytest.raises(ValueError, match="no split 'dev'"):
        load_split("airline_support", "dev")


def test_preference_pairs_are_unseen_balanced_and_ordered():
    from course.data.make_airline_preferences import KINDS

    pairs = {s: load_split("airline_preferences", s) for s in ("train", "validation", "test")}
    assert {s: len(r) for s, r in pairs.items()} == {"train": 480, "validation": 60, "test": 60}
    prompts = [r["prompt"] for rows in pairs.values() for r in rows]
    sft_requests = {r["request"] for s in SPLITS for r in load_split("airline_support", s)}
    assert len(set(prompts)) == 600 and not set(prompts) & sft_requests, "prompts unique and unseen by SFT"
    for rows in pairs.values():
        assert sum(r["refund"] for r in rows) == len(rows) // 2
        assert {k: sum(r["rejected_kind"] == k for r in rows) for k in KINDS} == {k: len(rows) // 3 for k in KINDS}
        for r in rows:
            assert refund_decision(r["chosen"]) is r["refund"] and "sorry" in r["chosen"].lower()
            if r["rejected_kind"] == "off_policy":
                assert refund_decision(r["rejected"]) is (not r["refund"])
            else:
                assert "sorry" not in r["rejected"].lower() and len(r["rejected"]) < len(r["chosen"]) / 2


def test_grumpy_splits_hold_out_topics_and_every_reply_is_grumpy():
    from course.lessons.persona import grumpy_rate, is_grumpy

    rows = {s: load_split("grumpy_assistant", s) for s in ("train", "validation", "test")}
    assert {s: len(r) for s, r in rows.items()} == {"train": 400, "validation": 50, "test": 50}
    topics = {s: {r["topic"] for r in split} for s, split in rows.items()}
    assert len(topics["train"]) == 40 and len(topics["validation"]) == len(topics["test"]) == 5
    assert not topics["train"] & topics["test"] and not topics["train"] & topics["validation"]
    for split in rows.values():
        assert len({r["request"] for r in split}) == len(split)
        assert grumpy_rate([r["reply"] for r in split]) == 1.0
    assert not is_grumpy("Sure! To boil an egg, put it in boiling water for nine minutes. Enjoy!")
