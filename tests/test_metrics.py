"""Metrics against independent references: torchmetrics, direct numpy, hand-made cases."""

import numpy as np
import pytest
from scipy import stats

from ogmbench import metrics

torch = pytest.importorskip("torch")
tm = pytest.importorskip("torchmetrics.functional")


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    clean = (rng.random((6, 20, 24)) < 0.4).astype(np.uint8)
    estimate = np.clip(clean + rng.normal(0, 0.35, clean.shape), 0, 1).astype(np.float32)
    return estimate, clean


def test_hand_made_case():
    clean = np.array([[[1, 1], [0, 0]]], np.uint8)
    estimate = np.array([[[1.0, 0.4], [0.6, 0.0]]], np.float32)
    out = metrics.per_sample(estimate, clean)
    assert out["mse"][0] == pytest.approx((0 + 0.36 + 0.36 + 0) / 4)
    assert (out["tp"][0], out["fp"][0], out["fn"][0]) == (1, 1, 1)
    assert out["iou"][0] == pytest.approx(1 / 3)
    assert out["psnr"][0] == pytest.approx(10 * np.log10(1 / 0.18))
    empty = metrics.per_sample(np.zeros((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.uint8))
    assert np.isnan(empty["iou"][0]) and empty["psnr"][0] == pytest.approx(100.0)


def test_mse_psnr_iou_match_torchmetrics(batch):
    estimate, clean = batch
    out = metrics.per_sample(estimate, clean)
    for i in range(len(clean)):
        p, y = torch.from_numpy(estimate[i]), torch.from_numpy(clean[i]).long()
        assert out["mse"][i] == pytest.approx(tm.mean_squared_error(p, y.float()).item(), rel=1e-5)
        assert out["psnr"][i] == pytest.approx(
            tm.image.peak_signal_noise_ratio(p, y.float(), data_range=1.0).item(), rel=1e-4)
        assert out["iou"][i] == pytest.approx(tm.classification.binary_jaccard_index(p, y).item(),
                                              rel=1e-5)
    # Dataset-level IoU pools the counts of all samples, as torchmetrics does over a batch.
    pooled = metrics.dataset_iou(out["tp"], out["fp"], out["fn"])
    reference = tm.classification.binary_jaccard_index(torch.from_numpy(estimate),
                                                       torch.from_numpy(clean).long()).item()
    assert pooled == pytest.approx(reference, rel=1e-5)


def test_threshold_counts_match_torchmetrics(batch):
    estimate, clean = batch
    counts = metrics.confusion_counts(estimate, clean, threshold=0.3)
    ref = tm.classification.binary_stat_scores(torch.from_numpy(estimate).reshape(len(clean), -1),
                                               torch.from_numpy(clean).long().reshape(len(clean), -1),
                                               threshold=0.3, multidim_average="samplewise")
    np.testing.assert_array_equal(counts["tp"], ref[:, 0].numpy())
    np.testing.assert_array_equal(counts["fp"], ref[:, 1].numpy())
    np.testing.assert_array_equal(counts["fn"], ref[:, 3].numpy())


def test_ece_matches_torchmetrics(batch):
    # torchmetrics' binary calibration error bins p against the outcome y with 15
    # equal-width bins: the same definition (bin edges are hit with probability 0 here).
    estimate, clean = batch
    summed = metrics.calibration_bins(estimate, clean).sum(axis=0)
    reference = tm.classification.binary_calibration_error(
        torch.from_numpy(estimate).ravel(), torch.from_numpy(clean).long().ravel(), n_bins=15)
    assert metrics.ece(summed) == pytest.approx(reference.item(), rel=1e-4)
    p, y = estimate.ravel().astype(np.float64), clean.ravel()
    idx = np.minimum((p * 15).astype(int), 14)
    direct = sum(abs(p[idx == b].sum() - y[idx == b].sum()) for b in range(15)) / p.size
    assert metrics.ece(summed) == pytest.approx(direct, rel=1e-9)


def test_accumulating_batches_equals_one_shot(batch):
    estimate, clean = batch
    whole = metrics.per_sample(estimate, clean)
    parts = [metrics.per_sample(estimate[s], clean[s]) for s in (slice(0, 2), slice(2, 5), slice(5, 6))]
    for key in whole:
        np.testing.assert_allclose(np.concatenate([p[key] for p in parts]), whole[key])
    bins_whole = metrics.calibration_bins(estimate, clean).sum(axis=0)
    bins_parts = sum(metrics.calibration_bins(estimate[s], clean[s]).sum(axis=0)
                     for s in (slice(0, 3), slice(3, 6)))
    np.testing.assert_allclose(bins_parts, bins_whole)


def test_bootstrap_interval_covers_and_is_reproducible():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 1.0, 400)
    point, lo, hi = metrics.bootstrap(metrics.mean_stat(values), 400, np.random.default_rng(1))
    assert point == pytest.approx(values.mean())
    se = values.std(ddof=1) / np.sqrt(400)
    assert lo == pytest.approx(point - 1.96 * se, abs=0.3 * se)
    assert hi == pytest.approx(point + 1.96 * se, abs=0.3 * se)
    again = metrics.bootstrap(metrics.mean_stat(values), 400, np.random.default_rng(1))
    assert again == (point, lo, hi)
    single = metrics.bootstrap(metrics.mean_stat(values[:1]), 1, np.random.default_rng(1))
    assert np.isnan(single[1]) and np.isnan(single[2])


