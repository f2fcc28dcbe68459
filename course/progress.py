"""Progress bars for long loops: tqdm's notebook bar in Jupyter and Colab, off while grading.

nbgrader scores a test cell 0 when it writes to stderr, and a text progress bar does, so bars are
off under nbgrader (`NBGRADER_EXECUTION`), `course check` (`COURSE_CHECKING`) and `COURSE_PROGRESS=0`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled() -> bool:
    """Whether progress bars are shown in this process."""
    return not any(os.environ.get(k) for k in ("NBGRADER_EXECUTION", "COURSE_CHECKING")) \
        and os.environ.get("COURSE_PROGRESS", "1") != "0"


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """`items`, with a bar labelled `desc` when bars are enabled (tqdm.auto picks the notebook widget)."""
    if not enabled():
        return iter(items)
    from tqdm.auto import tqdm

    return iter(tqdm(items, desc=desc, total=total, leave=True))
