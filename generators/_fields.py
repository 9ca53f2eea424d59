"""Stationary Gaussian random fields and the class-correlation helpers they need."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from ._portable import exp, mean

__all__ = ["gaussian_spectrum", "smooth_unit_variance", "equicorrelated_mixing", "class_correlation"]


@lru_cache(maxsize=32)
def gaussian_spectrum(height: int, width: int, length_scale: float) -> np.ndarray:
    # Transfer function of a Gaussian kernel with sigma = length_scale cells on the
    # periodic grid, scaled so that filtered unit white noise has unit variance in
    # every cell (Parseval: variance = mean of |G|^2 over the full spectrum).
    fy = np.fft.fftfreq(height)[:, None]
    fx_full = np.fft.fftfreq(width)[None, :]
    full = exp(-2.0 * np.pi**2 * length_scale**2 * (fy**2 + fx_full**2))
    scale = np.sqrt(mean(full**2))
    fx = np.fft.rfftfreq(width)[None, :]
    spectrum = exp(-2.0 * np.pi**2 * length_scale**2 * (fy**2 + fx**2)) / scale
    spectrum.setflags(write=False)
    return spectrum


def smooth_unit_variance(white: np.ndarray, length_scale: float) -> np.ndarray:
    """Smooth white noise with a periodic Gaussian kernel, keeping unit variance.

    Parameters
    ----------
    white : ndarray, shape (..., H, W)
        Independent standard normal values.
    length_scale : float
        Kernel standard deviation in cells; 0 returns ``white`` unchanged.

    Returns
    -------
    ndarray, shape (..., H, W)
        A stationary field whose every cell is exactly N(0, 1) distributed.  Linear
        in ``white``, so correlations between the leading channels are preserved.
    """
    if length_scale == 0:
        return white
    height, width = white.shape[-2:]
    spectrum = gaussian_spectrum(height, width, float(length_scale))
    return scipy.fft.irfft2(scipy.fft.rfft2(white) * spectrum, s=(height, width))


def equicorrelated_mixing(rho: float, classes: int) -> np.ndarray:
    """Matrix ``A`` with ``A @ A.T`` = the equicorrelation matrix of ``rho``.

    For two classes it is the textbook construction (class 1 = rho * w0 +
    sqrt(1 - rho^2) * w1); for more, the symmetric square root, which exists for
    ``rho >= -1 / (classes - 1)`` (the matrix is positive semi-definite there).
    """
    if classes == 1:
        return np.ones((1, 1))
    if classes == 2:
        return np.array([[1.0, 0.0], [rho, np.sqrt(max(0.0, 1.0 - rho * rho))]])
    ones = np.full((classes, classes), 1.0 / classes)
    return np.sqrt(max(0.0, 1.0 - rho)) * (np.eye(classes) - ones) + np.sqrt(
        max(0.0, 1.0 + (classes - 1) * rho)
    ) * ones


def class_correlation(clean: np.ndarray) -> np.ndarray:
    """Pearson (phi) correlation matrix between the class maps of one sample.

    Parameters
    ----------
    clean : ndarray, shape (C, H, W)
        Binary class maps.

    Returns
    -------
    ndarray, shape (C, C), float64
        ``nan`` in the rows and columns of a class that is all empty or all occupied
        (its correlation is undefined), ``1`` on the rest of the diagonal.
    """
    cells = clean[0].size
    # From counts: exact in float32 while cells < 2**24, and a BLAS product is far
    # cheaper than centring float64 copies of the maps.
    dtype = np.float32 if cells < 2**24 else np.float64
    flat = clean.reshape(clean.shape[0], -1).astype(dtype)
    both = (flat @ flat.T).astype(np.float64)  # n11 for every pair of classes
    ones = np.diag(both)  # n1 per class
    cov = cells * both - np.outer(ones, ones)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    return np.clip(corr, -1.0, 1.0)
