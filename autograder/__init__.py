"""Instructor side of the course: nbgrader generate_assignment and autograde, wrapped.

`course build` and `course grade` call into this package; the student side (`course check`)
lives in `course.check` and needs no solutions and no gradebook.
"""
