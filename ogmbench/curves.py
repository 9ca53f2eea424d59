"""Learning curves: the one rule that says whether a training converged.

A learned estimator reports its curve as ``describe()["curve"]``: ``[[step, val_mse],
...]`` at each evaluation on val.  :func:`converged` applies the rule the report states;
the run records it per estimator, the tables footnote the rows it fails.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["TOLERANCE", "RULE", "converged", "improvement"]

# Best val MSE over the last quarter of training must improve on the previous quarter's
# best by less than this fraction.
TOLERANCE = 0.01
RULE = ("converged: the best val MSE over the last quarter of training improves on the "
        f"previous quarter's best by less than {TOLERANCE:.0%}")


def improvement(curve: Sequence[Sequence[float]]) -> float | None:
    """Relative improvement of the last quarter's best val MSE over the previous quarter's.

    Parameters
    ----------
    curve : sequence of (step, val_mse)
        Evaluations in training order; the last step is the length of training.

    Returns
    -------
    float or None
        ``(best_previous - best_last) / best_previous`` (negative when it got worse), or
        None when a quarter holds no evaluation or a value is not finite.
    """
    if not curve:
        return None
    steps = np.asarray([c[0] for c in curve], dtype=float)
    values = np.asarray([c[1] for c in curve], dtype=float)
    total = steps[-1]
    last = values[steps > 0.75 * total]
    previous = values[(steps > 0.5 * total) & (steps <= 0.75 * total)]
    if last.size == 0 or previous.size == 0 or not np.isfinite(np.r_[last, previous]).all():
        return None
    best_previous = previous.min()
    if best_previous <= 0:
        return 0.0 if last.min() >= best_previous else None
    return float((best_previous - last.min()) / best_previous)


def converged(curve: Sequence[Sequence[float]], tolerance: float = TOLERANCE) -> bool | None:
    """Whether a learning curve passes the rule (:data:`RULE`); None when it cannot tell
    (too few evaluations: fewer than one in each of the last two quarters)."""
    gain = improvement(curve)
    return None if gain is None else bool(gain < tolerance)
