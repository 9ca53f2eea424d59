"""A box filter of the target class: the worked example of docs/SUBMITTING.md."""

import numpy as np
from scipy import ndimage

from ogmbench.api import Estimator

__all__ = ["BoxFilter"]


class BoxFilter(Estimator):
    """Mean of the target over a square window (no prior)."""

    name = "box"
    uses_prior = False
    param_grid = {"size": [3, 5, 7]}
    version = "1"

    def __init__(self, size=3):
        self.size = size

    def predict(self, noisy, target):
        out = ndimage.uniform_filter(noisy[:, target], size=(1, self.size, self.size))
        return np.clip(out, 0, 1).astype(np.float32)
