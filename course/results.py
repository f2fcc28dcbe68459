"""A study's rows on disk: CSV files that keep numbers as numbers, the folder they go to, and the device
that measured them. Used by the capstone and the studies of lessons 08 and 09."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from course.errors import CourseError
from course.profiles import PROFILES


def device_name(device: str) -> str:
    """The device in words: 'cuda: <GPU name>' or 'cpu: <CPU model>, <threads> threads'."""
    if device.startswith("cuda"):
        return f"cuda: {torch.cuda.get_device_name(torch.device(device))}"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    except OSError:
        import platform

        cpu = platform.processor() or "unknown CPU"
    threads = torch.get_num_threads()
    return f"cpu: {cpu}, {threads} thread{'s' if threads > 1 else ''}"


def writable_folder(out: str | Path) -> Path:
    """`out`, created if needed, or a CourseError when it cannot be written."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CourseError(f"{path}: cannot create the output folder ({error.strerror})") from None
    if not os.access(path, os.W_OK):
        raise CourseError(f"{path}: the output folder is not writable")
    return path


def write_csv(rows: list[dict], path: Path, columns: list[str]) -> None:
    """The rows as CSV, one column per `columns` entry (empty where a row has no value); `read_csv` reads it."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: ("" if row.get(c) is None else row[c]) for c in columns} for row in rows)


def _value(text: str) -> int | float | str | None:
    """A CSV cell back as an int, a float, a string, or None when empty."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path: str | Path) -> list[dict]:
    """Rows written by `write_csv`, with numbers as numbers and empty cells as None."""
    with open(path, newline="") as f:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def study_arguments(prog: str, description: str, out: str) -> argparse.ArgumentParser:
    """The options every study takes: --profile, --seeds, --lrs, and --out (the folder for `out`)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--profile", choices=list(PROFILES), help="default: $COURSE_PROFILE, else detected")
    p.add_argument("--seeds", type=int, help="how many seeds (default: the profile's)")
    p.add_argument("--lrs", type=float, nargs="+", help="a subset of the profile's learning rates (default: all)")
    p.add_argument("--out", required=True, help=f"folder for {out}")
    return p


def check_study_arguments(args: argparse.Namespace, learning_rates: Iterable[float]) -> None:
    """A CourseError for fewer than one seed, or for a learning rate the profile does not study."""
    if args.seeds is not None and args.seeds < 1:
        raise CourseError(f"--seeds must be at least 1, not {args.seeds}")
    known = sorted(set(learning_rates))
    if args.lrs and not set(args.lrs) <= set(known):
        raise CourseError(f"--lrs must be among {', '.join(f'{lr:g}' for lr in known)}")


def run_study(main: Callable[[], int]) -> None:
    """A study's `python -m` entry: exit with `main`'s status, or with one line for bad input (a CourseError)."""
    try:
        sys.exit(main())
    except CourseError as error:
        sys.exit(f"error: {error}")
