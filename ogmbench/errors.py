"""The error roots of ogmbench, imported by every room and by nothing else first.

Two kinds of failure reach a user, and the command line maps each to one exit code:

* :class:`UsageError` (exit 2): the input cannot be used -- a setting out of range, an
  unknown name, a file or store that is not what it should be.  Nothing is run, or
  nothing that was written before is lost.
* :class:`RunFailure` (exit 1): the input was fine but the work failed -- an estimator
  misbehaved, or published results drifted.

Each message is one line that names the problem; the command line prints it as is.
"""

from __future__ import annotations

__all__ = ["OgmbenchError", "UsageError", "ConfigError", "StoreError", "RunFailure",
           "EXIT_USAGE", "EXIT_FAILURE"]

EXIT_FAILURE = 1
EXIT_USAGE = 2


class OgmbenchError(Exception):
    """Root of every error ogmbench raises on purpose."""


class UsageError(OgmbenchError):
    """The input cannot be used (exit 2)."""


class ConfigError(UsageError, ValueError):
    """A setting is invalid: the message names it and what is allowed."""


class StoreError(UsageError):
    """A store is missing, foreign, corrupt, incomplete or otherwise unusable.

    ``path`` is set when ogmbench found the damage while reading the store (so that an
    estimator raising a ``StoreError`` of its own is told apart: that is its failure).
    """

    def __init__(self, message: str = "", path: str | None = None):
        super().__init__(message)
        self.path = path

    def __reduce__(self):  # the path crosses process boundaries too
        return (type(self), (str(self), self.path))


class RunFailure(OgmbenchError):
    """The work failed although its input was valid (exit 1)."""
