"""Generate the bundled general-text set (v1): English prose that has nothing to do with airlines.

Lesson 01 measures catastrophic forgetting as the perplexity of a model on text unlike its
fine-tuning data. The passages are paragraphs of the Python language reference, taken from
`pydoc_data.topics`, which ships inside every CPython 3.11: no network and a clear license
(PSF License Version 2). The JSONL files are committed, so the lesson does not depend on the
Python version it runs on; rebuilding them byte for byte needs the Python version in `SOURCE_PYTHON`.

Run `python -m course.data.make_general_text` to rebuild.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from course.data import write_splits

SEED = 2027
VERSION = "v1"
OUT_DIR = Path(__file__).parent / "general_text" / VERSION
SOURCE_PYTHON = "3.11.7"  # the interpreter whose pydoc_data produced the committed files
N_PASSAGES = 100
MIN_WORDS, MAX_WORDS = 40, 120


def _is_prose(paragraph: str) -> bool:
    """A paragraph of running text: no code, no indented blocks, almost only letters and spaces."""
    if ">>>" in paragraph or paragraph.startswith(" ") or "::" in paragraph:
        return False
    letters = sum(c.isalpha() or c.isspace() for c in paragraph)
    return letters / len(paragraph) > 0.93


def passages() -> list[tuple[str, str]]:
    """(topic, passage) for every prose paragraph of the right length, in a fixed order."""
    from pydoc_data.topics import topics

    found = []
    for topic in sorted(topics):
        for paragraph in re.split(r"\n\s*\n", topics[topic]):
            words = paragraph.split()
            if MIN_WORDS <= len(words) <= MAX_WORDS and _is_prose(paragraph):
                found.append((topic, " ".join(words)))
    return found


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """One split, `test`: N_PASSAGES distinct passages drawn with a fixed seed."""
    first_topic = {}
    for topic, text in passages():  # a paragraph can appear under several topics: keep it once
        first_topic.setdefault(text, topic)
    unique = [(topic, text) for text, topic in first_topic.items()]
    chosen = random.Random(seed).sample(unique, N_PASSAGES)
    return {"test": [{"id": f"test-{i:04d}", "text": text, "source": f"pydoc topic {topic!r}"}
                     for i, (topic, text) in enumerate(chosen)]}


def write(out_dir: Path = OUT_DIR) -> None:
    """Write the JSONL file."""
    write_splits(generate(), out_dir)


if __name__ == "__main__":
    write()
    print(f"wrote {OUT_DIR}")
