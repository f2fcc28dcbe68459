"""The airline support task: its policy, and a measured check of whether replies apply it."""

from __future__ import annotations

import re

from course.training import generate_reply

POLICY = ("Reply to the following request using empathy and compassion. It is our policy to only "
          "provide refunds if a delay was our fault, not because of weather.")

# the course's running example, from the source material
THUNDERSTORM = "My plane was delayed by 4 hours because of a thunderstorm; I would like a refund please."

_DENY = re.compile(r"(not|n't|no|unable to|cannot)\b[^.]{0,40}\brefund|refunds? (is|are) not|refund (isn.t|is not) possible|not covered by refunds")
_GRANT = re.compile(r"full refund|refund (will|is on)|started the refund|entitled to a (full )?refund|confirm a (full )?refund")


def refund_decision(reply: str) -> bool | None:
    """True if `reply` grants a refund, False if it refuses one, None if it does not say."""
    text = reply.lower()
    if _DENY.search(text):
        return False
    if _GRANT.search(text):
        return True
    return None


def policy_accuracy(model, tokenizer, rows: list[dict], max_new_tokens: int,
                    system: str | None = None) -> tuple[float, list[str]]:
    """Share of `rows` whose reply (under the system prompt `system`, if given) takes the policy's refund decision."""
    replies = [generate_reply(model, tokenizer, r["request"], max_new_tokens, system) for r in rows]
    right = sum(refund_decision(reply) is r["refund"] for reply, r in zip(replies, rows))
    return right / len(rows), replies
