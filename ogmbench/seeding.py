"""The seed tree: every random draw of ogmbench descends from a seed, here and nowhere else.

A sample is named by (split, rho, k): its split, its rho value and its index among
the samples of that split and rho.  Its layout (the clean map) and its noise draw
from two separate streams, so a clean set can be re-noised and sample i can be made
alone, in any order, on any worker, with identical bytes::

    SeedSequence(seed, spawn_key=(split, rho_key(rho), k, stream))

``rho_key`` is rho on a 1e-6 grid shifted to be non-negative, so adding a rho value to
a sweep does not change the samples of the others; :func:`rho_id` is the same grid as a
value, the one rule by which two rho values are the same.

Evaluation draws from named streams of its seed (:func:`eval_rng`): the training seeds
and the shuffled-prior partners each have their own branch, so adding one never moves
the other.  Bootstrap intervals are seeded by the key of the group they describe
(:func:`keyed_rng`), so a table does not depend on which other groups it holds.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["LAYOUT", "NOISE", "EVAL_STREAMS", "RHO_DECIMALS", "rho_key", "rho_id",
           "sample_rng", "eval_rng", "train_seeds", "torch_seed", "keyed_rng", "seed_rng"]

LAYOUT = 0
NOISE = 1

# The largest seed: a benchmark file records seeds as TOML integers, which are signed
# 64-bit, and a sealed test seed is drawn with 63 bits.
MAX_SEED = 2 ** 63 - 1

RHO_DECIMALS = 6
_RHO_RESOLUTION = 10 ** RHO_DECIMALS

# spawn_key of each named stream of an eval seed (fixed: changing one changes results).
EVAL_STREAMS = {"shuffle": 7, "train_seeds": 11, "shuffle_train": 13, "shuffle_val": 17}


def is_seed(value) -> bool:
    """Whether ``value`` is a seed ogmbench takes: an integer from 0 to :data:`MAX_SEED`."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and 0 <= value <= MAX_SEED)


def rho_key(rho: float) -> int:
    """Non-negative integer naming ``rho`` (resolution 1e-6) in spawn keys."""
    return int(round((float(rho) + 1.0) * _RHO_RESOLUTION))


def rho_id(rho):
    """rho on the 1e-6 grid: equal ``rho_id`` means the same rho value.

    A Python float for a scalar (rounded as ``round`` does), a float64 array for an
    array (as ``numpy.round`` does); stored rho values are float32, and rounding their
    float64 value recovers the configured one.
    """
    if np.ndim(rho) == 0:
        return round(float(rho), RHO_DECIMALS)
    return np.round(np.asarray(rho, dtype=np.float64), RHO_DECIMALS)


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


def eval_rng(seed: int, stream: str) -> np.random.Generator:
    """The generator of one named stream (:data:`EVAL_STREAMS`) of an eval seed."""
    seq = np.random.SeedSequence(seed, spawn_key=(EVAL_STREAMS[stream],))
    return np.random.default_rng(seq)


def train_seeds(seed: int, count: int) -> list[int]:
    """The seeds of ``count`` trainings: ``seed`` itself first, then spawned ones.

    The first training of a multi-seed run is the single-seed run, so adding seeds
    keeps its results.
    """
    seq = np.random.SeedSequence(seed, spawn_key=(EVAL_STREAMS["train_seeds"],))
    return [int(seed)] + [int(s) for s in seq.generate_state(max(count - 1, 0))]


def torch_seed(seed: int) -> int:
    """The seed of one training's torch generator (its batches and augmentations).

    One draw of the training seed's own SeedSequence, so that neighbouring training
    seeds (0, 1, 2, ...) start unrelated streams.

    Parameters
    ----------
    seed : int
        A training seed (:func:`train_seeds`).

    Returns
    -------
    int
        For ``torch.Generator().manual_seed``.
    """
    return int(np.random.SeedSequence(seed).generate_state(1)[0])


def keyed_rng(*key) -> np.random.Generator:
    """A generator seeded by a group's key (any values with a stable ``repr``)."""
    return np.random.default_rng(np.random.SeedSequence(zlib.crc32(repr(key).encode())))


def seed_rng(seed: int) -> np.random.Generator:
    """The generator of a plain seed: what ``numpy.random.default_rng(seed)`` gives.

    For data made from one user-given seed and nothing else (``check_estimator``'s tiny
    stores); a store's samples use :func:`sample_rng`.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
