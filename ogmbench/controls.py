"""Prior controls and prior sources: what an estimator is given in place of its priors.

A control replaces one prior source of the test samples (the other classes, or the
target's past frames) by another sample's (``shuffled``), zeros or the clean maps
(``oracle``); a twin (``concat:prior=shuffled``) is given the same at training too.
Whose prior a sample takes when shuffled is a derangement within its split, seeded by the
run's seed (:mod:`ogmbench.seeding`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import seeding
from .api import PAST_CONTROLS
from .store import Store

__all__ = ["apply_control", "with_controls", "partners", "derangement"]


def apply_control(control: str, noisy: np.ndarray, prior: list[int],
                  partner: np.ndarray | None, clean: np.ndarray, target: int = 0) -> np.ndarray:
    """A copy of ``noisy`` with one prior source shuffled, zeroed or made clean.

    Parameters
    ----------
    control : str
        One of :data:`~ogmbench.api.CONTROLS`: ``shuffled``, ``zeros`` and ``oracle``
        replace the prior classes (in every frame of a sequence); ``past-shuffled``,
        ``past-zeros`` and ``past-oracle`` replace the target class's past frames.
    noisy, clean : ndarray
        A block as the store holds it: (n, C, H, W), or sequences (n, T, C, H, W).
    prior : list of int
        The prior classes.
    partner : ndarray, optional
        For a shuffled control, the partner samples' values of what is replaced
        (what the partner samples hold there).
    target : int
        The target class (whose past frames the ``past-`` controls replace).

    Returns
    -------
    numpy.ndarray
    """
    out = noisy.copy()
    kind = control.removeprefix("past-")
    where = ((slice(None), slice(0, -1), target) if control in PAST_CONTROLS
             else (Ellipsis, prior, slice(None), slice(None)))
    if kind == "zeros":
        out[where] = 0.0
    elif kind == "oracle":
        out[where] = clean[where]
    elif kind == "shuffled":
        out[where] = partner
    return out


def _partner_maps(store: Store, indices: np.ndarray, control: str, prior: list[int],
                  target: int) -> np.ndarray:
    """What a shuffled ``control`` takes from the partner samples ``indices``."""
    if control in PAST_CONTROLS:
        return store.take("noisy", indices, [target])[:, :-1, 0]
    return store.take("noisy", indices, prior)


def with_controls(store: Store, noisy: np.ndarray, clean: np.ndarray, index: np.ndarray,
            controls: Sequence[str], prior: list[int], target: int, partner_of: np.ndarray):
    """``noisy`` with each of ``controls`` applied, and whose motion its past now has.

    Parameters
    ----------
    store : Store
        Where a shuffled control takes its partners' maps from.
    noisy, clean : numpy.ndarray
        A block of samples as the store holds them.
    index : numpy.ndarray
        The block's sample indices.
    controls : sequence of str
    prior : list of int
    target : int
    partner_of : numpy.ndarray
        Whose prior each sample of the store gets when shuffled (:func:`partners`).

    Returns
    -------
    noisy : numpy.ndarray
    motion : numpy.ndarray
        The sample indices to take warps from: a shuffled past brings its partner's.
    """
    motion = index
    for control in controls:
        partner = None
        if control.endswith("shuffled"):
            partner = _partner_maps(store, partner_of[index], control, prior, target)
            if control in PAST_CONTROLS:
                motion = partner_of[index]
        noisy = apply_control(control, noisy, prior, partner, clean, target)
    return noisy, motion


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``n`` >= 2 without fixed points: a random cycle.

    Parameters
    ----------
    n : int
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``partner[i]`` != i for every i.
    """
    order = rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    return partner


def partners(store: Store, seed: int) -> np.ndarray:
    """Whose prior each sample gets when its prior is shuffled: a derangement within its
    split (a split of one sample keeps its own; such a run is refused where it matters).

    The test split's is the shuffled control's; train and val have their own streams, so
    adding a twin never moves the control's pairs.

    Parameters
    ----------
    store : Store
    seed : int
        The run's seed.

    Returns
    -------
    numpy.ndarray
        ``partner_of[i]``, the sample whose prior sample ``i`` gets.
    """
    out = np.arange(len(store))
    for split, stream in (("train", "shuffle_train"), ("val", "shuffle_val"), ("test", "shuffle")):
        indices = store.indices(split)
        if indices.size >= 2:
            out[indices] = indices[derangement(indices.size, seeding.eval_rng(seed, stream))]
    return out
