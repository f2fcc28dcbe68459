"""The one exception type the command line turns into a one-line message."""


class CourseError(Exception):
    """Bad input to a course command: the message says what and where."""
