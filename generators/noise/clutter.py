"""The ``clutter`` noise model: spatially correlated false-occupancy blobs and dropouts."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .._fields import smooth_unit_variance
from .._params import Model, Param, per_class
from ._common import P01, shared_normal

__all__ = ["clutter", "MODEL"]


def clutter(rng, x, *, rate=0.02, dropout=0.02, size=3.0, kappa=0.0):
    """Spatially correlated false-occupancy blobs and dropouts.

    Two smooth random fields (Gaussian kernel of ``size`` cells) are thresholded so
    that a fraction ``rate`` of cells becomes a false-occupancy blob (set to 1) and a
    fraction ``dropout`` drops out (set to 0); blobs win where both fall.  ``kappa``
    correlates the fields of different classes.
    """
    classes = x.shape[0]
    fields = smooth_unit_variance(shared_normal(rng, (2, *x.shape), kappa, class_axis=1), size)
    blob_t = ndtri(1.0 - per_class(rate, classes))[:, None, None]
    drop_t = ndtri(1.0 - per_class(dropout, classes))[:, None, None]
    out = np.where(fields[1] > drop_t, 0.0, x)
    return np.where(fields[0] > blob_t, 1.0, out).astype(np.float32)


MODEL = Model(
    "clutter", clutter,
    doc="spatially correlated false-occupancy blobs and dropouts",
    params=(
        Param(name="rate", default=0.02, **P01, per_class=True,
              doc="fraction of cells in false-occupancy blobs"),
        Param(name="dropout", default=0.02, **P01, per_class=True,
              doc="fraction of cells dropped to 0"),
        Param(name="size", default=3.0, lo=0.0, doc="blob length scale in cells"),
        Param(name="kappa", default=0.0, **P01, doc="blob correlation between classes"),
    ),
)
