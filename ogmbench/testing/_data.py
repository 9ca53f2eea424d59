"""Small data to check estimators on, drawn without a store."""

from __future__ import annotations

import numpy as np

from ..api import FitData, Split
from ..seeding import seed_rng
from ..truth import TrueModel
from ..generators import DEFAULT_FAMILY, FAMILIES, NOISE_MODELS, apply_noise, warps_to_last

__all__ = ["tiny_data"]

# The default family's smooth fields with a short length scale: structure at 24 cells.
_PARAMS = {"length_scale": 2.0}
# Sequences: the fields drift one cell a frame along x (drift_x * dt), and decorrelate
# slowly.
_MOTION = {"dt": 0.5, "drift_x": 2.0, "tau": 20.0}


def tiny_data(classes: int = 2, n: int = 12, size: int = 24, seed: int = 0,
              frames: int = 1, white: bool = False) -> FitData:
    """A small train/val pair from the default family (smooth random fields) with
    Gaussian noise (no store).

    Parameters
    ----------
    classes : int
        Classes per stack (1: no prior class).
    n : int
        Train samples; val has ``max(2, n // 3)``.
    size : int
        Map side in cells.
    seed : int
        Seed of the maps and the noise.
    frames : int
        Frames per sample.  Above 1, sequences (what an estimator that reads the past is
        given): the fields drift one cell a frame along x, which their warps describe
        as the ego moving the other way (so past frames align only once warped).
    white : bool
        White fields (``length_scale`` 0), whose true model (``FitData.model``) a
        reference that knows it (``knows_model``) can read.

    Returns
    -------
    FitData
    """
    family = FAMILIES[DEFAULT_FAMILY]
    drawn = max(classes, 2)
    params = family.resolve({"length_scale": 0.0} if white else _PARAMS, drawn)
    rng = seed_rng(seed)
    steps = [("gaussian", NOISE_MODELS["gaussian"].resolve({"sigma": "0.4"}, classes))]
    # Poses in metres at one metre per cell.
    poses = np.stack([np.full(frames, size / 2.0), size / 2.0 - np.arange(frames),
                      np.zeros(frames)], axis=1)
    splits = []
    for count in (n, max(2, n // 3)):
        if frames == 1:
            clean = np.stack([family.func(rng, 0.8, size, classes=drawn, **params)[:classes]
                              for _ in range(count)])
            noisy = np.stack([apply_noise(rng, c, steps) for c in clean])
            splits.append(Split(noisy, clean, np.full(count, 0.8)))
            continue
        motion = family.resolve_motion(_MOTION)
        del motion["noise_memory"]  # the noise's, not the family's
        clean = np.stack([family.sequence(rng, 0.8, size, frames=frames, classes=drawn,
                                          **params, **motion)[0][:, :classes]
                          for _ in range(count)])
        noisy = np.stack([[apply_noise(rng, frame, steps) for frame in c] for c in clean])
        warps = np.broadcast_to(warps_to_last(poses, (size, size), 1.0), (count, frames, 2, 3))
        splits.append(Split(noisy, clean, np.full(count, 0.8), warps=warps))
    model = (TrueModel.of(DEFAULT_FAMILY, family.resolve(params, classes), steps, classes,
                          rho_values=(0.8,))
             if white and frames == 1 else None)
    return FitData(*splits, model=model)
