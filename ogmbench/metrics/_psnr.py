"""PSNR: the mean over samples of 10 log10(1 / mse) in dB (data range 1), each sample's
mse floored at 1e-10 (100 dB)."""

from __future__ import annotations

import numpy as np

from ._base import Batch, Metric
from ._stats import mean_stat, psnr_of


class PSNR(Metric):
    key = "psnr"
    title = "PSNR"
    label = "mean PSNR, dB"
    definition = "mean PSNR"
    higher_is_better = True
    unit = "dB"
    digits = 2
    columns = ("psnr",)

    def update(self, batch: Batch):
        return {"psnr": psnr_of(batch.mse)}

    def value(self, rows) -> float:
        return rows["psnr"].mean()

    def statistic(self, rows):
        return mean_stat(rows["psnr"])

    def linear(self, rows):
        values = np.asarray(rows["psnr"], dtype=np.float64)
        return float(values.mean()), values
