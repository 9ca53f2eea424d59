"""The Bayes-optimal estimate on smooth ``field`` maps: the posterior mean, sampled.

With ``length_scale`` > 0 neighbouring cells share their latent, and the posterior of
the target class given the noisy maps has no closed form.  It is sampled by exact
Hamiltonian Monte Carlo (:mod:`._hmc`) on the latents of the classes it reads (the
target's alone without the prior), several chains per sample: even chains start from
the prior, odd ones from a guess read off the noisy maps.  Each chain's estimate is the
time-averaged occupancy along its trajectories; the estimate is the chains' mean and its
Monte Carlo error their spread.

Every sample's chains are seeded from the sample itself (its noisy maps, its rho, what
is read): the estimate of a sample does not depend on which batch, worker or machine
computes it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

from ._fields import equicorrelated_mixing
from ._portable import exp
from ._posterior import states

__all__ = ["Sampling", "reduced_basis", "smooth_posterior"]

# The chains run on all of numba's threads; two Python threads launching them at once
# (eval's workers share a test chunk) would nest them, which numba's portable threading
# layer refuses: one launch at a time.
_LAUNCH = threading.Lock()


class Sampling(NamedTuple):
    """How long the chains run (the defaults: ``benchmarks/field_sampler.py``)."""

    # Four chains: two from the prior, two from the data, and an error estimate with
    # three degrees of freedom; 120 draws each give cells a Monte Carlo error of about
    # 0.015 at 32x32 (benchmarks/README.md).
    chains: int = 4
    burn: int = 20
    draws: int = 120
    # Trajectories last U(t_max / 2, t_max): random lengths avoid periodic orbits.
    t_max: float = np.pi / 2


class Estimate(NamedTuple):
    """The sampled posterior mean and what it cost."""

    mean: np.ndarray  # (B, H, W)
    error: np.ndarray  # (B, H, W): the Monte Carlo standard error of each cell's mean
    traces: np.ndarray  # (B, chains, burn + draws, 6): see _hmc._chain


@lru_cache(maxsize=8)
def reduced_basis(height: int, width: int, length_scale: float,
                  tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """A real Fourier basis of the ``field`` latent, and the covariance it gives.

    Parameters
    ----------
    height, width : int
    length_scale : float
        The kernel's standard deviation in cells (> 0).
    tol : float
        The share of the latent's variance the dropped modes may carry.

    Returns
    -------
    basis : ndarray, shape (H * W, m)
        Columns ``sqrt(lambda_k / n)`` times the cosine and sine of every kept frequency:
        ``basis @ w`` with ``w`` standard normal has the law of the family's smoothed
        latent up to ``tol`` of its variance.
    cov : ndarray, shape (H, W)
        ``basis @ basis.T`` as the circulant it is: the covariance of cells ``(dy, dx)``
        apart.
    """
    n = height * width
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    lam = exp(-4.0 * np.pi ** 2 * length_scale ** 2 * (fy ** 2 + fx ** 2))
    lam = lam / (math.fsum(lam.ravel()) / n)
    order = np.argsort(lam.ravel(), kind="stable")
    dropped = np.cumsum(lam.ravel()[order]) < tol * n
    keep = np.ones(n, bool)
    keep[order[dropped]] = False
    # Phases as integers modulo n, so a cosine is read from one table of n angles.
    yy, xx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    angle = 2.0 * np.pi * np.arange(n) / n
    cos, sin = np.cos(angle), np.sin(angle)
    columns, done = [], np.zeros(n, bool)
    for k in np.flatnonzero(keep):
        ky, kx = divmod(int(k), width)
        twin = ((-ky) % height) * width + (-kx) % width
        if done[k]:
            continue
        done[k] = done[twin] = True
        phase = ((ky * yy * width + kx * xx * height) % n).ravel()
        if twin == k:
            columns.append(cos[phase] * np.sqrt(lam.flat[k] / n))
        else:
            weight = np.sqrt(2.0 * lam.flat[k] / n)
            columns += [cos[phase] * weight, sin[phase] * weight]
    basis = np.ascontiguousarray(np.stack(columns, axis=1))
    cov = np.zeros(n)
    for column in basis.T:  # one addition after another: the same bits on every CPU
        cov += column * column[0]
    for array in (basis, cov):
        array.setflags(write=False)
    return basis, cov.reshape(height, width)


def _dense(cov: np.ndarray) -> np.ndarray:
    """The covariance matrix of every two cells from its circulant ``cov`` (dy, dx)."""
    height, width = cov.shape
    yy, xx = np.divmod(np.arange(height * width), width)
    return np.ascontiguousarray(cov[(yy[:, None] - yy[None, :]) % height,
                                    (xx[:, None] - xx[None, :]) % width])


def _inverse_mixing(rho: float, classes: int) -> np.ndarray:
    """The (pseudo-)inverse of :func:`equicorrelated_mixing` in closed form (no LAPACK:
    its bits start every data-guessed chain)."""
    if classes == 1:
        return np.ones((1, 1))
    if classes == 2:
        s = np.sqrt(max(0.0, 1.0 - rho * rho))
        return np.array([[1.0, 0.0], [-rho / s, 1.0 / s]]) if s > 0 else np.eye(2) * [1, 0]
    ones = np.full((classes, classes), 1.0 / classes)
    a, b = np.sqrt(max(0.0, 1.0 - rho)), np.sqrt(max(0.0, 1.0 + (classes - 1) * rho))
    return ((1.0 / a if a > 0 else 0.0) * (np.eye(classes) - ones)
            + (1.0 / b if b > 0 else 0.0) * ones)


class _Setting(NamedTuple):
    """What the chains of one rho share."""

    classes: list[int]  # the slots: the target first, then the other classes read
    thr: np.ndarray  # (walls,): each wall's threshold
    bits: np.ndarray  # (slots,): each slot's bit in a cell's state (states() order)
    mix: np.ndarray  # (slots, fields)
    inverse: np.ndarray  # (fields, slots)
    corr: np.ndarray  # (slots, slots)


def _setting(rho: float, target: int, occupancy, count: int, prior: bool, n: int) -> _Setting:
    classes = [target] + [c for c in range(count) if c != target] if prior else [target]
    slots = len(classes)
    if prior:
        mix = equicorrelated_mixing(rho, count)[classes]
        inverse = _inverse_mixing(rho, count)[:, classes]
    else:
        mix = inverse = np.ones((1, 1))
    corr = np.full((slots, slots), rho if prior else 1.0)
    np.fill_diagonal(corr, 1.0)
    thr = np.repeat(ndtri(1.0 - np.asarray([occupancy[c] for c in classes], np.float64)), n)
    bits = np.array([1 << (slots - 1 - s) for s in range(slots)], np.int64)
    return _Setting(classes, thr, bits, np.ascontiguousarray(mix),
                    np.ascontiguousarray(inverse), corr)


def _seed(noisy: np.ndarray, rho: float, target: int, prior: bool) -> np.random.SeedSequence:
    """A sample's own seed: its bytes and what the posterior reads."""
    digest = hashlib.blake2b(np.ascontiguousarray(noisy, np.float64).tobytes(), digest_size=16)
    digest.update(repr((float(rho), int(target), bool(prior))).encode())
    return np.random.SeedSequence(int.from_bytes(digest.digest(), "little"))


