"""Learning curves: the one rule that says whether a training converged.

A learned estimator reports its curve as ``describe()["curve"]``: ``[[step, val_mse,
lr], ...]`` at each evaluation on val (``lr`` may be left out when it never changes).
:func:`converged` applies the rule the report states; the run records it per estimator,
the tables footnote the rows it fails.  The reference U-Nets' ``plateau`` schedule
trains by the same rule: they lower the rate, and finally stop, when it holds.

Why the rule looks at one learning rate: a schedule that anneals the learning rate to
zero at a fixed budget flattens the end of every curve, converged or not.  Measured on
the default benchmark (benchmarks/README.md): a cosine schedule of 800 steps passed a
"last quarter against the previous quarter" rule, yet 1600 steps lowered the test MSE by
4%.  A curve that stops improving while the learning rate stays put has run out of what
that learning rate can give, which is what "converged" has to mean.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["TOLERANCE", "WINDOW", "RULE", "converged", "improvement", "all_converged"]

# The last WINDOW evaluations, all at the final learning rate, must improve on the best
# val MSE before them by less than TOLERANCE (relative).
TOLERANCE = 0.01
WINDOW = 3
RULE = (f"converged: over its last {WINDOW} evaluations, all at its final learning rate, "
        f"the val MSE improved on the best before them by less than {TOLERANCE:.0%}")


def improvement(curve: Sequence[Sequence[float]], window: int = WINDOW) -> float | None:
    """Relative improvement of the last ``window`` evaluations on the best before them.

    Parameters
    ----------
    curve : sequence of (step, val_mse[, lr])
        Evaluations in training order.
    window : int
        How many of the last evaluations are judged.

    Returns
    -------
    float or None
        ``(best_before - best_last) / best_before`` (negative when it got worse), or None
        when the rule cannot judge the curve: the last ``window`` evaluations do not all
        share the final learning rate (the rate was still being annealed), there is no
        evaluation before them, or a value is not finite.
    """
    rows = [list(c) for c in curve]
    if len(rows) <= window:
        return None
    lrs = [r[2] if len(r) > 2 else None for r in rows[-window:]]
    if None in lrs:
        if any(lr is not None for lr in lrs):
            return None
    elif not np.allclose(np.asarray(lrs, dtype=float), float(lrs[-1]), rtol=1e-9, atol=0):
        return None
    return _gain(np.asarray([r[1] for r in rows], dtype=float), window)


def converged(curve: Sequence[Sequence[float]], tolerance: float = TOLERANCE,
              window: int = WINDOW) -> bool | None:
    """Whether a learning curve passes the rule (:data:`RULE`).

    Returns
    -------
    bool or None
        None when the rule cannot judge it (see :func:`improvement`): a curve whose
        learning rate was still changing at the end, or too short.
    """
    gain = improvement(curve, window)
    return None if gain is None else bool(gain < tolerance)


def all_converged(curves: Sequence[Sequence[Sequence[float]] | None]) -> bool | None:
    """The verdict for an estimator trained once per training seed: True when every
    seed's curve passes the rule, False when one fails it, None when one has no curve
    or one the rule cannot judge (or there are no curves at all)."""
    verdicts = []
    for curve in curves:
        try:
            verdicts.append(converged(curve) if curve else None)
        except (TypeError, ValueError, IndexError):  # a plugin's curve of another shape
            verdicts.append(None)
    return None if not verdicts or None in verdicts else all(verdicts)


def _gain(values: np.ndarray, window: int) -> float | None:
    # A non-finite value before the window (an early divergence the training recovered
    # from) does not stop the rule; one inside it does.
    before = values[:-window][np.isfinite(values[:-window])]
    if values.size <= window or before.size == 0 or not np.isfinite(values[-window:]).all():
        return None
    best_before, best_last = before.min(), values[-window:].min()
    if best_before <= 0:
        return 0.0 if best_last >= best_before else None
    return float((best_before - best_last) / best_before)
