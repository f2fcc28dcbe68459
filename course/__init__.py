"""Helpers for the course on customizing LLMs: models, data, profiles, training, plots.

Importing the package quiets library progress bars and warnings (see `course.quiet`), since
nbgrader scores a test cell that writes to stderr as failed.
"""

from course.quiet import silence

silence()

__version__ = "0.1.0"
