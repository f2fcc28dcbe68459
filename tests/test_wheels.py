"""Every supported Python can install the course: pip resolves the pins from the package index, wheels only.

Asks the package index (the network this test needs); pip's `--dry-run` reads the wheels' metadata
and installs nothing. A pin without wheels for a supported CPython fails here, not on a student's
machine or on Colab (Python 3.13 since August 2026, glibc 2.35).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT
from course.colab_install import OLDEST_TORCH, colab_requirements, requirement_name

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# pip matches each manylinux_2_N tag exactly, so every N up to Colab's glibc 2.35 is named
# (bitsandbytes' wheels are manylinux_2_24 only), with the legacy aliases of 2_5, 2_12 and 2_17
LINUX = [f"manylinux_2_{n}_x86_64" for n in range(5, 36)] + [
    "manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]


def resolve(requirements: list[str], python: str, tmp: Path) -> dict[str, str]:
    """What pip would install for CPython `python` on x86_64 Linux: {normalized name: version}."""
    report = tmp / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--python-version", python, "--implementation", "cp",
               *(f"--platform={tag}" for tag in LINUX), "--target", str(tmp / "target"), "--report", str(report),
               *requirements]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip cannot install the pins on CPython {python}:\n{done.stderr[-3000:]}"
    return {requirement_name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]}


def pins(requirements: list[str]) -> dict[str, str]:
    """{normalized name: pinned version} of 'name==version' requirements (with any comment stripped)."""
    return {requirement_name(r): r.split("==")[1].split(";")[0].strip() for r in requirements}


def supported_pythons() -> list[str]:
    """The minor versions `requires-python` admits, from its lower to its upper bound: ['3.11', ...]."""
    low, high = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", PROJECT["requires-python"]).groups()
    return [f"3.{minor}" for minor in range(int(low), int(high))]


def test_supported_pythons_are_stated_once_everywhere():
    assert supported_pythons() == ["3.11", "3.12", "3.13"]
    stated = "Python 3.11, 3.12 or 3.13"
    for path in ("README.md", "run.py", "docs/classroom.md"):
        assert stated in (ROOT / path).read_text(), f"{path} does not say {stated!r}"


EVERYTHING = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]
COLAB = colab_requirements(ROOT, keep_torch=True)  # what the Colab set-up installs: no torch, no Jupyter stack
OLDEST = ".".join(map(str, OLDEST_TORCH)) + ".0"  # the oldest torch it keeps; Colab's today
ASKED = {("everything", "3.12"): EVERYTHING, ("everything", "3.13"): EVERYTHING,  # 3.11: the suite's own .venv
         ("colab", "3.13"): [*COLAB, f"torch=={OLDEST}"]}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, str]]:
    """pip's resolution of each of ASKED, run side by side (each waits mostly on the package index)."""
    with ThreadPoolExecutor(len(ASKED)) as pool:
        futures = {key: pool.submit(resolve, wanted, key[1], tmp_path_factory.mktemp("-".join(key)))
                   for key, wanted in ASKED.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_every_pin_has_wheels_for(python, resolved):
    got = resolved["everything", python]
    assert {name: got.get(name) for name in pins(EVERYTHING)} == pins(EVERYTHING)


def test_colab_install_set_resolves_on_python_313_beside_colabs_torch(resolved):
    assert not any(requirement_name(r) in ("torch", "jupyterlab", "ipykernel") for r in COLAB)
    got = resolved["colab", "3.13"]
    assert got["torch"] == OLDEST and {name: got.get(name) for name in pins(COLAB)} == pins(COLAB)
