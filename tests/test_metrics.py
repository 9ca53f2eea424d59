"""Metrics against independent references: torchmetrics, direct numpy, hand-made cases."""

import numpy as np
import pytest

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
