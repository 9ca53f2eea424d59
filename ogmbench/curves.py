"""Learning curves: the one rule that says whether a training converged.

A learned estimator reports its curve as ``describe()["curve"]``: ``[[step, val_mse,
lr], ...]`` at each evaluation on val.  :func:`converged` applies the rule the report
states; the run records it per estimator, the tables footnote the rows it fails.  The
reference U-Nets' ``plateau`` schedule trains by the same rule: they lower the rate, and
finally stop, when it holds.

What "converged" has to mean is that more training, as it was going, would not lower
the val MSE by more than :data:`TOLERANCE`.  The rule asks that of the trend of the end
of the curve, with its uncertainty, not of a comparison of single values:

* only evaluations at the final learning rate count (a schedule that anneals the rate
  flattens the end of every curve, converged or not: measured on the default benchmark,
  800 cosine steps looked flat and 1600 were 4% better, benchmarks/README.md), and the
  final rate must be a working one: at least :data:`RATE_FLOOR` of the largest (a rate
  annealed to 0 freezes any curve).  A curve must report its rate at every evaluation;
* of those, the ones in the later half of training (the window) are fitted by a
  straight line against the step, and at least :data:`MIN_EVALUATIONS` are needed (a
  few noisy values prove nothing);
* the line, carried on as long again as the window lasted, must lower the val MSE by
  less than :data:`TOLERANCE` at the one-sided :data:`CONFIDENCE` bound of its slope
  (a steady small fall per evaluation adds up; a curve evaluated every step is judged
  per step of training, not per evaluation);
* and the line's value at the end must be within :data:`DRIFT` of the best val MSE of
  the whole curve, or, if the curve first learned (its best at least twice DRIFT below
  its first evaluation), it has settled above its best: past its best, it overfits, and
  the best checkpoint is what is kept (measured on the default benchmark: unet's val MSE
  rose 7% after its best at every lower rate).  A curve that never learned much below
  its first value and ends above its best diverges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["TOLERANCE", "MIN_EVALUATIONS", "CONFIDENCE", "RATE_FLOOR", "DRIFT", "RULE",
           "Verdict", "judge", "converged", "improvement", "all_converged"]

TOLERANCE = 0.01
MIN_EVALUATIONS = 5
CONFIDENCE = 0.95
RATE_FLOOR = 0.01
DRIFT = 0.05
RULE = (f"converged: its last {MIN_EVALUATIONS} or more evaluations in the later half of "
        f"training, at its final learning rate (at least {RATE_FLOOR:.0%} of its largest), "
        f"trend to less than {TOLERANCE:.0%} lower val MSE over as many steps again "
        f"({CONFIDENCE:.0%} bound), ending within {DRIFT:.0%} of its best or, once it "
        f"learned, past its best")


@dataclass(frozen=True)
class Verdict:
    """What the rule says of one curve.

    Attributes
    ----------
    converged : bool or None
        True when the rule holds, False when it fails, None when it cannot judge (no
        rates, too few evaluations at the final rate, a non-finite value in the window).
    reason : str
        Why, in a few words (for notes and tables).
    improvement : float or None
        The upper bound of the relative fall of the val MSE the trend promises over as
        many steps again as the window (negative when it rises).
    settled : bool
        Whether that bound is under the tolerance: more training at this rate promises
        nothing, whether the curve is flat or rising.  What the plateau schedule lowers
        its rate on; a rising curve is settled but not converged (it overfits or
        diverges).
    past_best : bool
        Converged past its best: it learned, then settled more than :data:`DRIFT` above
        its best val MSE (where the plateau schedule stops once a lowered rate did not
        bring it back).
    """

    converged: bool | None
    reason: str
    improvement: float | None = None
    settled: bool = False
    past_best: bool = False


def judge(curve: Sequence[Sequence[float]], tolerance: float = TOLERANCE) -> Verdict:
    """Apply the rule (:data:`RULE`) to a learning curve.

    Parameters
    ----------
    curve : sequence of (step, val_mse, lr)
        Evaluations in training order.
    tolerance : float
        The relative fall that still counts as flat.

    Returns
    -------
    Verdict
    """
    if not len(curve) or any(len(c) < 3 for c in curve):
        return Verdict(None, "it does not report its learning rate at every evaluation")
    rows = np.asarray([list(c)[:3] for c in curve], dtype=float)
    if not np.isfinite(rows[:, 2]).all():
        return Verdict(None, "it does not report its learning rate at every evaluation")
    steps, values, rates = rows[:, 0], rows[:, 1], rows[:, 2]
    final, largest = rates[-1], rates.max()
    if not final > 0 or final < RATE_FLOOR * largest:
        return Verdict(False, f"its final learning rate {final:g} is under {RATE_FLOOR:.0%} "
                              f"of its largest ({largest:g}): annealed, not converged")
    at_final = np.isclose(rates, final, rtol=1e-9, atol=0)
    first = len(at_final) - np.argmin(at_final[::-1]) if not at_final.all() else 0
    window = np.arange(first, len(rows))
    window = window[steps[window] >= steps[-1] / 2]
    if len(window) < MIN_EVALUATIONS:
        return Verdict(None, f"{len(window)} evaluations at its final rate in the later half "
                             f"of training; the rule needs {MIN_EVALUATIONS}")
    if not np.isfinite(values[window]).all():
        return Verdict(None, "a val MSE in its last evaluations is not finite")
    finite = values[np.isfinite(values)]
    return _trend(steps[window], values[window], (float(finite[0]), float(finite.min())),
                  tolerance)


def _trend(steps: np.ndarray, values: np.ndarray, marks: tuple[float, float],
           tolerance: float) -> Verdict:
    """The verdict from the line fitted to the window's values against their steps
    (``marks``: the curve's first and best val MSE)."""
    from scipy import stats

    # Least squares by hand: scipy's linregress reports no standard error for a flat line.
    dx = steps - steps.mean()
    slope = float(dx @ (values - values.mean()) / (dx @ dx))
    residuals = values - values.mean() - slope * dx
    stderr = float(np.sqrt(residuals @ residuals / (len(steps) - 2) / (dx @ dx)))
    end = values.mean() + slope * dx[-1]
    if not end > 0:
        return Verdict(None, "its fitted val MSE at the end is not positive")
    quantile = stats.t.ppf(CONFIDENCE, len(steps) - 2)
    fall = -(slope - quantile * stderr) * (steps[-1] - steps[0]) / end
    settled = bool(fall < tolerance)
    first, best = marks
    if settled and end > (1 + DRIFT) * best:
        if best <= (1 - 2 * DRIFT) * first:  # it learned, then overfitted: past its best
            return Verdict(True, f"past its best: it learned, then settled {end / best - 1:.0%} "
                                 "above its best val MSE (the best checkpoint is kept)", fall,
                           settled, past_best=True)
        return Verdict(False, f"it ends {end / best - 1:.0%} above its best val MSE and never "
                              "learned much below its first", fall, settled)
    if not settled:
        return Verdict(False, f"its val MSE may still fall {fall:.1%} over as many steps "
                              "again", fall)
    return Verdict(True, f"flat: at most {max(fall, 0.0):.1%} lower over as many steps again",
                   fall, settled)


def improvement(curve: Sequence[Sequence[float]]) -> float | None:
    """The upper bound of the relative fall of the val MSE that the end of ``curve``
    promises over as many steps again (see :func:`judge`); None when it cannot say."""
    return judge(curve).improvement


def converged(curve: Sequence[Sequence[float]], tolerance: float = TOLERANCE) -> bool | None:
    """Whether a learning curve passes the rule (:data:`RULE`).

    Returns
    -------
    bool or None
        None when the rule cannot judge it (see :class:`Verdict`).
    """
    return judge(curve, tolerance).converged


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
    if not verdicts or None in verdicts:
        return None if False not in verdicts else False
    return all(verdicts)
