"""The course's code on the oldest torch it supports (what Colab and common GPU images ship), not only on the pin.

Builds once, beside .venv, a virtual environment holding that torch from the package index (PyPI's
Linux build: CUDA libraries included, it runs on the CPU too) and sees every other library in
.venv at the version installed there; then runs the unit tests of the platform and the lesson
helpers in it. A torch call that the oldest supported release lacks fails here.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from importlib import metadata
from pathlib import Path

from conftest import ROOT
from course.colab_install import OLDEST_TORCH, requirement_name

OLDEST = ".".join(map(str, OLDEST_TORCH)) + ".0"
VENV = ROOT / f".venv-torch-{OLDEST}"
READY = VENV / ".ready"
# the platform's and the helpers' unit tests (labs and grading run the same helpers, minutes longer)
UNIT_TESTS = ["test_training.py", "test_profiles.py", "test_interactive.py", "test_01_full_fine_tuning.py",
              "test_02_soft_prompting.py", "test_03_prompt_tuning.py", "test_04_prefix_tuning.py", "test_05_adapters.py",
              "test_06_lora.py", "test_07_qlora.py", "test_08_alignment.py", "test_09_rag_vs_fine_tuning.py",
              "test_10_distillation.py"]


def installed_elsewhere() -> list[str]:
    """'name==version' of every distribution in this environment but torch, the course and the packaging tools."""
    names = {requirement_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return [f"{name}=={version}" for name, version in sorted(names.items()) if name not in ("torch", "llm-course", "pip", "setuptools", "wheel")]


def oldest_torch_python() -> Path:
    """The interpreter of VENV: torch OLDEST there, this environment's other packages behind it."""
    python = VENV / "bin" / "python"
    if READY.exists() and READY.read_text() == OLDEST:
        return python
    venv.create(VENV, clear=True, with_pip=True)
    constraints = VENV / "constraints.txt"
    constraints.write_text("\n".join(installed_elsewhere()) + "\n")
    install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"torch=={OLDEST}",
               "-c", str(constraints)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"installing torch {OLDEST} failed:\n{done.stderr[-3000:]}"
    # this venv's own site-packages first (torch OLDEST), then .venv's, with its .pth files (the course)
    site = Path(sysconfig.get_paths(vars={"base": str(VENV), "platbase": str(VENV)})["purelib"])
    (site / "zz-course-venv.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    READY.write_text(OLDEST)
    return python


def test_the_course_runs_on_the_oldest_supported_torch():
    python = oldest_torch_python()
    seen = subprocess.run([str(python), "-c", "import torch, transformers, peft, course; print(torch.__version__)"],
                          capture_output=True, text=True, timeout=300)
    assert seen.returncode == 0 and seen.stdout.strip().split("+")[0] == OLDEST, seen.stdout + seen.stderr
    env = {**os.environ, "COURSE_PROFILE": "smoke", "PYTHONDONTWRITEBYTECODE": "1"}
    tests = [str(ROOT / "tests" / name) for name in UNIT_TESTS]
    offline_hub = "not hub_preferences_offline"  # 24 s of waiting for a hub, no torch in it
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", offline_hub, *tests],
                          cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"on torch {OLDEST}:\n{done.stdout[-6000:]}"
    print(done.stdout.splitlines()[-1])
