"""Scene families: clean multi-class occupancy maps with a correlation knob ``rho``.

Every family is ``family(rng, rho, size, **params) -> clean`` with ``clean`` a
``uint8`` array of shape (C, H, W) holding 0 and 1.  Each family is declared in
:data:`FAMILIES` with its parameters, defaults and ranges.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.special import ndtri

from ._fields import gaussian_spectrum, equicorrelated_mixing, smooth_unit_variance
from ._params import Model, Param, check_rho, check_size, per_class
from .urban import CLASSES, DEFAULT_CLASSES, FOOTPRINTS, urban, urban_sequence
from .urban import check_span as urban_check_span
from .urban import check_world as urban_check_world
from .urban import noise_defaults as urban_noise_defaults

__all__ = ["field", "field_sequence", "urban", "urban_sequence", "field_expected_phi",
           "field_expected_temporal_phi", "FAMILIES", "SEQUENCE", "check_rho", "check_size"]


# --------------------------------------------------------------------------- field


def field(rng, rho, size, *, classes=2, length_scale=4.0, occupancy=0.5):
    """Thresholded Gaussian random fields whose latent correlation is exactly ``rho``.

    White noise is mixed so that every pair of classes has per-cell correlation
    ``rho`` (equicorrelated classes; for two classes class 1 = rho * w0 +
    sqrt(1 - rho^2) * w1), smoothed by a common periodic Gaussian kernel (which keeps
    that correlation), and each class is thresholded at the normal quantile giving
    its occupancy.  The expected phi coefficient between two classes is then the
    bivariate-normal orthant formula, see :func:`field_expected_phi`.

    Parameters
    ----------
    rng : numpy.random.Generator
    rho : float
        Latent correlation in [-1, 1]; with C > 2 classes, in [-1/(C-1), 1].
    size : int or (int, int)
    classes : int
    length_scale : float
        Kernel standard deviation in cells (0: white noise). The field is periodic.
    occupancy : float or tuple of float
        Expected occupied fraction, one value or one per class.

    Returns
    -------
    ndarray of uint8, shape (classes, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> clean = field(np.random.default_rng(0), 0.9, 32, length_scale=2.0)
    >>> clean.shape, clean.dtype
    ((2, 32, 32), dtype('uint8'))
    """
    height, width = check_size(size)
    rho = check_rho(rho, classes)
    occ = per_class(occupancy, classes)
    white = rng.standard_normal((classes, height, width))
    latent = smooth_unit_variance(white, length_scale)
    latent = np.tensordot(equicorrelated_mixing(rho, classes), latent, axes=1)
    threshold = ndtri(1.0 - occ)[:, None, None]
    return (latent > threshold).astype(np.uint8)


def field_sequence(rng, rho, size, *, frames, dt=0.5, drift_y=0.0, drift_x=2.0, tau=4.0,
                   classes=2, length_scale=4.0, occupancy=0.5):
    """A ``field`` scene over ``frames`` frames: the latent fields drift and decorrelate.

    Frame 0 is :func:`field` with the same ``rng``.  Each class's latent field then moves
    by (``drift_y``, ``drift_x``) cells per second (a phase shift: exact on the periodic
    grid) and is renewed as an AR(1) process, ``Z_t = a * shift(Z_{t-1}) + sqrt(1 - a^2) *
    W_t`` with ``a = exp(-dt / tau)`` and ``W_t`` a fresh field of the same kernel, so every
    frame has the same marginal law and the same correlation ``rho`` between classes.
    The ego does not move: every pose is the grid's centre, with resolution one metre per
    cell.  The expected frame-to-frame phi is :func:`field_expected_temporal_phi`.

    Returns
    -------
    clean : ndarray of uint8, shape (frames, classes, H, W)
    poses : ndarray of float64, shape (frames, 3)
    """
    height, width = check_size(size)
    rho = check_rho(rho, classes)
    occ = per_class(occupancy, classes)
    white = rng.standard_normal((classes, height, width))
    latent = smooth_unit_variance(white, length_scale)
    mixing = equicorrelated_mixing(rho, classes)
    threshold = ndtri(1.0 - occ)[:, None, None]
    keep = np.exp(-dt / tau)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    phase = np.exp(-2j * np.pi * (fy * drift_y * dt + fx * drift_x * dt))
    spectrum = (gaussian_spectrum(height, width, float(length_scale)) if length_scale
                else np.ones_like(phase.real))
    out = np.empty((frames, classes, height, width), np.uint8)
    current = scipy.fft.rfft2(latent)
    for t in range(frames):
        if t:
            fresh = scipy.fft.rfft2(rng.standard_normal((classes, height, width))) * spectrum
            current = keep * current * phase + np.sqrt(1.0 - keep * keep) * fresh
            latent = scipy.fft.irfft2(current, s=(height, width))
        out[t] = np.tensordot(mixing, latent, axes=1) > threshold
    poses = np.tile([height / 2.0, width / 2.0, 0.0], (frames, 1))
    return out, poses


def field_expected_temporal_phi(dt=0.5, drift_y=0.0, drift_x=2.0, tau=4.0, length_scale=4.0,
                                occupancy=0.5) -> float:
    """Expected phi between a ``field`` class's consecutive frames at the same cell.

    The latent correlation is ``exp(-dt / tau) * exp(-d^2 / (4 s^2))`` with ``d`` the
    drift in cells between frames and ``s`` the length scale (the autocorrelation of a
    Gaussian-smoothed white field at lag ``d``, exact on an unbounded grid and close on
    the periodic one when ``s`` is well below the map size), turned into phi by the
    orthant formula of :func:`field_expected_phi`.
    """
    lag2 = (drift_y * dt) ** 2 + (drift_x * dt) ** 2
    spatial = 1.0 if lag2 == 0 else (0.0 if length_scale == 0
                                     else np.exp(-lag2 / (4.0 * length_scale ** 2)))
    return field_expected_phi(float(np.exp(-dt / tau) * spatial), occupancy, occupancy)


def field_expected_phi(rho: float, occupancy_a: float = 0.5, occupancy_b: float = 0.5) -> float:
    """Expected phi coefficient between two ``field`` classes (closed form).

    The joint occupancy is the bivariate normal orthant probability
    P(Z_a > t_a, Z_b > t_b) with correlation ``rho``; for occupancies 0.5 this is
    (2 / pi) * arcsin(rho).
    """
    from scipy.stats import multivariate_normal

    pa, pb = occupancy_a, occupancy_b
    ta, tb = ndtri(1.0 - pa), ndtri(1.0 - pb)
    if rho >= 1.0:  # Z_b = Z_a: both occupied iff Z > max(t_a, t_b)
        joint = min(pa, pb)
    elif rho <= -1.0:  # Z_b = -Z_a: both occupied iff t_a < Z < -t_b
        joint = max(0.0, pa + pb - 1.0)
    else:
        # P(Z_a > t_a, Z_b > t_b) = P(-Z_a < -t_a, -Z_b < -t_b), and (-Z_a, -Z_b) has
        # the same correlation.
        joint = multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]]).cdf([-ta, -tb])
    return float((joint - pa * pb) / np.sqrt(pa * (1 - pa) * pb * (1 - pb)))


FAMILIES: dict[str, Model] = {
    "field": Model(
        name="field",
        func=field,
        doc="Gaussian copula: thresholded smooth random fields, latent correlation rho "
        "(C > 2: equicorrelated, rho >= -1/(C-1))",
        params=(
            Param("length_scale", 4.0, lo=0.0, doc="kernel sigma in cells (periodic field)",
                  per_class=False),
            Param("occupancy", 0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                  doc="expected occupied fraction per class"),
        ),
        sequence=field_sequence,
        motion=(
            Param("drift_y", 0.0, lo=-1000.0, hi=1000.0, per_class=False,
                  doc="the fields' drift down the rows, cells per second"),
            Param("drift_x", 2.0, lo=-1000.0, hi=1000.0, per_class=False,
                  doc="the fields' drift along the columns, cells per second"),
            Param("tau", 4.0, lo=0.0, lo_open=True, hi=1e9, per_class=False,
                  doc="seconds for the fields to decorrelate (AR(1): exp(-dt/tau) per frame)"),
        ),
    ),
    "urban": Model(
        name="urban",
        func=urban,
        doc="metric street scene around an ego vehicle: vehicles and pedestrians follow "
        "the lanes and walkways of a road network by rho",
        class_names=CLASSES,
        default_classes=DEFAULT_CLASSES,
        noise_defaults=urban_noise_defaults,
        check_size=urban_check_span,
        params=(
            Param("resolution", 0.5, lo=0.01, hi=2.0, per_class=False,
                  doc="metres per cell"),
            Param("roads", 3.3, lo=0.0, hi=20.0, per_class=False,
                  doc="mean through roads per 100 m of map side (the ego's road is one)"),
            Param("branches", 3.3, lo=0.0, hi=50.0, per_class=False,
                  doc="mean side streets per 100 m of map side"),
            Param("lanes", 4, lo=1, hi=12, kind=int, per_class=False,
                  doc="lanes per road, half in each direction"),
            Param("lane_width", 3.5, lo=0.0, lo_open=True, per_class=False, doc="metres"),
            Param("walkway_width", 3.5, lo=0.0, per_class=False,
                  doc="metres, on each side of a road"),
            Param("crossing_width", 4.0, lo=0.0, lo_open=True, per_class=False,
                  doc="metres along the road"),
            Param("crossings", 0.2, lo=0.0, hi=1.0, per_class=False,
                  doc="probability that a junction's arm has a pedestrian crossing"),
            Param("cars", 23.0, lo=0.0, hi=1e4, per_class=False, doc="mean count per hectare"),
            Param("trucks", 2.9, lo=0.0, hi=1e4, per_class=False, doc="mean count per hectare"),
            Param("buses", 0.5, lo=0.0, hi=1e4, per_class=False, doc="mean count per hectare"),
            Param("pedestrians", 25.0, lo=0.0, hi=1e4, per_class=False,
                  doc="mean count per hectare"),
            *(Param(f"{kind}_{side}", value, lo=0.0, lo_open=True, hi=100.0, per_class=False,
                    doc=f"mean {kind} {side} in metres")
              for kind, (length, breadth) in FOOTPRINTS.items()
              for side, value in (("length", length), ("width", breadth))),
            Param("size_spread", 0.1, lo=0.0, hi=1.0, per_class=False,
                  doc="std of the log of an object's length and width"),
        ),
        sequence=urban_sequence,
        check_motion=urban_check_world,
        motion=(
            Param("speed", 10.0, lo=0.0, hi=60.0, per_class=False, doc="the ego's speed, m/s"),
            Param("yaw_rate", 0.0, lo=-180.0, hi=180.0, per_class=False,
                  doc="the ego's turn rate, degrees per second"),
            Param("vehicle_speed", 8.0, lo=0.0, hi=60.0, per_class=False,
                  doc="mean speed of the other vehicles, m/s (each: a uniform factor in [0, 2])"),
            Param("pedestrian_speed", 1.4, lo=0.0, hi=10.0, per_class=False,
                  doc="mean walking speed, m/s (each: a uniform factor in [0, 2])"),
        ),
    ),
}

