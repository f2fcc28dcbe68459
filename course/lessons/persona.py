"""The grumpy-assistant persona of lessons 03 and 04: a detector for replies that carry it."""

from __future__ import annotations

from course.data.make_grumpy_assistant import CLOSINGS, OPENERS

# the grumbling words of the persona's openings and closings, lower case
MARKERS = ("ugh", "seriously?", "sigh", "oh great", "do i have to", "leave me alone", "don't ask me",
           "figure out the rest", "all you're getting", "bother someone else")
assert all(any(m in s.lower() for m in MARKERS) for s in OPENERS + CLOSINGS), "every template has a marker"


def is_grumpy(reply: str) -> bool:
    """Whether a reply grumbles the way the persona does (any opener or closing marker)."""
    text = reply.lower().replace("’", "'")
    return any(m in text for m in MARKERS)


def grumpy_rate(replies: list[str]) -> float:
    """Share of replies that are grumpy (0 for an empty list)."""
    return sum(map(is_grumpy, replies)) / len(replies) if replies else 0.0
