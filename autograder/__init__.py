"""Instructor side of the course: nbgrader generate_assignment and autograde, wrapped.

The `course` command line lives here (`autograder.cli`), with `course build` (`build.py`) and
`course grade` (`batch.py`, `worker.py`); the student side (`course check`) lives in `course.check`
and needs no solutions and no gradebook. Imports run one way: this package uses `course`, never
the reverse.
"""
