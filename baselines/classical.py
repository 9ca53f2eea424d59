"""Classical estimators: filters of the target alone, filters that use the prior, and the
occupancy-grid filter over past frames (``log-odds``).

Every estimator here follows :class:`ogmbench.api.Estimator`; their ``param_grid`` is
searched on the val split (by MSE) before the test split is touched.  Filters work on
the whole batch at once with a kernel of size 1 along the batch axis, so a sample's
estimate never depends on its neighbours in the batch.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ogmbench.api import Estimator, Hyper

__all__ = ["Identity", "Median", "Gaussian", "Morph", "Wiener", "TV", "Guided", "MRF",
           "BayesCell", "LogOdds"]


def _target(noisy: np.ndarray, target: int) -> np.ndarray:
    return np.asarray(noisy[:, target], dtype=np.float32)


def _priors(noisy: np.ndarray, target: int) -> np.ndarray:
    """The prior classes, shape (B, C-1, H, W) (C-1 may be 0)."""
    keep = [k for k in range(noisy.shape[1]) if k != target]
    return np.asarray(noisy[:, keep], dtype=np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0).astype(np.float32)


class Identity(Estimator):
    """The noisy target, clipped to [0, 1]: the floor every estimator should beat."""

    def predict(self, noisy, target):
        return _unit(_target(noisy, target))


class Median(Estimator):
    """Median filter of the target (``scipy.ndimage.median_filter``)."""

    param_grid = {"size": [3, 5, 7]}
    hyper = {"size": Hyper(int, lo=1, hi=99)}

    def __init__(self, size=3):
        self.size = size

    def predict(self, noisy, target):
        return _unit(ndimage.median_filter(_target(noisy, target), size=(1, self.size, self.size),
                                           mode="reflect"))


class Gaussian(Estimator):
    """Gaussian smoothing of the target (``scipy.ndimage.gaussian_filter``)."""

    param_grid = {"sigma": [0.5, 1.0, 1.5, 2.0, 3.0]}
    hyper = {"sigma": Hyper(float, lo=0, hi=50, lo_open=True)}

    def __init__(self, sigma=1.0):
        self.sigma = sigma

    def predict(self, noisy, target):
        return _unit(ndimage.gaussian_filter(_target(noisy, target), sigma=(0, self.sigma, self.sigma),
                                             mode="reflect"))


class Morph(Estimator):
    """Opening then closing (or the reverse) of the target thresholded at 0.5.

    The classic clean-up of a binary occupancy map: opening removes specks, closing
    fills holes.  Square structuring element of ``size`` cells, borders reflected.
    """

    param_grid = {"size": [2, 3, 5], "order": ["open-close", "close-open"]}
    hyper = {"size": Hyper(int, lo=1, hi=99),
             "order": Hyper(str, choices=("open-close", "close-open"))}

    def __init__(self, size=3, order="open-close"):
        self.size = size
        self.order = order

    def predict(self, noisy, target):
        if self.order not in ("open-close", "close-open"):
            raise ValueError(f"order must be 'open-close' or 'close-open', got {self.order!r}")
        x = (_target(noisy, target) >= 0.5).astype(np.float32)
        footprint = (1, self.size, self.size)
        first, second = ((ndimage.grey_opening, ndimage.grey_closing) if self.order == "open-close"
                         else (ndimage.grey_closing, ndimage.grey_opening))
        return _unit(second(first(x, size=footprint, mode="reflect"), size=footprint,
                            mode="reflect"))


class Wiener(Estimator):
    """Adaptive Wiener filter (``scipy.signal.wiener``), one map at a time.

    scipy estimates the noise power from its whole input, so the filter runs per map:
    batching would let samples influence each other.
    """

    param_grid = {"size": [3, 5, 7]}
    hyper = {"size": Hyper(int, lo=1, hi=99)}

    def __init__(self, size=5):
        self.size = size

    def predict(self, noisy, target):
        from scipy.signal import wiener

        x = _target(noisy, target)
        out = np.empty_like(x)
        for i, image in enumerate(x):
            with np.errstate(invalid="ignore", divide="ignore"):
                filtered = wiener(image.astype(np.float64), mysize=self.size)
            # A constant map has zero local variance: scipy returns NaN there.
            out[i] = np.where(np.isfinite(filtered), filtered, image)
        return _unit(out)


class TV(Estimator):
    """Total-variation denoising (``skimage.restoration.denoise_tv_chambolle``)."""

    param_grid = {"weight": [0.05, 0.1, 0.2, 0.4, 0.8, 1.6]}
    hyper = {"weight": Hyper(float, lo=0, hi=100, lo_open=True)}

    def __init__(self, weight=0.1):
        self.weight = weight

    def predict(self, noisy, target):
        from skimage.restoration import denoise_tv_chambolle

        x = _target(noisy, target)
        if x.shape[0] == 0:
            return x
        # channel_axis=0: each map of the batch is denoised on its own.
        return _unit(denoise_tv_chambolle(x, weight=self.weight, channel_axis=0))


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return ndimage.uniform_filter(x, size=(1, 2 * radius + 1, 2 * radius + 1), mode="reflect")


class Guided(Estimator):
    """Guided filter of the target with the prior classes as guide (He et al., 2010).

    Locally the estimate is a linear function of the guide (the mean of the prior
    classes), so structure shared by the classes is kept and the rest smoothed away.
    Without prior classes the target guides itself (edge-preserving smoothing).
    """

    uses_prior = True
    param_grid = {"radius": [1, 2, 4, 8], "eps": [0.01, 0.1, 1.0]}
    hyper = {"radius": Hyper(int, lo=1, hi=64),
             "eps": Hyper(float, lo=0, hi=100, lo_open=True)}

    def __init__(self, radius=2, eps=0.1):
        self.radius = radius
        self.eps = eps

    def predict(self, noisy, target):
        p = _target(noisy, target).astype(np.float64)
        priors = _priors(noisy, target)
        guide = priors.mean(axis=1).astype(np.float64) if priors.shape[1] else p
        r = self.radius
        mean_i, mean_p = _box(guide, r), _box(p, r)
        var_i = _box(guide * guide, r) - mean_i**2
        cov_ip = _box(guide * p, r) - mean_i * mean_p
        a = cov_ip / (var_i + self.eps)
        b = mean_p - a * mean_i
        return _unit(_box(a, r) * guide + _box(b, r))


class MRF(Estimator):
    """Mean-field MAP-style denoising under an Ising prior with a cross-class coupling.

    Spins s in {-1, +1} for the target cells, energy
    ``-lam * sum s (2x - 1) - beta * sum_neighbours s s' - gamma * sum_k r_k s (2 q_k - 1)``
    where x is the clipped noisy target, q_k a prior class clipped and smoothed (sigma 1),
    and r_k the correlation between the smoothed target and q_k in this sample: the
    coupling follows the evidence, so an unrelated prior is ignored and an
    anti-correlated one counts negatively.  ``iterations`` damped mean-field updates give
    the magnetisation m; the estimate is (1 + m) / 2.
    """

    uses_prior = True
    param_grid = {"beta": [0.25, 0.5, 1.0], "lam": [0.5, 1.0, 2.0, 4.0],
                  "gamma": [0.0, 0.5, 1.0, 2.0, 4.0]}
    hyper = {"beta": Hyper(float, lo=0, hi=100), "lam": Hyper(float, lo=0, hi=100),
             "gamma": Hyper(float, lo=0, hi=100), "iterations": Hyper(int, lo=0, hi=1000)}

    def __init__(self, beta=0.5, lam=1.0, gamma=1.0, iterations=15):
        self.beta = beta
        self.lam = lam
        self.gamma = gamma
        self.iterations = iterations

    def predict(self, noisy, target):
        x = _unit(_target(noisy, target)).astype(np.float64)
        field = self.lam * (2.0 * x - 1.0)
        priors = _priors(noisy, target)
        if priors.shape[1] and self.gamma != 0:
            q = ndimage.gaussian_filter(_unit(priors).astype(np.float64), sigma=(0, 0, 1, 1))
            smooth_x = ndimage.gaussian_filter(x, sigma=(0, 1, 1))
            field += self.gamma * np.sum(
                _sample_correlation(smooth_x[:, None], q)[:, :, None, None] * (2.0 * q - 1.0),
                axis=1)
        kernel = np.array([[[0, 1, 0], [1, 0, 1], [0, 1, 0]]], dtype=np.float64)
        m = np.tanh(field)
        for _ in range(self.iterations):
            neighbours = ndimage.convolve(m, kernel, mode="nearest")
            m = 0.5 * m + 0.5 * np.tanh(field + self.beta * neighbours)
        return _unit(0.5 * (1.0 + m))


def _sample_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation over (H, W) of each map pair, 0 where a map is constant."""
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    b = b - b.mean(axis=(-2, -1), keepdims=True)
    num = (a * b).sum(axis=(-2, -1))
    den = np.sqrt((a * a).sum(axis=(-2, -1)) * (b * b).sum(axis=(-2, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, 0.0)


def _fit_cell_table(blocks, bins: int) -> tuple[list[np.ndarray], np.ndarray, float]:
    """The joint histogram of quantile bins of noisy values with a clean target.

    ``blocks()`` yields ``(noisy, clean)`` blocks, noisy (n, K, H, W) and the clean
    target (n, H, W), at least one sample in all; it is read twice.  Returns the bin edges per channel (quantiles of
    a strided subsample of the cells; equal ones merged), the table of P(occupied | the
    cell's bins) with add-one smoothing towards the mean occupancy, and that mean.
    """
    pooled: list[list[np.ndarray]] = []
    for noisy, _ in blocks():
        flat = noisy.transpose(1, 0, 2, 3).reshape(noisy.shape[1], -1)
        stride = max(1, flat.shape[1] // 200_000)
        pooled = pooled or [[] for _ in flat]
        for k, values in enumerate(flat):
            pooled[k].append(values[::stride])
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    edges = [np.unique(np.quantile(np.concatenate(v), qs)) for v in pooled]
    size = int(np.prod([len(e) + 1 for e in edges]))
    occupied, total = np.zeros(size), np.zeros(size)
    for noisy, clean in blocks():
        cell = _cells(edges, noisy)
        occupied += np.bincount(cell, weights=clean.ravel(), minlength=size)
        total += np.bincount(cell, minlength=size)
    prior_mean = occupied.sum() / max(total.sum(), 1.0)
    return edges, ((occupied + prior_mean) / (total + 1.0)).astype(np.float32), prior_mean


def _cells(edges: list[np.ndarray], noisy: np.ndarray) -> np.ndarray:
    """The histogram cell of every map cell of ``noisy`` (n, K, H, W), flattened."""
    index = np.zeros(noisy[:, 0].size, dtype=np.int64)
    for k, e in enumerate(edges):
        index = index * (len(e) + 1) + np.searchsorted(e, noisy[:, k].ravel(), side="right")
    return index


class BayesCell(Estimator):
    """Per-cell posterior mean of the clean target given every class's noisy value there.

    No spatial context: the joint distribution of (clean target, noisy values of all
    classes) is estimated on the train split as a histogram over ``bins`` quantile bins
    per class, and the estimate is P(target occupied | bins of the cell), with add-one
    smoothing towards the train occupancy.  With the prior classes this is the
    classical answer to "does X2 help"; without them (C = 1) it is a per-cell
    calibration of the target alone.
    """

    uses_prior = True
    param_grid = {"bins": [4, 8, 16, 32]}
    hyper = {"bins": Hyper(int, lo=1, hi=256)}
    _MAX_CELLS = 1 << 22

    def __init__(self, bins=16):
        self.bins = bins
        self.edges_ = None
        self.table_ = None

    def fit(self, data, *, target, seed=0, device="cpu"):
        classes = data.train.shape[0]
        if self.bins ** classes > self._MAX_CELLS:
            raise ValueError(f"bins={self.bins} with {classes} classes makes "
                             f"{self.bins ** classes} histogram cells (max {self._MAX_CELLS})")
        if len(data.train) == 0:
            raise ValueError("bayes-cell needs train samples")
        self.edges_, self.table_, _ = _fit_cell_table(
            lambda: ((noisy, clean[:, target]) for noisy, clean, _ in data.train.iter_chunks()),
            self.bins)
        return self

    def predict(self, noisy, target):
        if self.table_ is None:
            raise RuntimeError("bayes-cell must be fitted before predict")
        if noisy.shape[1] != len(self.edges_):
            raise ValueError(f"fitted on {len(self.edges_)} classes, got {noisy.shape[1]}")
        return self.table_[_cells(self.edges_, noisy)].reshape(noisy[:, 0].shape)


def _logit(p):
    # The table is smoothed away from 0 and 1 unless train held no occupied cell at all.
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1.0 - 1e-6)
    return np.log(p / (1.0 - p))


class LogOdds(Estimator):
    """Bayesian log-odds fusion of the target's frames: the occupancy-grid-mapping filter.

    The inverse sensor model, P(occupied | a frame's noisy target value), is fitted on
    train, as bayes-cell does for the target alone: the clean last frame's occupancy per
    quantile bin (``bins``) of its noisy value; every frame's noise is drawn from the
    same model.  Each frame's evidence, its log-odds less that of the prior ``l0`` (the
    train occupancy), is pulled into the last frame's grid by the ego motion
    (``scipy.ndimage.affine_transform``, bilinear; cells a frame did not see add nothing)
    and the estimate is the probability of ``l0 + sum_t decay**age_t * evidence_t``:
    the textbook update ``l_t = l_{t-1} + logit(ism(z_t)) - l0`` with a forgetting
    factor that lets moving objects fade (``decay`` 1 is the static-world filter, 0 the
    last frame's calibration alone).  ``bins`` and ``decay`` are tuned on val.
    """

    uses_past = True
    param_grid = {"bins": [16, 32, 64], "decay": [0.0, 0.3, 0.6, 1.0]}
    hyper = {"bins": Hyper(int, lo=1, hi=256),
             "decay": Hyper(float, lo=0.0, hi=1.0)}

    def __init__(self, bins=16, decay=0.6):
        self.bins = bins
        self.decay = decay
        self.edges_ = None
        self.table_ = None
        self.prior_ = None

    def fit(self, data, *, target, seed=0, device="cpu"):
        if len(data.train) == 0:
            raise ValueError("log-odds needs train samples")
        last = (slice(None), -1, slice(target, target + 1))
        self.edges_, self.table_, self.prior_ = _fit_cell_table(
            lambda: ((noisy[last], clean[:, target]) for noisy, clean, _ in
                     data.train.iter_chunks()),
            self.bins)
        return self

    def predict(self, noisy, target, warps=None):
        if self.table_ is None:
            raise RuntimeError("log-odds must be fitted before predict")
        if noisy.ndim != 5 or warps is None:
            raise ValueError("log-odds fuses past frames: it needs sequences (B, T, C, H, W) "
                             "and their warps")
        frames = noisy.shape[1]
        # Each histogram bin's evidence: its log-odds less the prior's.
        evidence_of = _logit(self.table_) - _logit(self.prior_)
        fused = np.full((noisy.shape[0], *noisy.shape[-2:]), _logit(self.prior_))
        for b in range(noisy.shape[0]):
            for t in range(frames):
                weight = self.decay ** (frames - 1 - t)
                if weight == 0.0:
                    continue
                z = noisy[b, t, target]
                evidence = evidence_of[_cells(self.edges_, z[None, None])].reshape(z.shape)
                if t < frames - 1:
                    matrix, offset = warps[b, t, :, :2], warps[b, t, :, 2]
                    # A cell counts where its centre falls within half a cell of the
                    # frame's grid (the nearest cell exists); there, bilinear samples.
                    seen = ndimage.affine_transform(np.ones_like(evidence), matrix, offset,
                                                    order=0, mode="grid-constant", cval=0.0)
                    evidence = seen * ndimage.affine_transform(evidence, matrix, offset,
                                                               order=1, mode="nearest")
                fused[b] += weight * evidence
        return (1.0 / (1.0 + np.exp(-fused))).astype(np.float32)
