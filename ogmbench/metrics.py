"""Metrics of an estimate of the clean target map, defined once.

Per sample (estimate ``p`` in [0, 1], clean target ``y`` in {0, 1}, all cells, no crop):

* ``mse``   mean of (p - y)^2.
  For a protocol-conforming estimate (in [0, 1]) of a binary target this *is* the
  Brier score, so ogmbench reports one number, under the name MSE.
* ``psnr``  10 log10(1 / mse) in dB (data range 1), with mse floored at 1e-10 (100 dB).
* ``tp``, ``fp``, ``fn``: cells with p >= threshold (0.5 unless stated) against y.
* ``iou``   tp / (tp + fp + fn); NaN when the target and the estimate are both empty.
* calibration bins: per bin of p (:data:`CALIBRATION_BINS` equal-width bins on [0, 1],
  the last closed), the cell count, the sum of p and the sum of y.

Per group of samples (one estimator at one rho), every number carries its n and a 95%
bootstrap interval over samples (percentile method, :data:`BOOTSTRAP` resamples):

* mean MSE (and PSNR, Brier);
* dataset-level IoU = sum(tp) / sum(tp + fp + fn), as BEV segmentation code reports it;
* expected calibration error, ECE = sum_b (n_b / n) |mean p_b - mean y_b|;
* paired differences against a reference estimator on the same samples.

All sums are additive, so accumulating batch by batch equals the one-shot result.

:data:`METRICS` is the one table of what each reported metric is called, which way is
better, its unit and how many digits it is shown with; every table, figure, results file
and command-line option reads it, and :func:`format_value` writes a value with its
interval the one way ogmbench shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "METRICS", "MetricInfo", "format_value",
    "CALIBRATION_BINS", "BOOTSTRAP", "per_sample", "calibration_bins", "dataset_iou", "ece",
    "bootstrap", "mean_stat", "iou_stat", "ece_stat", "best_threshold", "confusion_counts",
]

@dataclass(frozen=True)
class MetricInfo:
    """What a reported metric is: names, direction, unit and display precision.

    Attributes
    ----------
    key : str
        Column name in leaderboards and ``results.csv``.
    title : str
        Short name for table titles and axis labels.
    label : str
        One-line description, with its direction where it is not obvious.
    definition : str
        What the number is, where the title does not say it (table notes).
    higher_is_better : bool
    unit : str
        ``""`` for plain numbers.
    digits : int
        Decimals shown.
    paired : bool
        A difference against a reference estimator on the same samples.
    """

    key: str
    title: str
    label: str
    definition: str
    higher_is_better: bool
    unit: str = ""
    digits: int = 4
    paired: bool = False

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def note(self) -> str:
        """Definition and direction, for a table's note."""
        return ", ".join(filter(None, (self.definition, self.direction)))


METRICS: dict[str, MetricInfo] = {m.key: m for m in (
    MetricInfo("mse", "MSE", "mean MSE (lower is better)", "", False),
    MetricInfo("iou", "IoU", "dataset IoU at 0.5", "dataset IoU at 0.5", True),
    MetricInfo("iou_val_t", "IoU at the val threshold", "dataset IoU at the val-chosen threshold",
               "dataset IoU at the threshold chosen on val", True),
    MetricInfo("psnr", "PSNR", "mean PSNR, dB", "mean PSNR", True, unit="dB", digits=2),
    MetricInfo("ece", "ECE", "expected calibration error",
               "expected calibration error over 15 bins", False),
    MetricInfo("gain_mse", "prior gain", "MSE gain over the reference, % (paired)",
               "MSE reduction over the reference in % of its MSE", True, unit="%", digits=2,
               paired=True),
    MetricInfo("d_iou", "prior ΔIoU", "IoU difference to the reference (paired)",
               "IoU minus that of the reference", True, paired=True),
    MetricInfo("gain_info", "information gain",
               "MSE gain over the blind twin (X2 shuffled at train and test), % (paired)",
               "MSE reduction over the same estimator trained and tested with another "
               "sample's X2, in % of its MSE: what X2 itself carries", True, unit="%",
               digits=2, paired=True),
    MetricInfo("gain_oracle", "oracle ceiling",
               "MSE gain of the oracle twin (clean X2 at train and test) over the reference, "
               "% (paired)",
               "MSE reduction of the same estimator given the clean X2, over the reference, "
               "in % of its MSE: what a perfect X2 would add", True, unit="%", digits=2,
               paired=True),
    MetricInfo("gain_info_past", "information gain of the past",
               "MSE gain over the past-blind twin (another sample's past frames at train and "
               "test), % (paired)",
               "MSE reduction over the same estimator trained and tested with another "
               "sample's past frames, in % of its MSE: what the target's own past carries",
               True, unit="%", digits=2, paired=True),
    MetricInfo("gain_oracle_past", "oracle ceiling of the past",
               "MSE gain of the past-oracle twin (clean past frames at train and test) over "
               "the reference, % (paired)",
               "MSE reduction of the same estimator given the clean past frames, over the "
               "reference, in % of its MSE: what a perfect past would add", True, unit="%",
               digits=2, paired=True),
)}


