"""Generate the bundled airline preference set (v1) from a fixed seed.

Run `python -m course.data.make_airline_preferences` to rebuild the JSONL files; the test
suite checks that a rebuild is byte-identical to what is committed.

Each row is a customer request with two replies: `chosen` applies the policy with empathy
(the same writer as airline_support), `rejected` is curt, off-policy or dismissive. Requests
are unique and none appears in airline_support, so the preference test split is unseen by SFT.
"""

from __future__ import annotations

import random
from pathlib import Path

from course.data import make_airline_support as support
from course.data import write_splits

SEED = 2025
VERSION = "v1"
OUT_DIR = Path(__file__).parent / "airline_preferences" / VERSION
SPLITS = {"train": 480, "validation": 60, "test": 60}
KINDS = ("curt", "off_policy", "dismissive")

CURT_YES = ["Refund approved.", "Fine, you'll get your money back.", "Refund processed. Check your bank."]
CURT_NO = ["No refund for weather.", "Weather isn't our fault. No refund.", "Refund denied. Rebook online."]
DISMISSIVE = [
    "Delays happen. There is nothing I can do about it.",
    "Please read the terms and conditions on our website.",
    "You should have bought travel insurance.",
    "We are not responsible for your plans. Please contact the airport.",
]


def _rejected(rng: random.Random, row: dict, kind: str) -> str:
    """A reply the company does not want, of the given kind."""
    if kind == "curt":  # the right decision, no empathy, no next step
        return rng.choice(CURT_YES if row["refund"] else CURT_NO)
    if kind == "off_policy":  # polite, but the opposite refund decision
        kind_word = "delay"
        decision = rng.choice(support.REFUND_NO if row["refund"] else support.REFUND_YES)
        follow_up = rng.choice(support.NEXT_NO if row["refund"] else support.NEXT_YES)
        empathy = [e for e in support.EMPATHY if "{city}" not in e]
        return " ".join([rng.choice(empathy),
                         decision.format(cause=row["cause"], kind=kind_word), follow_up])
    return rng.choice(DISMISSIVE)


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """Build the splits: unique requests unseen in airline_support, kinds and refund cases balanced."""
    rng = random.Random(seed)
    seen = {r["request"] for rows in support.generate().values() for r in rows}

    def pair(ex: dict, index: int) -> dict:
        kind = KINDS[(index // 2) % len(KINDS)]
        return {"prompt": ex["request"], "chosen": ex["reply"], "rejected": _rejected(rng, ex, kind),
                "rejected_kind": kind, "refund": ex["refund"], "cause": ex["cause"]}

    return support.draw_splits(rng, SPLITS, seen, pair)


def write(out_dir: Path = OUT_DIR) -> None:
    """Write one JSONL file per split."""
    write_splits(generate(), out_dir)


if __name__ == "__main__":
    write()
    print(f"wrote {OUT_DIR}")
