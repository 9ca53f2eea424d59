"""The arithmetic under the metric objects: per-sample quantities of a batch (squared
error, confusion counts, calibration bins), their pooled values, and the bootstrap.

Per sample (estimate ``p`` in [0, 1], clean target ``y`` in {0, 1}, all cells, no crop):
mean (p - y)^2; tp, fp, fn of ``p >= threshold`` against y; per bin of p
(:data:`CALIBRATION_BINS` equal-width bins on [0, 1], the last closed) the cell count,
the sum of p and the sum of y.  All sums are additive, so accumulating batch by batch
equals the one-shot result.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

CALIBRATION_BINS = 15
BOOTSTRAP = 1000
MSE_FLOOR = 1e-10


def check_batch(estimate, clean) -> tuple[np.ndarray, np.ndarray]:
    """``estimate`` as float32 and ``clean``, both (B, H, W), or a ValueError."""
    estimate = np.asarray(estimate)
    clean = np.asarray(clean)
    if estimate.shape != clean.shape or estimate.ndim != 3:
        raise ValueError(f"estimate and clean must both be (B, H, W), got {estimate.shape} "
                         f"and {clean.shape}")
    # float32 cells, float64 accumulation: exact enough, and half the memory traffic.
    return estimate.astype(np.float32, copy=False), clean


def squared_error(estimate, clean) -> np.ndarray:
    """Per-sample mean of (p - y)^2, float64, shape (B,)."""
    p, y = check_batch(estimate, clean)
    diff = p - y
    return np.einsum("bij,bij->b", diff, diff, dtype=np.float64) / (diff[0].size or 1)


def psnr_of(mse: np.ndarray) -> np.ndarray:
    """10 log10(1 / mse) in dB (data range 1), mse floored at 1e-10 (100 dB)."""
    return 10.0 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))


def iou_of(counts: dict[str, np.ndarray]) -> np.ndarray:
    """Per-sample tp / (tp + fp + fn); NaN where the union is empty."""
    union = counts["tp"] + counts["fp"] + counts["fn"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, counts["tp"] / union, np.nan)


def confusion_counts(estimate, clean, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-sample tp, fp, fn (int64) with occupied = estimate >= threshold."""
    p, y = check_batch(estimate, clean)
    pred = p >= threshold
    truth = y >= 0.5 if y.dtype.kind == "f" else y.astype(bool)
    return {
        "tp": np.sum(pred & truth, axis=(1, 2), dtype=np.int64),
        "fp": np.sum(pred & ~truth, axis=(1, 2), dtype=np.int64),
        "fn": np.sum(~pred & truth, axis=(1, 2), dtype=np.int64),
    }


