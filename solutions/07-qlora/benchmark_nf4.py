"""How fast is NF4 quantization? bitsandbytes against the exercise's reference and a naive argmin.

Run from the course folder:

    python solutions/07-qlora/benchmark_nf4.py

On a 4096 x 4096 float32 matrix of standard normal values (seed 0), blocks of 64, it times
(median of 5 runs after one warm-up):

* bitsandbytes' `quantize_4bit(quant_type="nf4")`, the production kernel;
* the reference `quantize_nf4` of the exercise (the cells graded as `nf4_codebook` and
  `quantize_nf4` in solutions/07-qlora/exercise.ipynb): `torch.bucketize` over the 15 midpoints
  between the 16 levels;
* a naive version written here: `argmin` of the distance to all 16 levels, which builds a
  temporary 16 times the size of the matrix.

It checks that the reference's codes and absmax equal bitsandbytes' and prints the mismatches.
The argmin version can differ on a value that sits exactly on a midpoint between two levels: the
two float32 distances then round differently, where bitsandbytes and `bucketize` take the lower level.
"""

from __future__ import annotations

import course  # noqa: F401  first: quiets bitsandbytes' import-time log line

import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from course.units import GB

EXERCISE = Path(__file__).resolve().parent / "exercise.ipynb"
GRADE_IDS = ("nf4_codebook", "quantize_nf4")
SHAPE = (4096, 4096)
BLOCKSIZE = 64
REPEATS = 5


def load_reference(path: Path = EXERCISE) -> dict:
    """Run the exercise's graded solution cells for the codebook and the quantizer; return their namespace."""
    if not path.exists():
        sys.exit(f"benchmark_nf4: {path} not found: the reference quantize_nf4 comes from the exercise notebook")
    nb = json.loads(path.read_text(encoding="utf-8"))
    namespace: dict = {}
    exec("import math\nimport torch", namespace)
    found = []
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id in GRADE_IDS:
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            exec(compile(source, f"{path.name}[{grade_id}]", "exec"), namespace)
            found.append(grade_id)
    missing = [g for g in GRADE_IDS if g not in found]
    if missing:
        sys.exit(f"benchmark_nf4: {path} has no code cell with grade_id {', '.join(missing)}")
    return namespace


def quantize_nf4_argmin(w: torch.Tensor, levels: torch.Tensor, blocksize: int = BLOCKSIZE):
    """The naive NF4: the nearest of the 16 levels by argmin over all of them (a 16x temporary)."""
    blocks = w.float().reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    normalized = blocks * (1.0 / absmax)[:, None]  # times the reciprocal, as bitsandbytes does
    codes = (normalized.unsqueeze(-1) - levels).abs().argmin(dim=-1).to(torch.uint8)
    return codes.reshape(-1), absmax


def median_seconds(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of `repeats` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_growth(fn: Callable[[], object]) -> int:
    """How far one call raises the process's peak resident memory, in bytes (Linux reports KiB)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def main() -> None:
    import bitsandbytes as bnb
    import bitsandbytes.functional as F

    from course.lessons.qlora import bnb_nf4

    reference = load_reference()
    nf4_codebook, quantize_nf4 = reference["nf4_codebook"], reference["quantize_nf4"]
    torch.manual_seed(0)
    w = torch.randn(*SHAPE)
    levels = nf4_codebook()
    print(f"NF4 quantization of a {SHAPE[0]} x {SHAPE[1]} float32 matrix, blocks of {BLOCKSIZE}; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), bitsandbytes {bnb.__version__}, "
          f"median of {REPEATS} after a warm-up")

    # the argmin's memory first, while the process's peak is still that of the matrix alone
    rss_growth = peak_rss_growth(lambda: quantize_nf4_argmin(w, levels))
    temporary = w.numel() * len(levels) * 4  # (elements x 16 levels) float32 distances

    seconds = {
        "bitsandbytes quantize_4bit": median_seconds(
            lambda: F.quantize_4bit(w, blocksize=BLOCKSIZE, quant_type="nf4")),
        "reference quantize_nf4 (bucketize)": median_seconds(lambda: quantize_nf4(w, BLOCKSIZE)),
        "argmin over 16 levels": median_seconds(lambda: quantize_nf4_argmin(w, levels)),
    }
    base = seconds["bitsandbytes quantize_4bit"]
    for name, s in seconds.items():
        print(f"{name:>36}: {s:6.3f} s  ({s / base:4.2f}x bitsandbytes)")
    print(f"argmin temporary: {w.numel():,} elements x {len(levels)} levels x 4 bytes = {temporary / 1e9:.2f} GB "
          f"per tensor (the difference and its abs are alive together); peak resident memory grew by "
          f"{rss_growth / GB:.2f} GB in one call")

    bnb_codes, bnb_absmax, _ = bnb_nf4(w, BLOCKSIZE)
    ref_codes, ref_absmax = quantize_nf4(w, BLOCKSIZE)
    arg_codes, _ = quantize_nf4_argmin(w, levels)
    print(f"codes differing from bitsandbytes: reference {int((ref_codes != bnb_codes).sum()):,}, "
          f"argmin {int((arg_codes != bnb_codes).sum()):,} (values on a midpoint) of {w.numel():,}; "
          f"absmax max |difference| {float((ref_absmax - bnb_absmax).abs().max()):.1e}")


if __name__ == "__main__":
    main()
