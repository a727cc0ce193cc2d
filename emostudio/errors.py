"""The one error type users see.

Every problem with what a user asked for (bad text, a malformed emotion, a missing voice, an
unwritable path) is raised as :class:`EmostudioError` with one sentence that says what is wrong
and what to do. The CLI prints it and exits non-zero; the app shows it as ``gr.Error``.
"""


class EmostudioError(ValueError):
    """A user-facing error whose message is one actionable sentence."""
