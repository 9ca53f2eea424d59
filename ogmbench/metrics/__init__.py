"""Metrics of an estimate of the clean target map, each one object.

A metric (:class:`Metric`) owns its name, direction, unit, digits and labels, the
per-sample columns it computes from a batch (``update``) and its aggregation over a
group of samples (``value``, and ``linear``, its linearisation, from which its interval
is computed in closed form).
A paired metric (:class:`Paired`: :class:`Gain`, :class:`Difference`,
:class:`TwinGain`) names its base metric and what it compares against what.

:data:`METRICS` is the registry: every table, figure, results file, command-line option
and the scoring of a run loop over it, and :func:`format_value` writes a value with its
interval the one way ogmbench shows it.  Per group of samples (one estimator at one
rho), every number carries its n and a closed-form 95% interval over its test samples,
and its training seeds when there are several (:func:`two_way_interval`): redrawn, it is
the same.  A metric that cannot be linearised falls back on a percentile bootstrap of
:data:`BOOTSTRAP` resamples (no built-in metric does).

A new metric is one module beside these (a :class:`Metric` subclass) and one line
registering it below; ``METRICS.registered(metric)`` registers one for a ``with`` block.
"""

from __future__ import annotations

import numpy as np

from ._base import Batch, Metric, Registry, format_value
from ._ece import ECE
from ._gains import gains
from ._iou import IoU
from ._iou_val_t import IoUValT
from ._mse import MSE
from ._paired import Difference, Gain, Paired, Share, TwinGain
from ._psnr import PSNR
from ._stats import (
    BOOTSTRAP, CALIBRATION_BINS, THRESHOLDS, best_threshold, bootstrap, calibration_bins,
    confusion_counts, dataset_iou, ece, ece_influence, ece_stat, iou_stat, mean_stat, per_sample,
    ratio_influence, two_way_index, two_way_interval,
)

__all__ = [
    "METRICS", "SAMPLE_COLUMNS", "Metric", "Paired", "Gain", "Difference", "TwinGain", "Share",
    "Registry", "Batch", "format_value", "sample_columns",
    "CALIBRATION_BINS", "BOOTSTRAP", "THRESHOLDS", "per_sample", "calibration_bins",
    "dataset_iou", "ece", "bootstrap", "mean_stat", "iou_stat", "ece_stat", "ece_influence", "best_threshold",
    "confusion_counts", "two_way_interval", "two_way_index", "ratio_influence",
]

METRICS = Registry()
_mse, _iou = MSE(), IoU()
# In the order their columns were added to a run directory; shown in the order
# mse, iou, iou_val_t, psnr, ece, then the paired ones.
for _metric, _before in ((_mse, None), (PSNR(), None), (_iou, "psnr"), (IoUValT(), "psnr"),
                         (ECE(), None), *((g, None) for g in gains(_mse, _iou))):
    METRICS.register(_metric, shown_before=_before)
del _metric, _before, _mse, _iou

#: A run directory's per-sample metric columns, in its order (those of the metrics
#: registered when ogmbench is imported).
SAMPLE_COLUMNS = METRICS.columns()


def sample_columns(estimate, clean_target, threshold: float) -> dict[str, np.ndarray]:
    """Every registered metric's per-sample columns of one batch.

    Parameters
    ----------
    estimate : ndarray, shape (B, H, W)
        Estimate of the clean target in [0, 1].
    clean_target : ndarray, shape (B, H, W)
        Clean target, 0/1.
    threshold : float
        The occupancy threshold chosen on val (``iou_val_t``'s counts).

    Returns
    -------
    dict of ndarray
        {column: array with B rows} in :data:`SAMPLE_COLUMNS` order: ``mse psnr iou tp
        fp fn threshold tp_t fp_t fn_t cal_n cal_p cal_y`` (float64, counts int64; the
        calibration columns are (B, bins)).
    """
    return METRICS.sample_columns(estimate, clean_target, threshold)
