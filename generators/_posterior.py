"""The Bayes-optimal estimate of a ``field`` class: its posterior mean given the noisy maps.

The ``field`` family's generative model is known exactly (a latent Gaussian per class,
equicorrelated between classes with ``rho``, thresholded at the normal quantile of each
class's occupancy) and so is the likelihood of a noise model whose noise acts on each
cell on its own (``gaussian``, ``flip``: their ``cell_loglik``).  The posterior mean of
the target class minimises the expected squared error: no estimator can do better, so
it is the limit every learned estimator is read against, with the other classes' noisy
maps (the prior) and without them.

With ``length_scale=0`` the latent is white: cells are independent and the posterior is
closed form per cell, the prior probability of each of the 2^C occupancy states (an
orthant probability of the equicorrelated normal) times the noise likelihood of the
cell's noisy values, normalised.
"""

from __future__ import annotations

import functools
import math
from functools import lru_cache

import numpy as np
from scipy import integrate
from scipy.special import ndtr, ndtri

from ._portable import exp, log

__all__ = ["states", "state_prior", "white_posterior"]


@lru_cache(maxsize=8)
def states(classes: int) -> np.ndarray:
    """Every occupancy state of ``classes`` classes, (2^C, C) uint8, class 0 the slowest."""
    grid = (np.arange(2 ** classes)[:, None] >> np.arange(classes)[::-1]) & 1
    out = grid.astype(np.uint8)
    out.setflags(write=False)
    return out


def _side(z, occupied):
    """P(a latent above its threshold) when occupied, else below, for the CDF argument ``z``."""
    return ndtr(z) if occupied else ndtr(-z)


def _interval(above: bool, bound: float) -> tuple[float, float]:
    return (bound, np.inf) if above else (-np.inf, bound)


def _two_class(state, rho: float, thresholds) -> float:
    """P(state) for two classes: condition on class 0's latent ``w`` and integrate it."""
    t0, t1 = thresholds
    lo, hi = _interval(bool(state[0]), t0)
    if abs(rho) >= 1.0:
        # Z_1 = rho * Z_0: the state is an interval of Z_0.
        lo1, hi1 = (_interval(bool(state[1]), t1) if rho > 0
                    else _interval(not state[1], -t1))
        return float(max(0.0, ndtr(min(hi, hi1)) - ndtr(max(lo, lo1))))
    scale = np.sqrt(1.0 - rho * rho)

    def integrand(w):
        return math.exp(-0.5 * w * w) / math.sqrt(2 * math.pi) * _side((rho * w - t1) / scale,
                                                                   state[1])

    value, _ = integrate.quad(integrand, lo, hi, epsabs=1e-13, epsrel=1e-11, limit=200)
    return float(value)


def _one_factor(state, rho: float, thresholds) -> float:
    """P(state) for C classes and rho >= 0: given a common factor ``w`` the classes'
    latents are independent (Z_c = sqrt(rho) w + sqrt(1 - rho) e_c)."""
    if rho >= 1.0:
        above = [t for s, t in zip(state, thresholds) if s]
        below = [t for s, t in zip(state, thresholds) if not s]
        lo, hi = max(above, default=-np.inf), min(below, default=np.inf)
        return float(max(0.0, ndtr(hi) - ndtr(lo)))
    a, b = np.sqrt(rho), np.sqrt(1.0 - rho)

    def integrand(w):
        out = math.exp(-0.5 * w * w) / math.sqrt(2 * math.pi)
        for s, t in zip(state, thresholds):
            out = out * _side((a * w - t) / b, s)
        return out

    # Where the integrand turns sharply (rho near 1): each class's threshold in w.
    points = sorted(t / a for t in thresholds) if a > 0 else None
    value, _ = integrate.quad(integrand, -40.0, 40.0, points=points, epsabs=1e-13,
                              epsrel=1e-11, limit=400)
    return float(value)


def _mvn(state, rho: float, thresholds) -> float:
    """P(state) for C > 2 classes and rho < 0, from the multivariate normal CDF."""
    from scipy.stats import multivariate_normal

    classes = len(state)
    sign = np.where(np.asarray(state) > 0, -1.0, 1.0)
    cov = np.full((classes, classes), rho) + (1.0 - rho) * np.eye(classes)
    # A fixed stream: Genz's quasi-Monte Carlo is randomised, and the same command must
    # give the same estimate.
    return float(multivariate_normal.cdf(
        sign * np.asarray(thresholds), np.zeros(classes), cov * np.outer(sign, sign),
        allow_singular=True, abseps=1e-8, releps=1e-7, rng=np.random.default_rng(0)))


