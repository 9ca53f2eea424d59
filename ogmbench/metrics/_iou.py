"""IoU at 0.5: dataset-level, sum(tp) / sum(tp + fp + fn) over the samples, as BEV
segmentation code reports it (cells with p >= 0.5 are occupied).  Each sample's own IoU
(NaN when the target and the estimate are both empty) is stored beside its counts."""

from __future__ import annotations

import numpy as np

from ._base import Batch, Metric
from ._stats import dataset_iou, iou_of, iou_stat, ratio_influence


class IoU(Metric):
    key = "iou"
    title = "IoU"
    label = "dataset IoU at 0.5"
    definition = "dataset IoU at 0.5"
    higher_is_better = True
    axis = "IoU at 0.5"
    headline = True
    columns = ("iou", "tp", "fp", "fn")
    needs = ("tp", "fp", "fn")

    def update(self, batch: Batch):
        counts = batch.counts(0.5)
        return {"iou": iou_of(counts), **counts}

    def value(self, rows) -> float:
        return dataset_iou(*(rows[c] for c in self.needs))

    def statistic(self, rows):
        return iou_stat(*(np.asarray(rows[c]) for c in self.needs))

    def linear(self, rows):
        tp, fp, fn = (np.asarray(rows[c], dtype=np.float64) for c in self.needs)
        return ratio_influence(tp, tp + fp + fn)
