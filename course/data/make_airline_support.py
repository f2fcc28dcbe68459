"""Generate the bundled airline customer-support set (v1) from a fixed seed.

Run `python -m course.data.make_airline_support` to rebuild the JSONL files; the test
suite checks that a rebuild is byte-identical to what is committed.

Every reply follows one stated policy: a refund when the delay or cancellation was the
airline's fault, no refund (but rebooking help) when the cause was weather.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from course.data import write_splits

SEED = 2024
VERSION = "v1"
OUT_DIR = Path(__file__).parent / "airline_support" / VERSION
SPLITS = {"train": 480, "validation": 60, "test": 60}

POLICY = (
    "Refunds are given when a delay or cancellation was the airline's fault "
    "(crew, maintenance, overbooking, our systems); not when it was caused by weather."
)

AIRLINE_CAUSES = [
    "a crew shortage",
    "a mechanical problem with the aircraft",
    "overbooking",
    "a computer system outage",
    "a late incoming aircraft",
    "a missing pilot",
    "a maintenance check that ran long",
    "a baggage loading problem",
]
WEATHER_CAUSES = [
    "a thunderstorm",
    "a snowstorm",
    "heavy fog",
    "a hurricane warning",
    "icy runways",
    "strong crosswinds",
    "a blizzard",
    "volcanic ash in the area",
]
DISRUPTIONS = ["delayed by {h} hours", "cancelled", "delayed overnight", "delayed by {h} hours"]
ASKS = [
    "I would like a refund please.",
    "I want my money back.",
    "Can I get a refund?",
    "Please refund my ticket.",
    "I expect a full refund.",
    "How do I get reimbursed?",
]
OPENERS = [
    "My flight to {city} was {disruption} because of {cause}.",
    "My plane was {disruption} because of {cause}.",
    "Our family trip to {city} was ruined: the flight was {disruption} due to {cause}.",
    "I missed a meeting in {city} because my flight was {disruption}; they said it was {cause}.",
    "Flight to {city} {disruption}, apparently because of {cause}.",
]
MOODS = ["", "This is unacceptable. ", "I am really upset. ", "I'm exhausted. ", "Honestly, I'm furious. "]
CITIES = ["Lisbon", "Chicago", "Denver", "Madrid", "Toronto", "Oslo", "Boston", "Dublin", "Seattle", "Rome"]

EMPATHY = [
    "I'm so sorry your trip to {city} was disrupted; waiting like that is exhausting.",
    "I completely understand your frustration, and I'm sorry for the stress this caused.",
    "Thank you for telling us, and I'm truly sorry your plans were thrown off.",
    "I'm sorry: a disruption like this is upsetting, especially when you have plans in {city}.",
]
REFUND_YES = [
    "Because {cause} is our responsibility, you are entitled to a full refund under our policy.",
    "Since the {kind} was caused by {cause}, which was our fault, our policy gives you a full refund.",
    "This {kind} was on our side ({cause}), so I'm glad to confirm a full refund for you.",
]
REFUND_NO = [
    "Because the {kind} was caused by {cause}, which is weather and outside our control, "
    "our policy does not allow a refund.",
    "Our policy only provides refunds when a {kind} is our fault; {cause} is a weather event, "
    "so a refund isn't possible here.",
    "I wish I could do more, but weather such as {cause} is not covered by refunds under our policy.",
]
NEXT_YES = [
    "The refund will go back to your original payment method within 7 business days.",
    "I've started the refund now; you will get a confirmation email shortly.",
]
NEXT_NO = [
    "I can rebook you on the next available flight at no extra cost.",
    "I'd be happy to move you to another flight free of charge, or keep your fare as travel credit.",
]
CLOSINGS = ["Thank you for your patience.", "We appreciate you flying with us.", "Safe travels."]


def _example(rng: random.Random, at_fault: bool) -> dict:
    """One request and its policy-following reply."""
    cause = rng.choice(AIRLINE_CAUSES if at_fault else WEATHER_CAUSES)
    city = rng.choice(CITIES)
    disruption = rng.choice(DISRUPTIONS).format(h=rng.randint(2, 9))
    kind = "cancellation" if disruption == "cancelled" else "delay"
    request = (
        rng.choice(MOODS)
        + rng.choice(OPENERS).format(city=city, disruption=disruption, cause=cause)
        + " "
        + rng.choice(ASKS)
    )
    decision = rng.choice(REFUND_YES if at_fault else REFUND_NO)
    follow_up = rng.choice(NEXT_YES if at_fault else NEXT_NO)
    reply = " ".join(
        [
            rng.choice(EMPATHY).format(city=city),
            decision.format(cause=cause, kind=kind),
            follow_up,
            rng.choice(CLOSINGS),
        ]
    )
    return {"request": request, "reply": reply, "cause": cause, "refund": at_fault}


def draw_splits(rng: random.Random, sizes: dict[str, int], seen: set[str],
                make_row: Callable[[dict, int], dict]) -> dict[str, list[dict]]:
    """Splits of examples with requests not in `seen`, alternating airline-fault and weather causes.

    `make_row(example, index)` turns each drawn example into the row stored at `index`.
    """
    splits: dict[str, list[dict]] = {}
    for split, size in sizes.items():
        rows: list[dict] = []
        while len(rows) < size:
            ex = _example(rng, at_fault=len(rows) % 2 == 0)
            if ex["request"] in seen:
                continue
            seen.add(ex["request"])
            rows.append({"id": f"{split}-{len(rows):04d}", **make_row(ex, len(rows))})
        splits[split] = rows
    return splits


def opposite_reply(row: dict) -> str:
    """`row`'s reply with the opposite refund decision and next step, the rest unchanged (same cause, same words)."""
    kind = "cancellation" if "cancelled" in row["request"] else "delay"
    swaps = [(REFUND_YES, REFUND_NO), (NEXT_YES, NEXT_NO)]
    reply = row["reply"]
    for yes, no in swaps:
        have, other = (yes, no) if row["refund"] else (no, yes)
        sentences = [t.format(cause=row["cause"], kind=kind) for t in have]
        i = next((i for i, sentence in enumerate(sentences) if sentence in reply), None)
        if i is None:
            raise ValueError(f"not a reply of this generator: {reply!r}")
        reply = reply.replace(sentences[i], other[i % len(other)].format(cause=row["cause"], kind=kind))
    return reply


HELD_OUT_SEED = 2026


def held_out(n: int) -> list[dict]:
    """`n` new requests (airline's fault and weather alternating, in none of the bundled airline sets), each with
    its policy reply and the `opposite` reply: the capstone's held-out preference test."""
    from course.data.make_airline_preferences import generate as preferences

    seen = {r["request"] for rows in generate().values() for r in rows}
    seen |= {r["prompt"] for rows in preferences().values() for r in rows}
    return draw_splits(random.Random(HELD_OUT_SEED), {"held_out": n}, seen,
                       lambda ex, _: {**ex, "opposite": opposite_reply(ex)})["held_out"]


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """Build the splits: unique requests, half airline-fault and half weather in each split."""
    return draw_splits(random.Random(seed), SPLITS, set(), lambda ex, _: ex)


def write(out_dir: Path = OUT_DIR) -> None:
    """Write one JSONL file per split."""
    write_splits(generate(), out_dir)


if __name__ == "__main__":
    write()
    print(f"wrote {OUT_DIR}")
