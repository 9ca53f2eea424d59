"""The seed tree: every random draw of ogmbench descends from one master seed.

A sample is named by (split, rho, k): its split, its rho value and its index among
the samples of that split and rho.  Its layout (the clean map) and its noise draw
from two separate streams, so a clean set can be re-noised and sample i can be made
alone, in any order, on any worker, with identical bytes::

    SeedSequence(seed, spawn_key=(split, rho_key(rho), k, stream))

``rho_key`` is rho on a 1e-6 grid shifted to be non-negative, so adding a rho value to
a sweep does not change the samples of the others.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAYOUT", "NOISE", "rho_key", "sample_rng"]

LAYOUT = 0
NOISE = 1

_RHO_RESOLUTION = 1_000_000


def rho_key(rho: float) -> int:
    """Non-negative integer naming ``rho`` (resolution 1e-6) in spawn keys."""
    return int(round((float(rho) + 1.0) * _RHO_RESOLUTION))


def sample_rng(seed: int, split: int, rho: float, k: int, stream: int) -> np.random.Generator:
    """The generator of one stream of one sample.

    Parameters
    ----------
    seed : int
        Master seed (non-negative).
    split : int
        0 train, 1 val, 2 test.
    rho : float
        The sample's correlation knob.
    k : int
        Index of the sample among those of the same split and rho.
    stream : int
        :data:`LAYOUT` or :data:`NOISE`.
    """
    seq = np.random.SeedSequence(seed, spawn_key=(int(split), rho_key(rho), int(k), int(stream)))
    return np.random.Generator(np.random.PCG64(seq))
