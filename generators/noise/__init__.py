"""Noise models: corrupt clean class maps into observed occupancy probabilities.

Every model is ``model(rng, x, **params) -> noisy`` where ``x`` is the current
(C, H, W) map in occupancy-probability space (the clean map as float for the first
model of a composition) and ``noisy`` is ``float32`` of the same shape.  A spec string
names one or several models, applied left to right with ``+``::

    gaussian:sigma=0.3
    flip:fp=0.05,fn=0.1
    lidar+confusion:p=0.1
    gaussian:sigma=1.0/0.3        # one value per class, separated by '/'

Models that need a binary map (``lidar``, ``confusion``) read ``x >= 0.5`` as occupied.

Each model is one module of this package that declares itself: its function and a
``MODEL`` (:class:`~ogmbench.generators.Model`: parameters, defaults, ranges, and a
``memory_step`` if its noise can persist from frame to frame).  This face registers
them in :data:`NOISE_MODELS`, in the order ``ogmbench list`` shows them.
"""

from __future__ import annotations

import numpy as np

from .._params import Model
from . import camera, clutter, confusion, flip, gaussian, lidar

__all__ = ["NOISE_MODELS", "apply_noise", "apply_noise_sequence"]

NOISE_MODELS: dict[str, Model] = {
    module.MODEL.name: module.MODEL
    for module in (gaussian, flip, clutter, lidar, camera, confusion)
}


def apply_noise(rng, clean, steps) -> np.ndarray:
    """Apply resolved noise ``steps`` [(name, params), ...] left to right."""
    x = clean.astype(np.float32)
    for name, params in steps:
        x = NOISE_MODELS[name].func(rng, x, **params)
    return x


def apply_noise_sequence(rng, clean, steps, memory: float = 0.0) -> np.ndarray:
    """Noise ``steps`` applied to each frame of a (T, C, H, W) sequence in turn.

    Every frame's noise is drawn anew from ``rng``, so frame 0 is :func:`apply_noise` of
    frame 0.  With ``memory`` > 0 the noise of the steps whose model has a
    ``memory_step`` (``gaussian``) persists in each cell: ``n_t = memory * n_{t-1} +
    sqrt(1 - memory^2) * e_t`` with ``e_t`` the frame's fresh draw, so every frame keeps
    its marginal law and consecutive frames' noise in a cell (of the moving grid: a
    sensor's own artefact) has correlation ``memory``.
    """
    out = np.empty(clean.shape, np.float32)
    carried: dict[int, np.ndarray] = {}
    for t, frame in enumerate(clean):
        x = frame.astype(np.float32)
        for i, (name, params) in enumerate(steps):
            model = NOISE_MODELS[name]
            if memory > 0 and model.memory_step is not None:
                x, carried[i] = model.memory_step(rng, x, carried.get(i), memory, **params)
            else:
                x = model.func(rng, x, **params)
        out[t] = x
    return out