def _starts(table, setting: _Setting, basis, rng, chains: int) -> np.ndarray:
    """Each chain's first latents: even chains a prior draw, odd ones a guess from the
    noisy maps (each class's latent up to a unit past its threshold on the side its own
    cells' likelihood favours, ridge-projected on the basis, then unmixed)."""
    from ._hmc import project, ridge

    slots, n = len(setting.classes), table.shape[0]
    size = n if basis.shape[1] == 0 else basis.shape[1]
    fields = setting.mix.shape[1]
    out = np.empty((chains, slots * n))
    for c in range(chains):
        coef = rng.standard_normal((fields, size))
        if c % 2:
            guess = np.empty((slots, size))
            for s, bit in enumerate(setting.bits):
                odds = table[:, bit] - table[:, 0]
                ridge(setting.thr[s * n] + np.clip(odds, -1.0, 1.0), basis, guess[s])
            for k in range(fields):
                coef[k] = 0.1 * coef[k] + functools.reduce(
                    np.add, [w * g for w, g in zip(setting.inverse[k], guess)])
        project(out[c], setting.mix, basis, np.ascontiguousarray(coef))
    return out


def smooth_posterior(noisy, rho, target: int, occupancy, length_scale: float, loglik,
                     prior: bool, sampling: Sampling = Sampling()) -> Estimate:
    """P(target occupied | noisy maps) in every cell of smooth fields, sampled.

    Parameters
    ----------
    noisy : ndarray, shape (B, C, H, W)
    rho : array_like, shape (B,)
        Each sample's latent correlation.
    target : int
    occupancy : sequence of float
        Each class's occupied fraction.
    length_scale : float
        The fields' kernel in cells (0 works too: white fields, for checking).
    loglik : callable
        As for :func:`~._posterior.white_posterior`.
    prior : bool
        Whether the other classes' noisy maps are read (else the target's alone).
    sampling : Sampling
        Chains and their lengths.

    Returns
    -------
    Estimate
        The posterior mean (the chains' mean), its Monte Carlo standard error per cell
        (the chains' spread; NaN with one chain) and the chains' traces.
    """
    noisy = np.asarray(noisy)
    rho = np.broadcast_to(np.asarray(rho, np.float64), (noisy.shape[0],))
    height, width = noisy.shape[2:]
    basis, sigma = _covariance(height, width, float(length_scale))
    chains = sampling.chains
    mean = np.empty((noisy.shape[0], height, width))
    error = np.full_like(mean, np.nan)
    traces = np.empty((noisy.shape[0], chains, sampling.burn + sampling.draws, 6))
    for value in np.unique(rho):
        rows = np.flatnonzero(rho == value)
        setting = _setting(float(value), target, occupancy, noisy.shape[1], prior,
                           height * width)
        means, trace = _sample(noisy[rows], float(value), target, prior, setting, loglik,
                               basis, sigma, sampling)
        means = means.reshape(len(rows), chains, height, width).transpose(1, 0, 2, 3)
        mean[rows] = functools.reduce(np.add, means) / chains
        if chains > 1:
            spread = functools.reduce(np.add, [(m - mean[rows]) ** 2 for m in means])
            error[rows] = np.sqrt(spread / (chains - 1) / chains)
        traces[rows] = trace.reshape(len(rows), chains, -1, 6)
    return Estimate(mean, error, traces)


@lru_cache(maxsize=8)
def _covariance(height: int, width: int, length_scale: float):
    """The basis momenta are drawn in and every two cells' covariance (n, n), once per
    map size and length scale (the dense matrix is what each wall impulse reads)."""
    n = height * width
    if length_scale == 0:
        return np.zeros((n, 0)), np.eye(n)
    basis, cov = reduced_basis(height, width, length_scale)
    return basis, _dense(cov)


def _sample(noisy, rho: float, target: int, prior: bool, setting: _Setting, loglik, basis,
            sigma, sampling: Sampling):
    """The chains of the samples ``noisy`` (all of one ``rho``): their time-averaged
    target occupancy (samples * chains, cells) and traces."""
    from ._hmc import run_chains

    n, chains = sigma.shape[0], sampling.chains
    table = loglik(noisy[:, setting.classes], states(len(setting.classes)), setting.classes)
    tables = np.ascontiguousarray(table.reshape(table.shape[0], len(noisy), n)
                                  .transpose(1, 2, 0))
    starts, seeds = [], []
    for i, sample in enumerate(noisy):
        sequence = _seed(sample, rho, target, prior)
        starts.append(_starts(tables[i], setting, basis, np.random.default_rng(sequence),
                              chains))
        seeds.append(sequence.generate_state(chains + 1)[1:])
    with _LAUNCH:
        return run_chains(np.concatenate(starts), tables,
                          np.repeat(np.arange(len(noisy)), chains), setting.thr, setting.bits,
                          setting.mix, basis, setting.corr, sigma, sampling.draws,
                          sampling.burn, sampling.t_max, np.concatenate(seeds).astype(np.int64))
