"""MSE: the mean over samples of each sample's mean squared error.

For a protocol-conforming estimate (in [0, 1]) of a binary target this *is* the Brier
score, so ogmbench reports one number, under the name MSE.
"""

from __future__ import annotations

import numpy as np

from ._base import Batch, Metric
from ._stats import mean_stat


class MSE(Metric):
    key = "mse"
    title = "MSE"
    label = "mean MSE (lower is better)"
    higher_is_better = False
    log_scale = True  # errors span orders of magnitude (identity against the U-Nets)
    headline = True
    columns = ("mse",)

    def update(self, batch: Batch):
        return {"mse": batch.mse}

    def value(self, rows) -> float:
        return rows["mse"].mean()

    def statistic(self, rows):
        return mean_stat(rows["mse"])

    def linear(self, rows):
        values = np.asarray(rows["mse"], dtype=np.float64)
        return float(values.mean()), values
