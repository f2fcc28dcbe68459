"""Run by every kernel the course starts to grade or check a notebook, before its first cell.

It imports the course's libraries quietly. A library that writes to stderr when first imported
(bitsandbytes, when Hugging Face's `kernels` package is installed, logs that it cannot load its
CPU kernels) would otherwise write inside whichever test cell imports it first, and nbgrader
scores a test cell with stderr output 0, whatever its asserts say.
"""

from __future__ import annotations

import contextlib
import importlib
import io

from course.quiet import silence

PRELOADED = ("torch", "transformers", "peft", "bitsandbytes")  # peft and transformers import bitsandbytes too

silence()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
