"""The convergence rule of learning curves (issue 11)."""

import pytest

from ogmbench.curves import converged, improvement


def curve(values, every=100):
    return [[every * (i + 1), v] for i, v in enumerate(values)]


def test_a_flat_last_quarter_converged_and_a_falling_one_did_not():
    # Eight evaluations: previous quarter = steps 500, 600; last = 700, 800.
    assert converged(curve([9, 5, 3, 2, 1.000, 1.000, 0.995, 0.996]))      # 0.5% better
    assert not converged(curve([9, 5, 3, 2, 1.000, 1.000, 0.98, 0.97]))    # 3% better
    assert improvement(curve([9, 5, 3, 2, 1.0, 1.0, 0.98, 0.97])) == pytest.approx(0.03)


def test_getting_worse_counts_as_converged_and_the_best_of_each_quarter_is_compared():
    assert improvement(curve([4, 3, 2, 1, 1.0, 0.5, 0.6, 0.7])) == pytest.approx(-0.2)
    assert converged(curve([4, 3, 2, 1, 1.0, 0.5, 0.6, 0.7]))


def test_too_few_evaluations_or_a_non_finite_value_cannot_be_judged():
    assert converged([]) is None
    assert converged(curve([1.0])) is None                   # nothing in the previous quarter
    assert converged(curve([3, 2, 1, float("nan")])) is None
    assert converged([[5, 1.0], [10, 0.9]]) is None          # 5 is not above half of 10


def test_the_tolerance_is_a_parameter():
    values = curve([9, 5, 3, 2, 1.0, 1.0, 0.98, 0.97])
    assert converged(values, tolerance=0.05) and not converged(values, tolerance=0.01)