def test_iou_stat_resamples_pooled_counts():
    tp, fp, fn = np.array([5, 0]), np.array([1, 2]), np.array([0, 2])
    stat = metrics.iou_stat(tp, fp, fn)
    np.testing.assert_allclose(stat(np.array([[0, 1], [0, 0], [1, 1]])), [5 / 10, 5 / 6, 0.0])


def test_best_threshold_picks_the_iou_maximum():
    clean = np.zeros((1, 10, 10), np.uint8)
    clean[0, :5] = 1
    estimate = np.where(clean == 1, 0.32, 0.12).astype(np.float32)
    t, iou = metrics.best_threshold([estimate], [clean])
    assert 0.12 < t <= 0.32 and iou == 1.0
    # Ties go to the threshold nearest 0.5.
    t, _ = metrics.best_threshold([np.where(clean == 1, 0.9, 0.1).astype(np.float32)], [clean])
    assert t == 0.5


# -- intervals over training seeds and test samples (issue 28) --------------------------

def _crossed(rng, seeds, n, sd_seed, sd_sample, sd_noise, mean=1.0):
    """Values of ``seeds`` trainings on ``n`` test samples: a seed effect, a sample
    effect and their interaction, around ``mean``."""
    return (mean + sd_seed * rng.standard_normal((seeds, 1))
            + sd_sample * rng.standard_normal((1, n)) + sd_noise * rng.standard_normal((seeds, n)))


@pytest.mark.parametrize("sd_seed, sd_sample", [(0.3, 0.05), (0.05, 0.3), (0.15, 0.15),
                                                (0.0, 0.2), (0.1, 0.8)])
def test_the_two_way_interval_covers_the_mean_over_trainings_and_samples(sd_seed, sd_sample):
    """Simulation: the interval holds the true mean in about 95% of draws, with 3 seeds,
    whether the seeds or the samples dominate (it errs wide, never narrow)."""
    rng = np.random.default_rng(1)
    covered = 0
    draws = 1000
    for _ in range(draws):
        values = _crossed(rng, 3, 60, sd_seed, sd_sample, 0.05)
        _, lo, hi = metrics.two_way_interval(float(values.mean()), values)
        covered += lo <= 1.0 <= hi
    assert 0.93 <= covered / draws <= 0.99


def test_an_interval_over_samples_alone_misses_the_trainings():
    """What the leaderboard did before (each sample's values averaged over seeds, then
    a bootstrap over samples) covers far less than 95% when trainings differ."""
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(300):
        values = _crossed(rng, 3, 60, 0.3, 0.05, 0.05)
        averaged = values.mean(axis=0)
        _, lo, hi = metrics.bootstrap(metrics.mean_stat(averaged), 60, rng, 200)
        covered += lo <= 1.0 <= hi
    assert covered / 300 < 0.5


def test_a_ratio_is_linearised_and_covers_too():
    """Dataset IoU (sum tp / sum union) over seeds and samples: its linearised interval
    covers the ratio of the expected counts."""
    rng = np.random.default_rng(3)
    covered = 0
    draws = 600
    for _ in range(draws):
        union = rng.integers(50, 150, size=(3, 80)).astype(float)
        rate = np.clip(0.6 + 0.05 * rng.standard_normal((3, 1)), 0, 1)
        tp = rng.binomial(union.astype(int), rate).astype(float)
        point, share = metrics.ratio_influence(tp.ravel(), union.ravel())
        _, lo, hi = metrics.two_way_interval(point, share.reshape(3, 80))
        covered += lo <= 0.6 <= hi
    assert 0.92 <= covered / draws <= 0.995


