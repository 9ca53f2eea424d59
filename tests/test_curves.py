"""The convergence rule of learning curves (issue 11), and the plateau schedule that
trains by it."""

import numpy as np
import pytest

from ogmbench.api import FitData, Split
from ogmbench.curves import (CONFIDENCE, MIN_EVALUATIONS, RULE, TOLERANCE, all_converged,
                             converged, judge)


def curve(values, lrs=None, every=100):
    lrs = lrs or [1e-3] * len(values)
    return [[every * (i + 1), v, lr] for i, (v, lr) in enumerate(zip(values, lrs))]


def plateau(values_per_rate, rates=(2e-3, 4e-4, 8e-5), every=100):
    """A curve trained at each rate in turn (the U-Nets' plateau schedule)."""
    values = [v for vs in values_per_rate for v in vs]
    lrs = [r for vs, r in zip(values_per_rate, rates) for _ in vs]
    return curve(values, lrs, every)


FLAT_END = plateau([[0.09, 0.06, 0.05, 0.045, 0.044], [0.040, 0.0398, 0.0399, 0.0397, 0.0398],
                    [0.0396, 0.0397, 0.0396, 0.0396, 0.0397, 0.0396]])

# Each of these was called converged by the rule before (issue 28).
FOOLING = {
    "diverging": curve([0.05, 0.10, 0.20, 0.40, 0.80, 1.60]),
    "diverging, then flat far above its start": curve([0.05, 0.1, 0.2, 0.4, 0.8] + [1.6] * 6),
    "diverging, without rates": [[100 * i, v] for i, v in enumerate([0.05, 0.1, 0.2, 0.4], 1)],
    "one lucky low value, then still falling 30% per evaluation": curve(
        [1.0, 0.1] + [0.7 * 0.7 ** i for i in range(8)]),
    "a steady 0.3% fall per evaluation over 300 evaluations": curve(
        list(0.997 ** np.arange(300))),
    "a plugin evaluating every step, 26% lower per 100 steps": curve(
        list(np.exp(-0.003 * np.arange(1, 1001))), every=1),
    "annealed without reporting its rate": [[100 * i, v] for i, v in enumerate(
        [3, 2, 1.5, 1.2, 1.1, 1.05, 1.04, 1.04, 1.04, 1.04], 1)],
    "a rate annealed to exactly 0": curve([3, 2, 1.5, 1.2, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1],
                                          [1e-3] * 4 + [0.0] * 6),
    "a rate annealed to a millionth": curve([3, 2, 1.5, 1.2, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1],
                                            [1e-3] * 4 + [1e-9] * 6),
    "a noisy curve of 4 evaluations": curve([0.05, 0.04, 0.06, 0.045]),
    "a noisy end, flat on average": curve(
        [0.3, 0.2] + list(0.1 * (1 + 0.2 * np.random.default_rng(3).standard_normal(6)))),
    # The published unet of the sealed default leaderboard: stopped after 3 evaluations
    # at its last rate, because none beat its best (early stopping, not a plateau shown).
    "published unet (3 evaluations at its last rate)": [
        [1000, 0.03868, 2e-3], [1100, 0.03681, 4e-4], [1200, 0.03702, 4e-4],
        [1300, 0.03707, 4e-4], [1400, 0.03705, 4e-4], [1500, 0.0373, 8e-5],
        [1600, 0.03733, 8e-5], [1700, 0.0374, 8e-5]],
}


@pytest.mark.parametrize("name", sorted(FOOLING))
def test_a_curve_built_to_fool_the_rule_is_not_converged(name):
    verdict = judge(FOOLING[name])
    assert verdict.converged is not True, verdict
    assert verdict.reason


def test_a_flat_end_at_a_working_rate_is_converged():
    verdict = judge(FLAT_END)
    assert verdict.converged is True and verdict.improvement < TOLERANCE, verdict
    assert RULE.startswith("converged")


def test_the_trend_is_judged_per_step_not_per_evaluation():
    # The same fall per step of training, evaluated every 100 steps or every step.
    sparse = curve(list(np.exp(-0.0001 * np.arange(100, 4001, 100))))
    dense = curve(list(np.exp(-0.0001 * np.arange(1, 4001))), every=1)
    assert judge(sparse).improvement == pytest.approx(judge(dense).improvement, rel=0.05)
    # The line over the window (steps 2000-4000), carried on 2000 steps more.
    assert judge(sparse).improvement == pytest.approx(0.2 * np.exp(0.1), rel=0.05)


