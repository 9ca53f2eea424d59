"""The errors the conformance checks raise: assertion errors that name what broke."""

from __future__ import annotations

__all__ = ["EstimatorCheckError", "GeneratorCheckError"]


class EstimatorCheckError(AssertionError):
    """An estimator breaks a rule of the protocol.

    A subclass of ``AssertionError``, so that ``pytest.raises(AssertionError)`` and
    test runners treat it as a failed check rather than a crash.

    Parameters
    ----------
    message : str
        Names the estimator and the broken rule (for :func:`check_estimator`: every
        broken rule, one a line).
    failures : dict, optional
        Check name -> message of each failed check (set by :func:`check_estimator`).
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None):
        super().__init__(message)
        self.failures = dict(failures or {})


class GeneratorCheckError(AssertionError):
    """A family or a noise model breaks a rule of :func:`check_family` or
    :func:`check_noise`.

    Like :class:`EstimatorCheckError`: an ``AssertionError`` whose message names the
    model and the broken rule (every broken rule, one a line, for the whole kit), with
    ``failures`` mapping each failed check's name to its message.
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None):
        super().__init__(message)
        self.failures = dict(failures or {})
