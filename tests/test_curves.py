"""The convergence rule of learning curves (issue 11), and the plateau schedule that
trains by it."""

import numpy as np
import pytest

from ogmbench.api import FitData, Split
from ogmbench.curves import WINDOW, all_converged, converged, improvement


def curve(values, lrs=None, every=100):
    lrs = lrs or [1e-3] * len(values)
    return [[every * (i + 1), v, lr] for i, (v, lr) in enumerate(zip(values, lrs))]


def test_a_flat_end_at_one_rate_converged_and_a_falling_one_did_not():
    assert WINDOW == 3
    assert converged(curve([9, 5, 3, 2, 1.000, 0.995, 0.996, 0.999]))       # 0.5% better
    assert not converged(curve([9, 5, 3, 2, 1.000, 0.99, 0.98, 0.97]))     # 3% better
    assert improvement(curve([9, 5, 3, 2, 1.0, 0.99, 0.98, 0.97])) == pytest.approx(0.03)


def test_getting_worse_counts_as_converged_and_the_best_values_are_compared():
    assert improvement(curve([4, 3, 0.5, 1.0, 0.6, 0.7])) == pytest.approx(-0.2)
    assert converged(curve([4, 3, 0.5, 1.0, 0.6, 0.7]))


def test_an_annealed_end_cannot_be_judged_however_flat():
    # A cosine schedule: the rate changes at every evaluation, and its flat end says
    # nothing (measured: 800 cosine steps looked flat, 1600 were 4% better).
    lrs = [1e-3 * 0.5 * (1 + np.cos(np.pi * i / 8)) for i in range(1, 9)]
    assert converged(curve([9, 5, 3, 2, 1.0, 1.0, 1.0, 1.0], lrs)) is None
    # After a step down, the rule waits for WINDOW evaluations at the new rate.
    steps = [2e-3] * 5 + [4e-4] * 2
    assert converged(curve([9, 5, 3, 2, 2, 1.99, 1.99], steps)) is None
    assert converged(curve([9, 5, 3, 2, 2, 1.99, 1.99, 1.99], steps + [4e-4]))


def test_too_few_evaluations_or_a_non_finite_value_cannot_be_judged():
    assert converged([]) is None
    assert converged(curve([3.0, 2.0, 1.0])) is None          # nothing before the window
    assert converged(curve([3, 2, 1, 1, float("nan")])) is None


def test_a_curve_without_rates_is_judged_as_one_rate():
    assert converged([[100 * i, v] for i, v in enumerate([3, 1.0, 1.0, 1.0, 1.0], 1)])
    assert not converged([[100 * i, v] for i, v in enumerate([3, 2, 1.5, 1.0, 0.5], 1)])


def test_the_tolerance_and_the_window_are_parameters():
    values = curve([9, 5, 3, 2, 1.0, 0.99, 0.98, 0.97])
    assert converged(values, tolerance=0.05) and not converged(values, tolerance=0.01)
    assert converged(curve([3, 1.0, 1.0, 0.9]), window=1) is False
    assert converged(curve([3, 1.0, 0.9, 0.9]), window=1) is True


def _data(n, size=16, seed=0):
    rng = np.random.default_rng(seed)
    clean = (rng.random((n, 2, size, size)) < 0.3).astype(np.uint8)
    noisy = (clean + rng.normal(0, 0.5, clean.shape)).astype(np.float32)
    return Split(noisy, clean)


def test_the_plateau_schedule_lowers_the_rate_twice_and_stops_when_the_rule_holds():
    from ogmbench.baselines.nets import Concat

    est = Concat(profile="quick", schedule="plateau", steps=3000, val_every=10)
    est.fit(FitData(_data(32), _data(8, seed=1)), target=0, seed=0)
    facts = est.describe()
    rates = [c[2] for c in facts["curve"]]
    assert sorted(set(rates), reverse=True) == pytest.approx([3e-3, 6e-4, 1.2e-4])
    assert rates == sorted(rates, reverse=True)               # only ever lowered
    assert facts["trained_steps"] < 3000                      # stopped by the rule
    assert converged(facts["curve"]) is True
    # Each rate ran until the rule held, and not one evaluation more.
    curve_ = facts["curve"]
    for end in range(1, len(curve_)):
        held = converged(curve_[:end]) is True
        assert held == (curve_[end][2] < curve_[end - 1][2]), end
    # The kept model is the best evaluation's.
    assert facts["best_val_mse"] == min(c[1] for c in facts["curve"])


def test_a_non_finite_value_before_the_window_is_passed_over_one_inside_is_not():
    assert converged(curve([3, float("nan"), 1.0, 1.0, 1.0, 1.0]))
    assert converged(curve([3, 2, 1.0, float("inf"), 1.0, 1.0])) is None
    assert converged(curve([float("nan"), 1.0, 1.0, 1.0])) is None   # nothing to beat


def test_rates_equal_up_to_rounding_are_one_rate():
    rate = 2e-3 * 0.2
    assert converged(curve([3, 1, 1, 1, 1], [2e-3, 2e-3, rate, rate * (1 + 1e-12), rate]))


def test_the_verdict_over_training_seeds_needs_every_seed():
    good, bad = curve([3, 1, 1, 1, 1]), curve([3, 2, 1.5, 1.0, 0.5])
    assert all_converged([good, good]) is True
    assert all_converged([good, bad]) is False
    assert all_converged([good, None]) is None and all_converged([]) is None
    assert all_converged([good, [["not", "a", "curve"]]]) is None


def test_a_checkpoint_saved_before_rates_were_recorded_is_trained_again(tmp_path):
    import torch

    from ogmbench.baselines.nets import UNet

    data = FitData(_data(16), _data(4, seed=1), cache_dir=tmp_path, cache_key="k")
    first = UNet(profile="quick").fit(data, target=0, seed=0)
    assert first.describe()["checkpoint"]["trained"]
    path = next(tmp_path.glob("*.pt"))
    assert not UNet(profile="quick").fit(data, target=0, seed=0).describe()["checkpoint"]["trained"]
    import io

    from ogmbench.baselines.nets import checkpoints

    payload = path.read_bytes()[len(checkpoints.MAGIC):].partition(b"\n")[2]
    state = torch.load(io.BytesIO(payload), weights_only=True)
    key = state.pop("key")
    state["history"] = [{k: v for k, v in h.items() if k != "lr"} for h in state["history"]]
    path.write_bytes(checkpoints.dump(state, key))  # an intact file of ours, without rates
    again = UNet(profile="quick").fit(data, target=0, seed=0).describe()
    assert again["checkpoint"]["trained"] and len(again["curve"][0]) == 3


def test_a_run_record_is_judged_by_todays_rule_not_the_verdict_it_stored():
    from ogmbench.runs import Record

    flat = [[100, 3.0, 1e-3], [200, 1.0, 1e-3], [300, 1.0, 1e-3], [400, 1.0, 1e-3],
            [500, 1.0, 1e-3]]
    annealed = [[100 * i, 1.0, 1e-3 / i] for i in range(1, 6)]
    # Stored by the old last-quarter rule: "converged" for an annealed curve.
    old = {"stochastic": True, "converged": True, "train_seeds": [{"describe": {"curve": annealed}}]}
    assert Record("unet", old).converged is None
    assert Record("unet", {**old, "train_seeds": [{"describe": {"curve": flat}}]}).converged is True
    assert Record("median", {"stochastic": False, "converged": True}).converged is None
