"""What several noise models share: correlated unit noise and the [0, 1] bounds."""

from __future__ import annotations

import numpy as np

__all__ = ["P01", "shared_normal", "of_classes"]

# The bounds of a probability, for parameter declarations.
P01 = dict(lo=0.0, hi=1.0)


def shared_normal(rng, shape, kappa, class_axis=0):
    """Standard normal fields sharing a component across ``class_axis``: corr = kappa."""
    independent = rng.standard_normal(shape, dtype=np.float32)
    if kappa == 0:
        return independent
    common_shape = list(shape)
    common_shape[class_axis] = 1
    common = rng.standard_normal(common_shape, dtype=np.float32)
    return np.sqrt(kappa) * common + np.sqrt(1.0 - kappa) * independent


def of_classes(value, classes) -> np.ndarray:
    """A scalar or per-class parameter's values for the class indices ``classes``."""
    arr = np.asarray(value, dtype=np.float64)
    return np.full(len(classes), float(arr)) if arr.ndim == 0 else arr[list(classes)]
