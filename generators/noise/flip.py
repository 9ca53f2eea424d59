"""The ``flip`` noise model: per-cell false positives and false negatives."""

from __future__ import annotations

import numpy as np

from .._params import Model, Param, per_class
from ._common import P01

__all__ = ["flip", "MODEL"]


def flip(rng, x, *, fp=0.05, fn=0.1):
    """Per-cell false positives (empty -> occupied) and false negatives (occupied -> empty).

    A flipped cell takes ``1 - x``, which for binary input swaps 0 and 1.
    """
    classes = x.shape[0]
    occupied = x >= 0.5
    u = rng.random(x.shape)
    rate = np.where(occupied, per_class(fn, classes)[:, None, None],
                    per_class(fp, classes)[:, None, None])
    return np.where(u < rate, 1.0 - x, x).astype(np.float32)


MODEL = Model(
    "flip", flip,
    doc="per-cell false positives and false negatives",
    params=(
        Param(name="fp", default=0.05, **P01, per_class=True, doc="P(empty cell reads occupied)"),
        Param(name="fn", default=0.1, **P01, per_class=True, doc="P(occupied cell reads empty)"),
    ),
)