@lru_cache(maxsize=256)
def state_prior(rho: float, occupancy: tuple[float, ...]) -> np.ndarray:
    """Prior probability of every occupancy state of one cell (:func:`states` order).

    Parameters
    ----------
    rho : float
        The latent correlation between every two classes.
    occupancy : tuple of float
        Each class's occupied fraction (its latent's threshold is the normal quantile).

    Returns
    -------
    ndarray, shape (2^C,)
        Orthant probabilities of the equicorrelated normal; they sum to 1.
    """
    thresholds = tuple(float(t) for t in ndtri(1.0 - np.asarray(occupancy, np.float64)))
    classes = len(thresholds)
    rule = _two_class if classes == 2 else (_one_factor if rho >= 0 else _mvn)
    if classes == 1:
        p = np.array([1.0 - occupancy[0], occupancy[0]])
    else:
        p = np.array([rule(tuple(int(v) for v in s), float(rho), thresholds)
                      for s in states(classes)])
    p = np.clip(p, 0.0, None)
    p /= math.fsum(p)
    p.setflags(write=False)
    return p


def white_posterior(noisy, rho, target: int, occupancy, loglik, prior: bool,
                    grid=None) -> np.ndarray:
    """P(target occupied | noisy maps) in every cell of white (``length_scale=0``) fields.

    Parameters
    ----------
    noisy : ndarray, shape (B, C, H, W)
    rho : array_like, shape (B,)
        Each sample's latent correlation.
    target : int
    occupancy : sequence of float
        Each class's occupied fraction.
    loglik : callable
        ``loglik(noisy_k, states_k, classes) -> (S, B, H, W)``: the log-likelihood of the
        noisy maps of ``classes`` (an index list; ``noisy_k`` holds just those) for each
        of their states ``states_k`` (S, len(classes)), up to a constant.
    prior : bool
        Whether the other classes' noisy maps are read (else the target's alone).
    grid : sequence of float, optional
        Infer each sample's rho rather than take it: the posterior over these values
        (equally likely a priori, as a store draws as many samples of each) from the
        sample's own cells, and the cells' posteriors mixed by it.  ``rho`` is then not
        read.  Without the prior, rho does not enter.

    Returns
    -------
    ndarray of float64, shape (B, H, W)
    """
    noisy = np.asarray(noisy)
    occupancy = tuple(float(o) for o in occupancy)
    classes = list(range(noisy.shape[1])) if prior else [target]
    table = states(len(classes))
    at = classes.index(target)
    log_like = loglik(noisy[:, classes], table, classes)
    if not prior:
        return _cells(log_like, np.array([1.0 - occupancy[target], occupancy[target]]),
                      table[:, at])[0]
    ours = tuple(occupancy[k] for k in classes)
    if grid is None:
        rho = np.asarray(rho, np.float64)
        out = np.empty((noisy.shape[0], *noisy.shape[2:]))
        for value in np.unique(rho):
            rows = rho == value
            out[rows] = _cells(log_like[:, rows], state_prior(float(value), ours),
                               table[:, at])[0]
        return out
    parts = [_cells(log_like, state_prior(float(value), ours), table[:, at]) for value in grid]
    evidence = np.stack([e for _, e in parts])  # (R, B): log p(noisy | rho), up to a constant
    weight = exp(evidence - evidence.max(axis=0))
    weight /= _total(weight)
    return _total([w[:, None, None] * p for w, (p, _) in zip(weight, parts)])


def _cells(log_like, p, occupied):
    """Each cell's posterior of the target under state prior ``p``, and each sample's
    log evidence (summed over its cells, up to the likelihood's constant)."""
    with np.errstate(divide="ignore"):
        logp = log_like + log(np.asarray(p, np.float64))[:, None, None, None]
    top = logp.max(axis=0)
    weight = exp(logp - top)
    total = _total(weight)
    cells = log(total) + top
    evidence = np.array([math.fsum(sample.ravel()) for sample in cells])
    return _total(weight[occupied == 1]) / total, evidence


def _total(parts):
    """The sum over the first axis, one addition after another: the same bits on every CPU
    (numpy's pairwise sum groups terms by the SIMD width; the estimates are scored into
    published results)."""
    return functools.reduce(np.add, parts)
