"""The ``gaussian`` noise model: additive Gaussian noise on probabilities."""

from __future__ import annotations

import numpy as np

from .._params import Model, Param, ParamError, per_class
from ._common import P01, of_classes, shared_normal

__all__ = ["gaussian", "gaussian_memory", "gaussian_loglik", "MODEL"]


def gaussian(rng, x, *, sigma=0.3, kappa=0.0):
    """Additive Gaussian noise on probabilities (not clipped, so values leave [0, 1]).

    Parameters
    ----------
    sigma : float or tuple
        Standard deviation, one value or one per class.
    kappa : float
        Correlation of the noise between classes (a shared component), in [0, 1].
    """
    return _add(x, sigma, shared_normal(rng, x.shape, kappa))


def gaussian_memory(rng, x, carried, memory, *, sigma=0.3, kappa=0.0):
    """:func:`gaussian` for one frame of a sequence whose noise persists in each cell.

    ``n_t = memory * n_{t-1} + sqrt(1 - memory^2) * e_t`` with ``e_t`` the frame's fresh
    draw and ``n_{t-1}`` the unit noise ``carried`` from the previous frame (None at the
    first): every frame keeps its marginal law and consecutive frames' noise in a cell
    has correlation ``memory``.  Returns ``(noisy, n_t)``.
    """
    unit = shared_normal(rng, x.shape, kappa)
    if carried is not None:
        unit = (memory * carried + np.sqrt(1.0 - memory ** 2) * unit).astype(np.float32)
    return _add(x, sigma, unit), unit


def _add(x, sigma, unit):
    """``x`` plus unit noise scaled by each class's ``sigma``."""
    return (x + per_class(sigma, x.shape[0])[:, None, None] * unit).astype(np.float32)


def gaussian_loglik(noisy, states, classes, *, sigma=0.3, kappa=0.0):
    """Log-likelihood of the noisy maps of ``classes`` for each occupancy state, per cell.

    The noise of a cell is normal with covariance ``diag(sigma) (kappa 11' + (1 - kappa)
    I) diag(sigma)`` over the classes, and independent between cells.

    Parameters
    ----------
    noisy : ndarray, shape (B, K, H, W)
        The noisy maps of the K classes named by ``classes``.
    states : ndarray, shape (S, K)
    classes : sequence of int
        Which of the store's classes ``noisy`` holds (to pick their ``sigma``).

    Returns
    -------
    ndarray of float64, shape (S, B, H, W)
        Up to a constant that does not depend on the state.
    """
    k = len(classes)
    if k > 1 and kappa >= 1.0:
        raise ParamError("gaussian noise with kappa = 1 is the same in every class: its "
                         "likelihood has no density")
    scale = of_classes(sigma, classes)
    cov = scale[:, None] * scale[None, :] * (kappa + (1.0 - kappa) * np.eye(k))
    precision = np.linalg.inv(cov)
    y = np.asarray(noisy, np.float64)
    out = np.empty((len(states), y.shape[0], *y.shape[2:]))
    for i, state in enumerate(np.asarray(states, np.float64)):
        d = y - state[None, :, None, None]
        # Term by term rather than einsum: the same bits on every CPU.
        quad = np.zeros(out.shape[1:])
        for m in range(k):
            for n in range(k):
                quad += d[:, m] * precision[m, n] * d[:, n]
        out[i] = -0.5 * quad
    return out


MODEL = Model(
    "gaussian", gaussian,
    doc="additive Gaussian noise on probabilities (not clipped)",
    params=(
        Param(name="sigma", default=0.3, lo=0.0, lo_open=True, per_class=True,
              doc="standard deviation"),
        Param(name="kappa", default=0.0, **P01, doc="noise correlation between classes"),
    ),
    memory_step=gaussian_memory,
    bounded=False,
    cell_loglik=gaussian_loglik,
)
