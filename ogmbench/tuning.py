"""Fitting on train, choosing on val: the hyper-parameter grid and the IoU threshold.

Every choice an estimator's score depends on is made on the val split, never on test
(docs/ARCHITECTURE.md, "definitions").  Predictions go through :func:`checked_predict`,
which turns an estimator that breaks the protocol into an :class:`EstimatorFailure`.

What an estimator raises is contained (:func:`as_failure`): any exception, ``SystemExit``
and a ``KeyboardInterrupt`` that the user did not cause included, is the estimator's
failure, recorded while the run goes on.  The user's own Ctrl-C still stops the run:
:func:`user_interrupts` notes the SIGINT before Python raises it.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics
from .api import Estimator, FitData, Split, check_output
from .errors import RunFailure, StoreError
from .sandbox import returnable
from .runs import jsonable

__all__ = ["EstimatorFailure", "tune", "val_mse", "val_threshold", "checked_predict",
           "as_failure", "user_interrupts", "deadline", "TimedOut", "MAX_TIMEOUT"]

_USER_INTERRUPT = threading.Event()
# A year: the alarm's clock overflows far beyond it (1e10 s does on 64-bit Linux).
MAX_TIMEOUT = 365 * 24 * 3600.0


@returnable  # a plugin's process reports its estimator's failure as itself
class EstimatorFailure(RunFailure):
    """An estimator misbehaved; the message says how (recorded, the run goes on)."""


@contextlib.contextmanager
def user_interrupts():
    """Within this block, a SIGINT (the user's Ctrl-C) is told apart from a plugin's raise.

    A SIGTERM or SIGHUP (the run stopped from outside, a closed terminal) stops the run
    the same way, so that the work in progress (a plugin's process included) is ended by
    the code that started it rather than left behind.  Only the main thread can handle
    signals; elsewhere the block changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [signal.SIGINT] + [getattr(signal, n) for n in ("SIGTERM", "SIGHUP")
                               if hasattr(signal, n)]
    previous = {s: signal.getsignal(s) for s in stops}

    def note(signum, frame):
        _USER_INTERRUPT.set()
        if signum == signal.SIGINT and callable(previous[signum]):
            previous[signum](signum, frame)
        else:
            raise KeyboardInterrupt

    _USER_INTERRUPT.clear()
    for s in stops:
        signal.signal(s, note)
    try:
        yield
    finally:
        for s in stops:
            signal.signal(s, previous[s])


class TimedOut(BaseException):
    """Raised by the alarm of :func:`deadline` (a BaseException: ``except Exception`` in an
    estimator does not swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float | None):
    """Within this block, the work is stopped after ``seconds`` (wall clock) and counts as
    the estimator's failure, "timed out after N s".

    A real-time alarm (SIGALRM) interrupts Python code and the blocking calls that Python
    interrupts for signals; it is available in the main thread of POSIX systems, and
    elsewhere (or with ``seconds=None``) the block runs without a limit.
    """
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def ring(signum, frame):
        raise TimedOut(seconds)

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def as_failure(exc: BaseException, what: str) -> EstimatorFailure | None:
    """The :class:`EstimatorFailure` that ``exc``, raised by an estimator's ``what``, is.

    None for what is not the estimator's fault and must go on up: a damaged store, the
    user's Ctrl-C, or a failure already described.
    """
    if isinstance(exc, EstimatorFailure):
        return None
    if isinstance(exc, StoreError) and exc.path is not None:  # ogmbench's own read failed
        return None
    if isinstance(exc, KeyboardInterrupt) and _USER_INTERRUPT.is_set():
        return None
    if isinstance(exc, TimedOut):
        return EstimatorFailure(f"timed out after {exc.args[0]:g} s (in {what})")
    return EstimatorFailure(f"{what} raised {type(exc).__name__}: {exc} [{_where(exc)}]")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def tune(cls: type[Estimator], data: FitData, *, target: int, seed: int, device: str,
         fixed: dict[str, Any] | None = None):
    """Fit every point of ``cls.param_grid`` on train and keep the best by val MSE.

    ``fixed`` parameters are set by the user and taken out of the grid.  Returns
    (fitted estimator, chosen params, table of [params, val_mse]).  Ties keep the
    earlier grid point.  Without val samples the defaults are used, untuned.
    """
    fixed = dict(fixed or {})
    grid = {k: v for k, v in cls.param_grid.items() if k not in fixed}
    keys = list(grid)
    combos = [dict(zip(keys, values)) for values in itertools.product(*grid.values())] or [{}]
    if len(data.val) == 0:
        combos = [{}]
    best, table = None, []
    for params in combos:
        model = cls(**fixed, **params).fit(data, target=target, seed=seed, device=device)
        score = val_mse(model, data.val, target) if len(data.val) else float("nan")
        table.append({"params": jsonable(params), "val_mse": score})
        if best is None or score < best[0]:
            best = (score, model, params)
    return best[1], best[2], table


def _predicted(model: Estimator, split: Split, target: int):
    """``(estimate, clean last frame of the target)`` per block of ``split``."""
    done = 0
    for noisy, clean, rho in split.iter_chunks():
        warps = None if split.warps is None else split.warps[done:done + len(noisy)]
        done += len(noisy)
        yield checked_predict(model, noisy, target, warps, rho), clean[:, target]


def val_mse(model: Estimator, split: Split, target: int) -> float:
    """Mean squared error of ``model`` on a split, over all cells."""
    total, count = 0.0, 0
    for estimate, clean in _predicted(model, split, target):
        total += float(np.sum((estimate.astype(np.float64) - clean) ** 2))
        count += estimate.size
    return total / max(count, 1)


def checked_predict(model: Estimator, noisy: np.ndarray, target: int,
                    warps: np.ndarray | None = None, rho: np.ndarray | None = None) -> np.ndarray:
    """``model.predict`` on a read-only copy, its output checked; raise EstimatorFailure.

    ``warps`` (sequences' alignment) is handed to an estimator that reads the past, the
    samples' ``rho`` to a reference that knows the true model (``knows_model``).
    """
    noisy = np.ascontiguousarray(noisy)
    noisy.setflags(write=False)  # an estimator that writes to its input fails loudly
    if warps is not None:
        warps = np.array(warps, dtype=np.float64)
        warps.setflags(write=False)
    try:
        extra = ({"rho": np.asarray(rho, np.float64)} if getattr(model, "knows_model", False)
                 else {})
        out = (model.predict(noisy, target, **extra) if warps is None
               else model.predict(noisy, target, warps, **extra))
    except BaseException as exc:  # noqa: B036 -- contained: see as_failure
        failure = as_failure(exc, "predict")
        if failure is None:
            raise
        raise failure from exc
    try:
        check_output(out, noisy)
    except ValueError as exc:
        raise EstimatorFailure(str(exc)) from None
    return out


def val_threshold(model, val: Split, target: int) -> tuple[float, float]:
    if len(val) == 0:
        return 0.5, float("nan")
    estimates, cleans = [], []
    for estimate, clean in _predicted(model, val, target):
        estimates.append(estimate)
        cleans.append(clean)
    return metrics.best_threshold(estimates, cleans)
