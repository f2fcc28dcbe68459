"""Bundled, versioned data sets (each with a DATASHEET.md beside its files)."""

from __future__ import annotations

import json
from pathlib import Path

DATA_DIR = Path(__file__).parent
DATASETS = {"airline_support": "v1", "airline_preferences": "v1", "grumpy_assistant": "v1", "support_intents": "v1",
            "general_text": "v1", "airline_kb": "v1"}


def load_split(name: str, split: str, version: str | None = None) -> list[dict]:
    """Rows of one split of a bundled data set, as dicts."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: bundled sets are {', '.join(DATASETS)}")
    path = DATA_DIR / name / (version or DATASETS[name]) / f"{split}.jsonl"
    if not path.exists():
        splits = sorted(p.stem for p in path.parent.glob("*.jsonl"))
        raise ValueError(f"{name} has no split {split!r} (splits: {', '.join(splits)})")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_splits(splits: dict[str, list[dict]], out_dir: Path) -> None:
    """Write one JSON Lines file per split (what the generators of the bundled sets produce)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (out_dir / f"{split}.jsonl").write_text(text, encoding="utf-8")
