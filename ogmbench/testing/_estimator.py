"""Running the estimator rules: :func:`check_estimator` and :func:`parametrize_with_checks`."""

from __future__ import annotations

import functools
import inspect
import sys
import time

from ._errors import EstimatorCheckError
from ._fits import class_of, differs, fit_seconds, forget
from ._rules import ALL_CHECKS

__all__ = ["check_estimator", "parametrize_with_checks"]


def check_estimator(estimator, *, params: dict | None = None, target: int = 0, seed: int = 0,
                    verbose: bool = True):
    """Run every check of :data:`ALL_CHECKS`; raise one error listing each failure.

    A check that raises anything else (``fit`` raised, say) counts as failed with
    ``raised <Type>: <message>``; the other checks still run.  The model is fitted
    afresh for each call (an estimator edited in place is checked as it is now) and
    once for all checks of the call.

    Parameters
    ----------
    estimator : Estimator subclass or instance
        An instance contributes its current hyper-parameters.
    params : dict, optional
        Hyper-parameters to construct with (e.g. a fast training profile).
    target : int
        Target class index.
    seed : int
        Seed of the tiny data and of ``fit``.
    verbose : bool
        Say on stderr that the checks fit the estimator (a learned one trains: with its
        default profile that takes a while), and how long the fits took.

    Returns
    -------
    bool
        True when every check passes.

    Raises
    ------
    EstimatorCheckError
        When any check fails: the first line is ``"<Name> fails N of M checks"``, then
        one line per failed check, ``"  check_<rule>: <message>"``; ``failures`` maps
        each failed check's name to its message.

    Examples
    --------
    >>> from ogmbench.baselines.classical import Median
    >>> check_estimator(Median, params={"size": 5})
    True
    """
    cls = class_of(estimator)
    failures: dict[str, str] = {}
    forget(cls)
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if verbose else (lambda t: None)
    say(f"check_estimator: {len(ALL_CHECKS)} checks of {_label(estimator)}; they fit it on a "
        "tiny store" + (" (it trains: pass params= a quick profile to be fast)"
                        if getattr(cls, "stochastic", False) else ""))
    start = time.perf_counter()
    try:
        for check in ALL_CHECKS:
            try:
                check(estimator, params, target=target, seed=seed)
            except EstimatorCheckError as exc:
                failures[check.__name__] = str(exc)
            except Exception as exc:
                failures[check.__name__] = f"raised {type(exc).__name__}: {exc}"
        fits, seconds = fit_seconds(cls)
        say(f"check_estimator: {fits} fit{'s' * (fits != 1)} took {seconds:.1f} s of "
            f"{time.perf_counter() - start:.1f} s")
    finally:
        # Outside parametrize_with_checks nothing reuses the fits: do not keep them alive.
        forget(cls)
    if failures:
        lines = [f"{cls.__name__} fails {len(failures)} of {len(ALL_CHECKS)} checks"]
        lines += [f"  {name}: " + message.replace("\n", "\n    ")
                  for name, message in failures.items()]
        raise EstimatorCheckError("\n".join(lines), failures=failures)
    return True


def _label(estimator) -> str:
    """The class name, with the hyper-parameters that differ from the defaults of an instance."""
    cls = class_of(estimator)
    if isinstance(estimator, type):
        return cls.__name__
    try:
        defaults = cls.default_params()
        changed = [f"{key}={value}" for key, value in estimator.get_params().items()
                   if differs(value, defaults.get(key, inspect.Parameter.empty))]
    except Exception:  # not an Estimator: its checks will say so
        changed = []
    return f"{cls.__name__}({','.join(changed)})" if changed else cls.__name__


def parametrize_with_checks(estimators, params: dict | None = None):
    """A ``pytest.mark.parametrize`` over every (estimator, check) pair: one test per rule.

    The test receives ``estimator`` and ``check``, a callable ``check(estimator)`` that
    raises :class:`EstimatorCheckError` when the rule is broken.  Test ids read
    ``<Name>-<check name>`` (an instance adds its non-default hyper-parameters, e.g.
    ``Median(size=5)-check_fit_returns_self``).  The checks of one estimator share one
    fit per process, so a learned estimator is not retrained for every rule.

    Parameters
    ----------
    estimators : iterable of Estimator subclasses or instances
        An instance contributes its current hyper-parameters.
    params : dict, optional
        Hyper-parameters to construct every estimator with (e.g. a fast training
        profile); bound into each ``check``.

    Returns
    -------
    pytest.MarkDecorator

    Examples
    --------
    .. code-block:: python

        @parametrize_with_checks([MyEstimator])
        def test_ogmbench(estimator, check):
            check(estimator)
    """
    import pytest  # only the test helper needs pytest; ogmbench does not

    cases, seen = [], {}
    for estimator in estimators:
        label = _label(estimator)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}_{seen[label]}"
        for check in ALL_CHECKS:
            bound = functools.partial(check, params=params)
            cases.append(pytest.param(estimator, bound, id=f"{label}-{check.__name__}"))
    return pytest.mark.parametrize(("estimator", "check"), cases)
