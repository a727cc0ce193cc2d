"""The one error type users see.

Every problem with what a user asked for (bad text, a malformed emotion, a missing voice, an
unwritable path) is raised as :class:`EmostudioError` with one sentence that says what is wrong
and what to do. The CLI prints it and exits non-zero; the app shows it as ``gr.Error``.
"""


class EmostudioError(ValueError):
    """A user-facing error whose message is one actionable sentence."""


def invalid_lines(problems: list[str], total: int, what: str, advice: str) -> EmostudioError:
    """One error for a file checked line by line: how many of its ``what`` are bad, then each one.

    ``problems`` are ``"line N: ..."`` entries; every bad line is reported at once so a user can
    fix them all in one go.
    """
    listing = "\n  ".join(problems)
    return EmostudioError(f"{len(problems)} of {total} {what} are invalid; {advice}:\n  {listing}")
