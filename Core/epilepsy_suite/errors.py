"""Errors raised for bad input, phrased for the person who gave it."""

from __future__ import annotations

from os import PathLike


class InputError(ValueError):
    """Bad user input: the message names the offending file (or item) and the problem.

    ``str(error)`` is one line, ``"<source>: <problem>"``, ready for a log, a CLI or a dialog.
    """

    def __init__(self, source: str | PathLike[str] | None, problem: str):
        self.source = str(source) if source is not None else None
        self.problem = problem
        message = f"{self.source}: {problem}" if self.source else problem
        super().__init__(" ".join(message.split()))


class CancelledError(RuntimeError):
    """Raised inside long work when the user asked to stop it."""
