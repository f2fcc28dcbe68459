"""The studies' shared command line (lessons 08 and 09): bad input ends in one line and writes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

STUDIES = ["course.lessons.alignment_stability", "course.lessons.known_unknown"]


@pytest.mark.parametrize("study", STUDIES)
@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "--seeds must be at least 1, not 0"),
    (["--lrs", "0.5"], "--lrs must be among "),
])
def test_bad_input_fails_in_one_line_and_writes_nothing(study, args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", study, "--profile", "smoke", *args, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stderr.strip().startswith(f"error: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
