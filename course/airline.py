"""The airline support task: its policy, and a measured check of whether replies apply it."""

from __future__ import annotations

import re

import torch

from course.training import IGNORE, chat_prompt, collate, generate_reply

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


@torch.no_grad()
def reply_log_probs(model, tokenizer, pairs: list[tuple[str, str]], system: str | None = None,
                    batch_size: int = 16) -> list[float]:
    """log p(reply | request) of each (request, reply) under `system` (if given), the reply's end token included.

    Teacher-forced and batched with padding on the right, so that every real token keeps its position; a
    peft prompt-learning model's virtual tokens come first and its logits end with the sequence's.
    """
    device = next(model.parameters()).device
    encoded = []
    for request, reply in pairs:
        prompt = tokenizer(chat_prompt(tokenizer, request, system), add_special_tokens=False)["input_ids"]
        answer = tokenizer(reply + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        encoded.append({"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer})
    scores = []
    was_training = model.training
    model.eval()
    for i in range(0, len(encoded), batch_size):
        batch = collate(encoded[i:i + batch_size], tokenizer.pad_token_id)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -ids.shape[1]:-1].float()
        labels = batch["labels"][:, 1:].to(device)
        keep = labels != IGNORE
        picked = logits.log_softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
        scores += (picked * keep).sum(-1).tolist()
    model.train(was_training)
    return scores


def policy_preference(model, tokenizer, rows: list[dict], system: str | None = None) -> list[bool]:
    """For each row (request, reply, opposite), whether the model finds its policy reply more likely than the
    reply that takes the opposite refund decision."""
    scores = reply_log_probs(model, tokenizer, [(r["request"], reply) for r in rows
                                                for reply in (r["reply"], r["opposite"])], system)
    return [right > wrong for right, wrong in zip(scores[0::2], scores[1::2])]


def paired_accuracy(right: list[bool]) -> float:
    """Share of consecutive pairs (an airline-fault request, a weather request) where both are right: a model
    that takes one decision whatever the cause scores 0, one that guesses 25%."""
    if len(right) < 2 or len(right) % 2:
        raise ValueError(f"paired accuracy needs an even number of requests, got {len(right)}")
    return sum(a and b for a, b in zip(right[0::2], right[1::2])) / (len(right) // 2)