def per_sample(estimate, clean, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """MSE, PSNR, IoU and tp/fp/fn of each sample of a batch.

    Parameters
    ----------
    estimate : ndarray, shape (B, H, W)
        Estimate of the clean target in [0, 1].
    clean : ndarray, shape (B, H, W)
        Clean target, 0/1.
    threshold : float
        Occupied when ``estimate >= threshold`` for the counts and IoU.

    Returns
    -------
    dict of ndarray, each of shape (B,)
    """
    p, y = check_batch(estimate, clean)
    mse = squared_error(p, y)
    counts = confusion_counts(p, y, threshold)
    return {"mse": mse, "psnr": psnr_of(mse), "iou": iou_of(counts), **counts}


def calibration_bins(estimate, clean, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Per-sample calibration sums, shape (B, 3, bins): cell count, sum of p, sum of y."""
    p, y = check_batch(estimate, clean)
    batch = p.shape[0]
    index = np.minimum((p * bins).astype(np.intp), bins - 1)  # p = 1 joins the last bin
    index += (bins * np.arange(batch, dtype=np.intp))[:, None, None]
    flat = index.ravel()
    size = batch * bins
    out = np.empty((batch, 3, bins))
    out[:, 0] = np.bincount(flat, minlength=size).reshape(batch, bins)
    out[:, 1] = np.bincount(flat, weights=p.ravel(), minlength=size).reshape(batch, bins)
    # y is 0/1: its sum per bin is the count of occupied cells there.
    occupied = flat[np.asarray(y).ravel() >= 0.5]
    out[:, 2] = np.bincount(occupied, minlength=size).reshape(batch, bins)
    return out


def dataset_iou(tp, fp, fn) -> float:
    """sum(tp) / sum(tp + fp + fn); NaN when the union is empty."""
    union = np.sum(tp) + np.sum(fp) + np.sum(fn)
    return float(np.sum(tp) / union) if union > 0 else float("nan")


def ece(bins_sum: np.ndarray) -> float:
    """Expected calibration error from summed calibration bins, shape (3, bins):
    sum_b (n_b / n) |mean p_b - mean y_b|."""
    count, sum_p, sum_y = bins_sum
    total = count.sum()
    if total == 0:
        return float("nan")
    return float(np.sum(np.abs(sum_p - sum_y)) / total)


def bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP,
    seeds: int = 1,
) -> tuple[float, float, float]:
    """Point value and 95% percentile interval of ``statistic`` over resampled samples
    (and training seeds).

    ``statistic(index)`` takes an index array of shape (R, m) into the rows and returns
    one value per row.  For a paired comparison, make ``statistic`` the difference of two
    estimators' statistics: both then see the same resampled samples.

    With ``seeds`` > 1 the rows are a table of ``seeds`` training seeds by ``n`` test
    samples, seed-major (row ``s * n + i`` is sample ``i`` of seed ``s``), and each
    resample draws the seeds and the samples with replacement, independently, and takes
    every pair of them (a two-way bootstrap, Owen 2007): the interval then holds the
    variation between trainings as well as between test samples.  One seed draws as
    ever (the same numbers as before seeds were resampled).
    """
    point = float(statistic(np.arange(seeds * n)[None, :])[0])
    if n < 2:
        return point, float("nan"), float("nan")
    index = two_way_index(rng, n, resamples, seeds)
    # In slices of rows: a statistic of calibration bins holds 45 numbers per index.
    step = max(1, 2_000_000 // index.shape[1])
    values = np.concatenate([statistic(index[i:i + step]) for i in range(0, resamples, step)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return point, float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return point, float(lo), float(hi)


def two_way_index(rng: np.random.Generator, n: int, resamples: int, seeds: int = 1) -> np.ndarray:
    """Indices of ``resamples`` bootstrap draws, shape (R, seeds * n), into a seed-major
    table of ``seeds`` by ``n`` rows: the samples drawn with replacement and, with more
    than one seed, the seeds too (every drawn seed with every drawn sample)."""
    samples = rng.integers(0, n, size=(resamples, n))
    if seeds == 1:
        return samples
    drawn = rng.integers(0, seeds, size=(resamples, seeds))
    return (drawn[:, :, None] * n + samples[:, None, :]).reshape(resamples, seeds * n)


def two_way_interval(point: float, influence: np.ndarray,
                     confidence: float = 0.95) -> tuple[float, float, float]:
    """Point value and interval of a statistic over training seeds and test samples, from
    each (seed, sample)'s first-order share of it (``influence``, shape (seeds, n)).

    Seeds and samples are two crossed random factors: the statistic's variance is the
    seed means' variance over the seeds plus the sample means' over the samples (a
    random-effects decomposition), and each part is scaled by its own t quantile (seeds
    - 1 and samples - 1 degrees of freedom): with 3 seeds the seed part takes t = 4.3,
    as it must when trainings differ.  The interaction is counted in both parts and the
    two quantiles add, so the interval errs wide: simulated, it covers 94-97.5% where
    seeds or samples dominate or both count (``tests/test_metrics.py``), where
    Satterthwaite's pooled degrees of freedom covered only 92%.  With one seed (an
    estimator trained once, or not trained) only the samples' part is there: the
    delta-method t interval over the test samples.  It is closed-form, so it is the
    same whenever it is computed (a bootstrap's ± moved by 5-8% between draws of 1000).
    """
    from scipy import stats

    seeds, n = influence.shape
    if n < 2 or not np.isfinite(influence).all():
        return point, float("nan"), float("nan")
    level = 0.5 + confidence / 2
    by_seed = influence.mean(axis=1).var(ddof=1) / seeds if seeds > 1 else 0.0
    seed_t = stats.t.ppf(level, seeds - 1) if seeds > 1 else 0.0
    by_sample = influence.mean(axis=0).var(ddof=1) / n
    half = float(np.sqrt(seed_t ** 2 * by_seed + stats.t.ppf(level, n - 1) ** 2 * by_sample))
    return point, point - half, point + half


def ratio_influence(top: np.ndarray, bottom: np.ndarray) -> tuple[float, np.ndarray]:
    """sum(top) / sum(bottom) and each row's first-order share of it."""
    top, bottom = np.asarray(top, np.float64), np.asarray(bottom, np.float64)
    mean_bottom = bottom.mean()
    if mean_bottom == 0:
        return float("nan"), np.full(top.shape, np.nan)
    point = float(top.mean() / mean_bottom)
    return point, (top - point * bottom) / mean_bottom


def mean_stat(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic: mean of ``values`` over each row of indices."""
    values = np.asarray(values, dtype=np.float64)
    return lambda index: values[index].mean(axis=1)


def iou_stat(tp, fp, fn) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic: dataset-level IoU over each row of indices."""
    tp, union = np.asarray(tp, np.float64), np.asarray(tp, np.float64) + fp + fn

    def stat(index):
        u = union[index].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(u > 0, tp[index].sum(axis=1) / u, np.nan)

    return stat


def ece_influence(bins: np.ndarray) -> tuple[float, np.ndarray]:
    """ECE of the summed calibration bins (``bins``: (n, 3, B)) and each sample's
    first-order share of it: with each bin's sign of (sum p - sum y) held, the ECE is a
    ratio of sample means, sum_b sign_b (p_ib - y_ib) over n_i (exact at the point; the
    linearisation ignores the fold of a bin whose gap is near zero)."""
    bins = np.asarray(bins, np.float64)
    gap = bins[:, 1] - bins[:, 2]
    top = gap @ np.sign(gap.sum(axis=0))
    return ratio_influence(top, bins[:, 0].sum(axis=1))


def ece_stat(bins: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic: ECE of the summed calibration bins (bins: (n, 3, B)) over each row."""
    bins = np.asarray(bins, np.float64)

    def stat(index):
        summed = bins[index].sum(axis=1)  # (R, 3, B)
        total = summed[:, 0].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(summed[:, 1] - summed[:, 2]).sum(axis=1) / total

    return stat


THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def best_threshold(estimate_batches, clean_batches) -> tuple[float, float]:
    """The threshold in :data:`THRESHOLDS` maximising dataset IoU over the given batches.

    Ties go to the threshold closest to 0.5.  Returns (threshold, IoU).
    """
    tp = np.zeros(len(THRESHOLDS))
    union = np.zeros(len(THRESHOLDS))
    for p, y in zip(estimate_batches, clean_batches):
        truth = np.asarray(y) >= 0.5
        for i, t in enumerate(THRESHOLDS):
            pred = np.asarray(p) >= t
            tp[i] += np.sum(pred & truth)
            union[i] += np.sum(pred | truth)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, -1.0)
    order = np.lexsort((np.abs(THRESHOLDS - 0.5), -iou))
    best = int(order[0])
    return float(THRESHOLDS[best]), float(iou[best])