def test_the_bound_is_one_sided_at_the_stated_confidence():
    """Simulation: flat curves with noise pass, and a fall exactly at the tolerance over
    the window's length passes in about 1 - CONFIDENCE of the draws (no more)."""
    rng = np.random.default_rng(0)
    steps, draws = 8, 1000
    rates = (2e-3, 1e-3)
    passed_flat = passed_edge = 0
    for _ in range(draws):
        noise = 0.002 * rng.standard_normal(steps)
        # The tolerance's fall over the window's length, ending at 1: at the edge.
        edge = 1.0 + TOLERANCE * (1 - np.arange(steps) / (steps - 1)) + noise
        passed_flat += converged(plateau([[3.0] * steps, list(1.0 + noise)], rates)) is True
        passed_edge += converged(plateau([[3.0] * steps, list(edge)], rates)) is True
    assert passed_flat > 0.9 * draws
    assert passed_edge / draws == pytest.approx(1 - CONFIDENCE, abs=0.02)


def test_only_the_final_rate_in_the_later_half_counts():
    # A steep fall at the first rate, then flat at the last: the fall is not held against it.
    assert converged(plateau([[9, 5, 3, 2, 1.5, 1.2], [1.0] * 6], rates=(1e-3, 2e-4)))
    # After a step down, the rule waits for MIN_EVALUATIONS at the new rate.
    short = plateau([[9, 5, 3, 2, 2, 2], [1.99] * (MIN_EVALUATIONS - 1)], rates=(1e-3, 2e-4))
    assert converged(short) is None
    # Evaluations before the later half do not count, at whichever rate.
    assert judge(curve([1.0] * 7)).converged is None  # 4 of its 7 in the later half


def test_too_few_evaluations_or_a_non_finite_value_cannot_be_judged():
    assert converged([]) is None
    assert converged(curve([3.0, 2.0, 1.0])) is None
    assert converged(curve([3, 2, 1, 1, 1, 1, 1, 1, float("nan")])) is None
    assert converged(curve([3, float("nan"), 1, 1, 1, 1, 1, 1, 1, 1])) is True  # before: passed over


def test_rates_equal_up_to_rounding_are_one_rate():
    rate = 2e-3 * 0.2
    assert converged(curve([3, 2, 1, 1, 1, 1, 1, 1, 1, 1],
                           [2e-3] * 3 + [rate, rate * (1 + 1e-12)] * 3 + [rate]))


def test_the_tolerance_is_a_parameter():
    falling = curve([3, 2] + list(1.0 - 0.003 * np.arange(8)))
    assert converged(falling, tolerance=0.05) and not converged(falling, tolerance=0.01)


def test_the_verdict_over_training_seeds_needs_every_seed():
    good, bad = FLAT_END, FOOLING["a steady 0.3% fall per evaluation over 300 evaluations"]
    assert all_converged([good, good]) is True
    assert all_converged([good, bad]) is False
    assert all_converged([good, None]) is None and all_converged([]) is None
    assert all_converged([good, [["not", "a", "curve"]]]) is None


def _data(n, size=16, seed=0):
    rng = np.random.default_rng(seed)
    clean = (rng.random((n, 2, size, size)) < 0.3).astype(np.uint8)
    noisy = (clean + rng.normal(0, 0.5, clean.shape)).astype(np.float32)
    return Split(noisy, clean)


def test_the_plateau_schedule_lowers_the_rate_twice_and_stops_when_the_rule_settles():
    from ogmbench.baselines.nets import Concat

    est = Concat(profile="quick", schedule="plateau", steps=3000, val_every=10)
    est.fit(FitData(_data(32), _data(8, seed=1)), target=0, seed=0)
    facts = est.describe()
    rates = [c[2] for c in facts["curve"]]
    assert sorted(set(rates), reverse=True) == pytest.approx([3e-3, 6e-4, 1.2e-4])
    assert rates == sorted(rates, reverse=True)               # only ever lowered
    assert facts["trained_steps"] < 3000                      # stopped by the rule
    assert judge(facts["curve"]).settled and converged(facts["curve"]) is not None
    # Each rate ran until the rule found it settled, and not one evaluation more.
    curve_ = facts["curve"]
    for end in range(1, len(curve_)):
        held = judge(curve_[:end]).settled
        assert held == (curve_[end][2] < curve_[end - 1][2]), end
    # The kept model is the best evaluation's.
    assert facts["best_val_mse"] == min(c[1] for c in facts["curve"])


