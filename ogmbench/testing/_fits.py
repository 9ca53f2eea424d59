"""The fitted models the estimator checks share, and the small helpers they use."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from ..api import Split
from ._data import tiny_data

__all__ = ["fitted", "fitted_on_val", "Val", "forget", "class_of", "resolve", "differs",
           "difference", "FITS", "fit_seconds"]

# -- fitted models shared by the checks --------------------------------------------------

# Fitting is the slow part for learned estimators, and most checks need a fitted model:
# one fit per (class, params, target, seed, classes) serves them all within the process.
# A failed fit is kept too, so that a slow fit that ends in an error is not repeated.
FITS: OrderedDict[tuple, object] = OrderedDict()
_FITS_KEPT = 16
# Seconds each fit took (by the key of FITS), for check_estimator to say.
FIT_SECONDS: dict[tuple, float] = {}


def fitted(cls, params, target, seed, classes=2):
    """(model, what ``fit`` returned, data): ``cls(**params)`` fitted on :func:`tiny_data`
    (sequences of 3 frames for an estimator that reads the past)."""
    # repr: hyper-parameter values need not be hashable (lists, dicts).
    key = (cls, repr(sorted(params.items())), target, seed, classes)
    if key in FITS:
        FITS.move_to_end(key)
    else:
        data = tiny_data(classes=classes, seed=seed, frames=3 if _reads_past(cls) else 1,
                         white=_knows_model(cls))
        start = time.perf_counter()
        try:
            model = cls(**params)
            FITS[key] = (model, model.fit(data, target=target, seed=seed, device="cpu"), data)
        except Exception as exc:
            FITS[key] = exc
        FIT_SECONDS[key] = time.perf_counter() - start
        while len(FITS) > _FITS_KEPT:
            FITS.popitem(last=False)
    outcome = FITS[key]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _reads_past(cls) -> bool:
    return getattr(cls, "uses_past", False) is True


def _knows_model(cls) -> bool:
    return getattr(cls, "knows_model", False) is True


class Val:
    """The val maps a fitted model is checked on, and how to ask it about some of them."""

    def __init__(self, model, split: Split, target: int):
        self.model, self.target = model, target
        self.noisy = split.load()[0]
        self.warps = split.warps
        self.rho = split.rho

    def predict(self, noisy: np.ndarray, rows=slice(None)) -> np.ndarray:
        """``model.predict`` of ``noisy`` (val rows ``rows``, or maps made from them),
        with their rho for a reference that knows the true model."""
        extra = {"rho": self.rho[rows].copy()} if _knows_model(type(self.model)) else {}
        if self.warps is None:
            return self.model.predict(noisy, self.target, **extra)
        return self.model.predict(noisy, self.target, self.warps[rows].copy(), **extra)


def fitted_on_val(estimator, params, target, seed):
    """(class, the shared fitted model, the val maps it is checked on)."""
    cls, params = resolve(estimator, params)
    model, _, data = fitted(cls, params, target, seed)
    return cls, model, Val(model, data.val, target)


def forget(cls):
    for key in [key for key in FITS if key[0] is cls]:
        del FITS[key]
    for key in [key for key in FIT_SECONDS if key[0] is cls]:
        del FIT_SECONDS[key]


def fit_seconds(cls) -> tuple[int, float]:
    """How many fits of ``cls`` the checks made since it was last forgotten, and their
    seconds together."""
    times = [t for key, t in FIT_SECONDS.items() if key[0] is cls]
    return len(times), sum(times)


def class_of(estimator):
    return estimator if isinstance(estimator, type) else type(estimator)


def resolve(estimator, params):
    """The class and the hyper-parameters to construct it with."""
    if isinstance(estimator, type):
        return estimator, dict(params or {})
    return type(estimator), dict(estimator.get_params() if params is None else params)


def differs(a, b) -> bool:
    try:
        return bool(a != b)
    except Exception:  # e.g. arrays, whose comparison is not one bool
        return a is not b


def difference(actual, desired) -> str:
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    if actual.shape != desired.shape:
        return f"shapes {actual.shape} and {desired.shape}"
    return f"max abs difference {np.max(np.abs(actual - desired), initial=0.0):.3g}"

