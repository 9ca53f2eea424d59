"""The ``flip`` noise model: per-cell false positives and false negatives."""

from __future__ import annotations

import math

import numpy as np

from .._params import Model, Param, per_class
from ._common import P01, of_classes

__all__ = ["flip", "flip_loglik", "MODEL"]


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


def flip_loglik(noisy, states, classes, *, fp=0.05, fn=0.1):
    """Log-likelihood of flipped maps of ``classes`` for each occupancy state, per cell.

    A cell of class k reads its state with probability ``1 - fn_k`` (occupied) or
    ``1 - fp_k`` (empty), the other value otherwise, independently of every other cell
    and class (see :func:`~ogmbench.generators.noise.gaussian.gaussian_loglik` for the
    shapes).  A noisy value that is neither 0 nor 1 is impossible under this model.
    """
    fp = of_classes(fp, classes)
    fn = of_classes(fn, classes)
    y = np.asarray(noisy) >= 0.5
    out = np.zeros((len(states), y.shape[0], *y.shape[2:]))
    for i, state in enumerate(np.asarray(states)):
        for k, occupied in enumerate(state):
            wrong = fn[k] if occupied else fp[k]
            out[i] += np.where(y[:, k] == bool(occupied), _log(1.0 - wrong), _log(wrong))
    return out


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


MODEL = Model(
    "flip", flip,
    doc="per-cell false positives and false negatives",
    params=(
        Param(name="fp", default=0.05, **P01, per_class=True, doc="P(empty cell reads occupied)"),
        Param(name="fn", default=0.1, **P01, per_class=True, doc="P(occupied cell reads empty)"),
    ),
    cell_loglik=flip_loglik,
)
