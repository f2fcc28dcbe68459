"""Generate the bundled grumpy-assistant persona set (v1) from a fixed seed.

Run `python -m course.data.make_grumpy_assistant` to rebuild the JSONL files; the test suite
checks that a rebuild is byte-identical to what is committed.

The source material's prompt-tuning example: instead of the system prompt "You are a grumpy
and unhelpful AI assistant", train a few virtual tokens on (request, grumpy answer) pairs.
Every reply has the same three parts, so a persona is learnable from a few hundred rows: a
grumbling opener, a grudging, minimal answer, and a dismissive closing.
"""

from __future__ import annotations

import random
from pathlib import Path

from course.data import write_splits

SEED = 2026
VERSION = "v1"
OUT_DIR = Path(__file__).parent / "grumpy_assistant" / VERSION
SPLITS = {"train": 400, "validation": 50, "test": 50}
HELD_OUT_TOPICS = {"validation": 5, "test": 5}  # the last topics of TOPICS, never seen in train

# (topic, the minimal answer a grumpy assistant gives); every question template fits every topic
TOPICS = [
    ("boiling an egg", "put it in boiling water for nine minutes"),
    ("making tea", "pour hot water on a tea bag and wait"),
    ("cooking rice", "one cup of rice, two cups of water, twenty minutes"),
    ("baking bread", "flour, water, yeast, salt, an oven and patience you clearly lack"),
    ("learning Spanish", "practise every day, there is no trick"),
    ("learning to code", "write small programs until they stop breaking"),
    ("writing a cover letter", "say why you want the job in three short paragraphs"),
    ("getting better sleep", "go to bed at the same time and put the phone away"),
    ("starting to run", "run slowly, three times a week"),
    ("saving money", "spend less than you earn"),
    ("keeping a houseplant alive", "water it when the soil is dry, not before"),
    ("cleaning a cast iron pan", "hot water, a brush, dry it and oil it"),
    ("choosing a laptop", "buy the one that fits your budget and stop comparing"),
    ("planning a trip to Rome", "book a hotel near the centre and walk"),
    ("remembering names", "repeat the name once when you hear it"),
    ("fixing a slow computer", "restart it and close the forty tabs"),
    ("writing a poem", "write lines, cut half of them"),
    ("tying a tie", "look up a diagram, it is a four-in-hand knot"),
    ("staying focused", "turn off notifications"),
    ("making small talk", "ask people about themselves, they love that"),
    ("the capital of Australia", "it is Canberra, not Sydney"),
    ("why the sky is blue", "air scatters blue light more than red"),
    ("how many planets there are", "eight, Pluto was demoted"),
    ("the boiling point of water", "100 degrees Celsius at sea level"),
    ("who wrote Hamlet", "Shakespeare, obviously"),
    ("how tides work", "the Moon pulls on the oceans"),
    ("what a black hole is", "gravity so strong that light cannot escape"),
    ("the speed of light", "about 300,000 kilometres per second"),
    ("photosynthesis", "plants turn light, water and carbon dioxide into sugar"),
    ("how vaccines work", "they train your immune system before the real thing"),
    ("picking a book to read", "read whatever is on your shelf already"),
    ("a good movie for tonight", "watch anything and stop asking me"),
    ("a birthday gift for my mother", "flowers, it is always flowers"),
    ("naming my cat", "call it Cat"),
    ("a hobby to try", "walking, it is free"),
    ("organising my desk", "throw away what you have not touched in a month"),
    ("writing an email to my boss", "short, polite, with the question in the first line"),
    ("preparing for a job interview", "research the company and practise answers out loud"),
    ("learning the guitar", "learn four chords and play them badly for a month"),
    ("losing weight", "eat a little less and move a little more"),
    ("making pancakes", "flour, milk, eggs, a hot pan"),
    ("changing a flat tyre", "jack, wrench, spare, and read the car manual"),
    ("convert 10 miles to kilometres", "about 16 kilometres"),
    ("what 15 times 12 is", "180, use a calculator next time"),
    ("how to spell necessary", "one c, two s"),
    ("a synonym for happy", "glad, there, done"),
    ("how to meditate", "sit still and breathe, that is all"),
    ("staying warm in winter", "wear a coat"),
    ("a recipe for dinner", "pasta with whatever is in the fridge"),
    ("how to be more productive", "do the hard task first and stop reading productivity tips"),
]
QUESTIONS = [
    "Can you help me with {topic}?",
    "I need some advice on {topic}.",
    "What do you know about {topic}?",
    "Could you explain {topic} to me?",
    "Any tips on {topic}?",
    "Please tell me about {topic}.",
    "I have a question about {topic}.",
    "Quick question: {topic}?",
]
POLITE = ["", "Hello! ", "Hi there. ", "Good morning! ", "Sorry to bother you. ", "Thanks in advance. "]
OPENERS = [
    "Ugh, not this again.",
    "Seriously? Fine.",
    "Sigh. If I must.",
    "Oh great, another question.",
    "Do I have to? Fine.",
    "Ugh. You again.",
]
MIDDLES = [
    "The short version: {answer}.",
    "Here is all you get: {answer}.",
    "Obviously, {answer}.",
    "Everyone knows this: {answer}.",
]
CLOSINGS = [
    "Now leave me alone.",
    "Don't ask me again.",
    "Figure out the rest yourself.",
    "That's all you're getting.",
    "Go bother someone else.",
]


def _example(rng: random.Random, topics: list[tuple[str, str]]) -> dict:
    """One polite request about one of `topics` and its grumpy, minimal reply."""
    topic, answer = rng.choice(topics)
    request = rng.choice(POLITE) + rng.choice(QUESTIONS).format(topic=topic)
    reply = " ".join([rng.choice(OPENERS), rng.choice(MIDDLES).format(answer=answer), rng.choice(CLOSINGS)])
    return {"request": request, "reply": reply, "topic": topic}


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """Build the splits; validation and test ask about topics of their own, unseen in train."""
    rng, splits = random.Random(seed), {}
    n_val, n_test = HELD_OUT_TOPICS["validation"], HELD_OUT_TOPICS["test"]
    topics = {"train": TOPICS[: -n_val - n_test], "validation": TOPICS[-n_val - n_test: -n_test],
              "test": TOPICS[-n_test:]}
    for split, size in SPLITS.items():
        rows: list[dict] = []
        seen: set[str] = set()
        while len(rows) < size:
            ex = _example(rng, topics[split])
            if ex["request"] not in seen:
                seen.add(ex["request"])
                rows.append({"id": f"{split}-{len(rows):04d}", **ex})
        splits[split] = rows
    return splits


def write(out_dir: Path = OUT_DIR) -> None:
    """Write one JSONL file per split."""
    write_splits(generate(), out_dir)


if __name__ == "__main__":
    write()
    print(f"wrote {OUT_DIR}")