def test_a_curve_past_its_best_converged_and_one_that_never_learned_did_not():
    # Learned (3 -> 1.0), then overfitted and settled 8% above its best at the last rate
    # (as the default unet did, measured): more training does not help, the best
    # checkpoint is kept.
    overfit = plateau([[3, 2, 1.5, 1.2, 1.1, 1.0], [1.02, 1.05, 1.07, 1.08, 1.08],
                       [1.08, 1.081, 1.079, 1.08, 1.08]])
    verdict = judge(overfit)
    assert verdict.settled and verdict.converged is True and "past its best" in verdict.reason
    # Worse from its first evaluation on, and settled there: it diverged.
    never = curve([1.0, 1.3, 1.6, 1.9, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    verdict = judge(never)
    assert verdict.converged is False and "never learned" in verdict.reason
    assert not judge(FOOLING["a steady 0.3% fall per evaluation over 300 evaluations"]).settled


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

    flat = FLAT_END
    annealed = [[100 * i, 1.0, 1e-3 / i] for i in range(1, 6)]
    # Stored by the old last-quarter rule: "converged" for an annealed curve.
    old = {"stochastic": True, "converged": True, "train_seeds": [{"describe": {"curve": annealed}}]}
    assert Record("unet", old).converged is None
    assert Record("unet", {**old, "train_seeds": [{"describe": {"curve": flat}}]}).converged is True
    assert Record("median", {"stochastic": False, "converged": True}).converged is None


def _scripted_training(values_by_rate, monkeypatch):
    """Train a one-weight model under the plateau schedule with a scripted val curve:
    ``values_by_rate[i](n)`` is the val MSE of the n-th evaluation at the i-th rate."""
    import torch

    from ogmbench.baselines.nets.training import curve as as_curve
    from ogmbench.baselines.nets.training import train

    model = torch.nn.Conv2d(1, 1, 1)
    opt_rates, seen = [], []

    def val_mse():
        rate = len(opt_rates) and opt_rates[-1]
        seen.append(rate)
        stage = len(set(seen)) - 1
        return values_by_rate[stage](seen.count(seen[-1]) - 1)

    def forward(batch):
        return model(batch[:, :1])

    cfg = dict(steps=4000, batch_size=2, lr=1e-3, val_every=10, weight_decay=0.0,
               augment=False, schedule="plateau")
    x, noise = torch.zeros(4, 1, 4, 4), torch.zeros(4, 1, 4, 4)
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):  # record the rate each step trains with
        opt_rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    return as_curve(train(model, forward, val_mse, cfg, x, noise,
                          torch.Generator().manual_seed(0)))


def test_the_plateau_schedule_stops_when_a_lowered_rate_settles_past_the_best(monkeypatch):
    """Learned 1.0 -> 0.5, then rose and settled 10% above it; the lowered rate settles
    there too: more lowering would only slow the overfitting, so training stops at the
    second rate, judged converged past its best."""
    learn = lambda n: max(0.5, 1.0 - 0.1 * n) if n < 6 else 0.55  # noqa: E731
    flat = lambda n: 0.55  # noqa: E731
    curve_ = _scripted_training([learn, flat, flat], monkeypatch)
    rates = sorted({c[2] for c in curve_}, reverse=True)
    assert len(rates) == 2                                   # the third rate never ran
    verdict = judge(curve_)
    assert verdict.converged is True and verdict.past_best


def test_the_plateau_schedule_goes_on_when_a_lowered_rate_comes_back_to_the_best(monkeypatch):
    """The same start, but the lowered rate settles within 5% of the best: no early stop,
    the schedule lowers once more and stops when the last rate settles."""
    learn = lambda n: max(0.5, 1.0 - 0.1 * n) if n < 6 else 0.55  # noqa: E731
    near = lambda n: 0.51  # noqa: E731
    curve_ = _scripted_training([learn, near, near], monkeypatch)
    assert len({c[2] for c in curve_}) == 3
    assert judge(curve_).converged is True and not judge(curve_).past_best
