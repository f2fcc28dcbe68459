"""Silence library chatter (progress bars, logging, warnings) for this process.

nbgrader gives zero points to a test cell that writes anything to stderr, even when its
asserts pass, so `import course` calls `silence()` once, before any library is imported.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator

_NOISY = ("transformers", "peft", "trl", "bitsandbytes", "torch", "accelerate", "huggingface_hub", "datasets",
          "kernels")  # Hugging Face's kernels, which bitsandbytes and transformers use where it is installed


def silence() -> None:
    """Turn off progress bars, info logging and library warnings."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # datasets' map/filter bars (TRL's tokenizing)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)  # API notices students cannot act on
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=name + r"(\..*)?$")
    if "transformers" in sys.modules:  # imported before us: switch it off directly
        sys.modules["transformers"].utils.logging.set_verbosity_error()
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()


@contextlib.contextmanager
def no_stderr() -> Iterator[None]:
    """Swallow stderr for code that prints progress bars no switch turns off."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield
