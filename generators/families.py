"""Scene families: clean multi-class occupancy maps with a correlation knob ``rho``.

Every family is ``family(rng, rho, size, **params) -> clean`` with ``clean`` a
``uint8`` array of shape (C, H, W) holding 0 and 1.  Each family declares itself in its
own module, a :class:`~ogmbench.generators.Model` with its parameters, defaults and
ranges, its classes, its sequences and what ``ogmbench info`` and ``info --calibration``
read (a closed-form phi, its object classes): ``field`` here (:data:`FIELD`), ``urban``
in its package.  :data:`FAMILIES` registers them (``ogmbench.testing.check_family``
checks each).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import scipy.fft
from scipy.special import ndtri

from ._fields import gaussian_spectrum, equicorrelated_mixing, smooth_unit_variance
from ._params import Model, Param, ParamError, check_rho, check_size, per_class
from ._portable import exp
from ._posterior import white_posterior
from ._smooth_posterior import smooth_posterior
from .urban import MODEL as URBAN
from .urban import urban, urban_sequence

__all__ = ["field", "field_sequence", "urban", "urban_sequence", "field_expected_phi",
           "field_expected_temporal_phi", "FAMILIES", "DEFAULT_FAMILY", "check_rho",
           "check_size"]


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
    keep = exp(-dt / tau)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    # Complex: numpy's complex exp has no SIMD kernels (the same bits everywhere, measured).
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
                                     else exp(-lag2 / (4.0 * length_scale ** 2)))
    return field_expected_phi(float(exp(-dt / tau) * spatial), occupancy, occupancy)


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


def _first_two(value) -> list:
    """A recorded per-class value (a list) or one for all classes, for two classes."""
    return value if isinstance(value, list) else [value, value]


def _expected_phi(rho, params, classes) -> float:
    """:func:`field_expected_phi` of the first two classes of a store's parameters."""
    occ = _first_two(params["occupancy"])
    return field_expected_phi(rho, occ[0], occ[1])


def _expected_temporal_phi(params, sequence, classes) -> list[float]:
    """:func:`field_expected_temporal_phi` of every class of a store's parameters."""
    occ = params["occupancy"]
    occ = occ if isinstance(occ, list) else [occ] * int(classes)
    return [field_expected_temporal_phi(sequence["dt"], sequence["drift_y"], sequence["drift_x"],
                                        sequence["tau"], params["length_scale"], o) for o in occ]


# The sampled posterior's cost grows with the square of the cells (every wall event
# touches every cell): 64x64 maps take minutes per sample (benchmarks/field_sampler.py).
SAMPLED_CELLS = 64 * 64


def _posterior(params, classes, size=None):
    """The ``field`` posterior for a store's parameters (``Model.posterior``).

    Exact per cell for white fields; sampled (:mod:`._smooth_posterior`, with numba) for
    smooth ones (``length_scale`` > 0), on maps of at most :data:`SAMPLED_CELLS` cells,
    with each sample's rho read (inferring it would need each rho's evidence, which
    the sampler does not estimate).
    """
    occupancy = per_class(params["occupancy"], int(classes))
    length_scale = float(params["length_scale"])
    if length_scale == 0:
        def posterior(noisy, rho, target, loglik, prior, grid=None):
            return white_posterior(noisy, rho, target, occupancy, loglik, prior, grid)

        return posterior
    if importlib.util.find_spec("numba") is None:
        raise ParamError("the field posterior on smooth fields (length_scale > 0) is "
                         "sampled with numba, which is not installed: pip install "
                         "'ogmbench[bayes]'")
    if size is not None and int(np.prod(size)) > SAMPLED_CELLS:
        raise ParamError(f"the field posterior on smooth fields is sampled on maps of at "
                         f"most {SAMPLED_CELLS} cells (its cost grows with their square), "
                         f"got {'x'.join(str(s) for s in size)}")

    def sampled(noisy, rho, target, loglik, prior, grid=None):
        if grid is not None:
            raise ParamError(sampled.rho_refusal)
        return smooth_posterior(noisy, rho, target, occupancy, length_scale, loglik,
                                prior).mean

    sampled.rho_refusal = ("the field posterior infers a sample's rho only on white fields "
                           "(length_scale 0): on smooth ones each rho's evidence would "
                           "have to be estimated")
    return sampled


FIELD = Model(
    name="field",
    func=field,
    doc="Gaussian copula: thresholded smooth random fields, latent correlation rho "
    "(C > 2: equicorrelated, rho >= -1/(C-1))",
    params=(
        Param(name="length_scale", default=4.0, lo=0.0,
              doc="kernel sigma in cells (periodic field)"),
        Param(name="occupancy", default=0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True,
              per_class=True, doc="expected occupied fraction per class"),
    ),
    sequence=field_sequence,
    motion=(
        Param(name="drift_y", default=0.0, lo=-1000.0, hi=1000.0,
              doc="the fields' drift down the rows, cells per second"),
        Param(name="drift_x", default=2.0, lo=-1000.0, hi=1000.0,
              doc="the fields' drift along the columns, cells per second"),
        Param(name="tau", default=4.0, lo=0.0, lo_open=True, hi=1e9,
              doc="seconds for the fields to decorrelate (AR(1): exp(-dt/tau) per frame)"),
    ),
    expected_phi=_expected_phi,
    expected_temporal_phi=_expected_temporal_phi,
    posterior=_posterior,
)

# Every family, in the order ``ogmbench list`` shows them; each declares itself in its
# own module (a Model: parameters, classes, sequences, what info and calibration read).
FAMILIES: dict[str, Model] = {model.name: model for model in (FIELD, URBAN)}
# What ``ogmbench generate`` draws unless told otherwise.
DEFAULT_FAMILY = FIELD.name