def format_value(value, lo=None, hi=None, digits: int = 4) -> str:
    """``"0.0123 ± 0.0004"``: a value and the larger side of its interval.

    Percentile intervals need not be symmetric, so the larger distance from the value to
    a bound is shown.  A non-finite value is ``""``; a missing or non-finite bound drops
    the interval.
    """
    if value is None or not np.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        text += f" ± {max(hi - value, value - lo):.{digits}f}"
    return text


CALIBRATION_BINS = 15
BOOTSTRAP = 1000
_MSE_FLOOR = 1e-10


def _check(estimate: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    estimate = np.asarray(estimate)
    clean = np.asarray(clean)
    if estimate.shape != clean.shape or estimate.ndim != 3:
        raise ValueError(f"estimate and clean must both be (B, H, W), got {estimate.shape} "
                         f"and {clean.shape}")
    # float32 cells, float64 accumulation: exact enough, and half the memory traffic.
    return estimate.astype(np.float32, copy=False), clean


def confusion_counts(estimate, clean, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Per-sample tp, fp, fn (int64) with occupied = estimate >= threshold."""
    p, y = _check(estimate, clean)
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
    p, y = _check(estimate, clean)
    diff = p - y
    mse = np.einsum("bij,bij->b", diff, diff, dtype=np.float64) / (diff[0].size or 1)
    counts = confusion_counts(p, y, threshold)
    union = counts["tp"] + counts["fp"] + counts["fn"]
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, counts["tp"] / union, np.nan)
    return {
        "mse": mse,
        "psnr": 10.0 * np.log10(1.0 / np.maximum(mse, _MSE_FLOOR)),
        "iou": iou,
        **counts,
    }


def calibration_bins(estimate, clean, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Per-sample calibration sums, shape (B, 3, bins): cell count, sum of p, sum of y."""
    p, y = _check(estimate, clean)
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
    """Expected calibration error from summed calibration bins, shape (3, bins)."""
    count, sum_p, sum_y = bins_sum
    total = count.sum()
    if total == 0:
        return float("nan")
    return float(np.sum(np.abs(sum_p - sum_y)) / total)


def _resamples(n: int, rng: np.random.Generator, resamples: int) -> np.ndarray:
    return rng.integers(0, n, size=(resamples, n))


def bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP,
) -> tuple[float, float, float]:
    """Point value and 95% percentile interval of ``statistic`` over resampled samples.

    ``statistic(index)`` takes an index array of shape (R, n) and returns one value per
    row.  For a paired comparison, make ``statistic`` the difference of two estimators'
    statistics: both then see the same resampled samples.
    """
    point = float(statistic(np.arange(n)[None, :])[0])
    if n < 2:
        return point, float("nan"), float("nan")
    values = statistic(_resamples(n, rng, resamples))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return point, float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return point, float(lo), float(hi)


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
