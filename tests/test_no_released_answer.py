"""No graded answer can be had from released material (tests/plug_in.py plugs it in and runs the test cells)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_grading import LESSON_POINTS


def plug_in(lesson: str, *extra: Path) -> list[dict]:
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "plug_in.py"), lesson, *map(str, extra)],
                            capture_output=True, text=True, timeout=1200, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("lesson", LESSON_POINTS)
def test_no_course_or_lab_function_passes_a_graded_test(lesson):
    rows = plug_in(lesson)
    assert rows and all(r["reference_passes"] for r in rows), rows
    assert sum(r["tried"] for r in rows) >= len(rows), "every answer was tried against released functions"
    leaks = [(r["test"], r["answer"], label) for r in rows for label in r["passed"]]
    assert not leaks, leaks


def test_a_planted_answer_is_found(tmp_path):
    """The harness catches a leak: a correct lora_param_count in an extra module passes, and is reported."""
    planted = tmp_path / "planted.py"
    planted.write_text("def lora_count(d_in, d_out, r):\n    return r * d_in + d_out * r\n")
    rows = plug_in("06-lora", planted)
    row = next(r for r in rows if r["answer"] == "lora_param_count")
    assert row["passed"] == ["planted.py:lora_count"], row
