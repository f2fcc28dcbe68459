"""The two cells `course build` puts at the top of every released notebook: the Colab link and set-up.

The set-up cell does nothing outside Colab. On Colab it clones the course, installs it with its
offline models (once per runtime, `course.colab_install`, which keeps Colab's torch and Jupyter), moves
into the lesson's folder and prints the GPU (name, memory, compute capability) and the profile it
picked (gpu when Colab gave the runtime a GPU). It runs before the course is
installed, so it is plain Python and imports only the standard-library installer from the clone.
A fork publishes under another name: change REPOSITORY and run `course build`.
"""

from __future__ import annotations

import nbformat

REPOSITORY = "customizing-llms/llm-course"  # GitHub owner/name the notebooks are opened from
HOME = "/content/llm-course"  # where the set-up cell clones the course on Colab

SETUP = '''# Colab only (elsewhere this cell does nothing): install the course and its offline models, once per runtime,
# keeping Colab's own torch and Jupyter.
import os, sys
if "google.colab" in sys.modules:
    import subprocess
    home = os.environ.setdefault("COURSE_ROOT", "{home}")
    if not os.path.isdir(home):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "https://github.com/{repository}", home], check=True)
    sys.path.insert(0, home)  # an editable install reaches sys.path only after a restart
    from course.colab_install import install
    install(home)  # keeps Colab's own torch and Jupyter; a finished install is not repeated
    os.chdir(os.path.join(home, "lessons", "{lesson}"))
    from course.profiles import device_summary, get_profile
    print(device_summary())  # no GPU? Runtime > Change runtime type, then run this cell again
    get_profile(verbose=True)
'''


def colab_url(lesson: str, notebook: str) -> str:
    """The address that opens lessons/<lesson>/<notebook> from GitHub in Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/lessons/{lesson}/{notebook}"


def link_cell(lesson: str, notebook: str) -> nbformat.NotebookNode:
    """A markdown cell with the 'Open in Colab' badge for this notebook."""
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    return nbformat.v4.new_markdown_cell(
        f"[![Open In Colab]({badge})]({colab_url(lesson, notebook)}) "
        "On Colab, run the next cell first; in JupyterLab it does nothing.", id="colab-link")


def setup_cell(lesson: str) -> nbformat.NotebookNode:
    """The code cell that installs the course on Colab and nowhere else."""
    return nbformat.v4.new_code_cell(SETUP.format(home=HOME, repository=REPOSITORY, lesson=lesson).rstrip("\n"),
                                     id="colab-setup")


def add_colab_cells(nb: nbformat.NotebookNode, lesson: str, notebook: str) -> nbformat.NotebookNode:
    """`nb` with the link and the set-up cell in front (replacing ones already there)."""
    nb.cells = [link_cell(lesson, notebook), setup_cell(lesson),
                *(c for c in nb.cells if c.get("id") not in ("colab-link", "colab-setup"))]
    return nb
