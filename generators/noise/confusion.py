"""The ``confusion`` noise model: occupied cells reported in another class."""

from __future__ import annotations

import numpy as np

from .._params import Model, Param, ParamError, per_class
from ._common import P01

__all__ = ["confusion", "MODEL"]


def confusion(rng, x, *, p=0.1):
    """Cross-class noise: a fraction ``p`` of a class's occupied cells is reported in another.

    A confused cell reads free (``1 - x``) in its own class and occupied (the larger
    of the two values) in a uniformly chosen other class.  All decisions are taken
    from the input, so the order of the classes does not matter.
    """
    classes = x.shape[0]
    if classes < 2:
        raise ParamError("confusion needs at least 2 classes")
    moved = (x >= 0.5) & (rng.random(x.shape) < per_class(p, classes)[:, None, None])
    # Destination k + offset (mod C), offset uniform in 1..C-1: any other class.
    offset = rng.integers(1, classes, size=x.shape)
    out = np.where(moved, 1.0 - x, x)
    for k in range(classes):
        dest = (k + offset[k]) % classes
        for j in range(classes):
            if j != k:
                cells = moved[k] & (dest == j)
                out[j][cells] = np.maximum(out[j][cells], x[k][cells])
    return out.astype(np.float32)


MODEL = Model(
    "confusion", confusion,
    doc="cross-class noise: occupied cells reported in another class",
    params=(Param(name="p", default=0.1, **P01, per_class=True,
                  doc="fraction of occupied cells confused"),),
)