def test_one_seed_draws_as_before_and_two_ways_takes_every_pair():
    rng = np.random.default_rng(4)
    assert np.array_equal(metrics.two_way_index(np.random.default_rng(5), 7, 3),
                          np.random.default_rng(5).integers(0, 7, size=(3, 7)))
    index = metrics.two_way_index(rng, 4, 2, seeds=3)
    assert index.shape == (2, 12)
    seeds, samples = np.divmod(index.reshape(2, 3, 4), 4)
    assert (seeds == seeds[:, :, :1]).all()                  # one seed per block of samples
    assert (samples == samples[:, :1, :]).all()              # the same samples for each


# -- closed-form intervals: the ± is the same whenever it is computed (issue 28) --------

def test_one_seed_interval_is_the_t_interval_of_the_mean():
    rng = np.random.default_rng(6)
    values = rng.gamma(2.0, 0.5, 120)                          # skewed, as per-sample MSE
    point, lo, hi = metrics.two_way_interval(float(values.mean()), values[None, :])
    half = stats.t.ppf(0.975, 119) * values.std(ddof=1) / np.sqrt(120)
    assert (lo, hi) == pytest.approx((point - half, point + half), rel=1e-12)
    # A bootstrap of many resamples agrees within its own Monte Carlo error.
    _, blo, bhi = metrics.bootstrap(metrics.mean_stat(values), 120, rng, 20000)
    assert (bhi - blo) / (hi - lo) == pytest.approx(1.0, abs=0.06)


def test_one_seed_interval_covers():
    rng = np.random.default_rng(7)
    covered = sum(
        lo <= 1.0 <= hi
        for lo, hi in (metrics.two_way_interval(float(v.mean()), v[None, :])[1:]
                       for v in (rng.gamma(4.0, 0.25, (1, 120))[0] for _ in range(2000))))
    assert 0.93 <= covered / 2000 <= 0.97


def _calibration_rows(rng, n, bias):
    """Per-sample calibration bins of an estimate that over-states p by ``bias``."""
    p = rng.uniform(0, 1, (n, 16, 16)).astype(np.float32)
    clean = (rng.uniform(0, 1, p.shape) < np.clip(p - bias, 0, 1)).astype(np.uint8)
    bins = metrics.calibration_bins(p, clean)
    return {c: list(bins[:, i]) for i, c in enumerate(("cal_n", "cal_p", "cal_y"))}


def test_ece_linearised_is_exact_at_the_point_and_agrees_with_a_long_bootstrap():
    ece = metrics.METRICS["ece"]
    rows = _calibration_rows(np.random.default_rng(8), 150, 0.1)
    point, lo, hi = ece.interval(rows, 150, np.random.default_rng(0))
    assert point == pytest.approx(ece.value(rows), rel=1e-12)
    _, blo, bhi = metrics.bootstrap(ece.statistic(rows), 150, np.random.default_rng(1), 20000)
    assert (bhi - blo) / (hi - lo) == pytest.approx(1.0, abs=0.06)


def test_ece_interval_covers_a_miscalibrated_estimate():
    """p uniform, the truth occupied with probability max(p - 0.1, 0): the population
    ECE, integrated bin by bin, is sum_b width_b |mean_b (p - max(p - 0.1, 0))|."""
    edges = np.linspace(0, 1, metrics.CALIBRATION_BINS + 1)
    truth = sum((b - a) * np.mean(np.minimum(p, 0.1))
                for a, b in zip(edges[:-1], edges[1:]) for p in [np.linspace(a, b, 10001)])
    assert truth == pytest.approx(0.095, abs=1e-6)
    ece, rng = metrics.METRICS["ece"], np.random.default_rng(9)
    covered = 0
    for _ in range(400):
        _, lo, hi = ece.interval(_calibration_rows(rng, 60, 0.1), 60, rng)
        covered += lo <= truth <= hi
    assert 0.92 <= covered / 400 <= 0.98


@pytest.mark.parametrize("key", [k for k in metrics.METRICS if not metrics.METRICS[k].paired])
def test_every_interval_is_the_same_whatever_the_draw(key):
    """No built-in interval is a Monte Carlo estimate: redrawn, its ± is the same."""
    rng = np.random.default_rng(10)
    estimate = rng.uniform(0, 1, (40, 16, 16)).astype(np.float32)
    clean = (rng.uniform(0, 1, estimate.shape) < 0.4).astype(np.uint8)
    batch = metrics.Batch(estimate, clean, threshold=0.5)
    metric = metrics.METRICS[key]
    rows = {c: list(v) for c, v in metric.update(batch).items()}
    assert metric.linear(rows) is not None
    first = metric.interval(rows, 40, np.random.default_rng(1))
    assert first == metric.interval(rows, 40, np.random.default_rng(2))
    assert first[1] < first[0] < first[2]
