"""IoU at the val threshold: dataset-level IoU with the occupancy threshold each
estimator chose on val (the one maximising its val IoU), stored per sample with the
counts at it."""

from __future__ import annotations

import numpy as np

from ._base import Batch
from ._iou import IoU


class IoUValT(IoU):
    key = "iou_val_t"
    title = "IoU at the val threshold"
    label = "dataset IoU at the val-chosen threshold"
    definition = "dataset IoU at the threshold chosen on val"
    axis = "IoU at the val threshold"
    headline = False
    columns = ("threshold", "tp_t", "fp_t", "fn_t")
    needs = ("tp_t", "fp_t", "fn_t")

    def update(self, batch: Batch):
        counts = batch.counts(batch.threshold)
        return {"threshold": np.full(len(batch), batch.threshold, dtype=np.float64),
                **{f"{k}_t": v for k, v in counts.items()}}
