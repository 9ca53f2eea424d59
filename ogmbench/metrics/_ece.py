"""ECE: expected calibration error over 15 equal-width bins of p,
sum_b (n_b / n) |mean p_b - mean y_b|, from the bins summed over the samples (each
sample stores its cell count, sum of p and sum of y per bin)."""

from __future__ import annotations

import numpy as np

from ._base import Batch, Metric
from ._stats import calibration_bins, ece, ece_influence, ece_stat


class ECE(Metric):
    key = "ece"
    title = "ECE"
    label = "expected calibration error"
    definition = "expected calibration error over 15 bins"
    higher_is_better = False
    columns = ("cal_n", "cal_p", "cal_y")

    def update(self, batch: Batch):
        bins = calibration_bins(batch.estimate, batch.clean)
        return {column: bins[:, i] for i, column in enumerate(self.columns)}

    def _bins(self, rows) -> np.ndarray:
        """(n, 3, bins): each sample's count, sum of p and sum of y per bin."""
        return np.stack([np.stack([np.asarray(a) for a in rows[c]]) for c in self.columns],
                        axis=1)

    def value(self, rows) -> float:
        return ece(self._bins(rows).sum(axis=0))

    def statistic(self, rows):
        return ece_stat(self._bins(rows))

    def linear(self, rows):
        return ece_influence(self._bins(rows))
