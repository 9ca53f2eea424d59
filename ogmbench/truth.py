"""The true generative model of a store, as a reference estimator reads it.

A reference that knows the model (``Estimator.knows_model``: the Bayes-optimal one) is
handed a :class:`TrueModel` at fit and each sample's rho at predict; nothing else in a run
sees it, and a submission never does (only built-in estimators may declare
``knows_model``: :func:`ogmbench.eval_config.check_specs`).  The family computes the
posterior (its ``Model.posterior``) from the noise model's per-cell likelihood (its
``Model.cell_loglik``); a store whose family or noise declares neither is refused in
one line naming what is supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import numpy as np

from .errors import ConfigError
from .generators import FAMILIES, NOISE_MODELS, ParamError

__all__ = ["TrueModel", "supported", "readable"]


def supported() -> str:
    """The families and noise models a Bayes-optimal reference can read, in words."""
    families = ", ".join(name for name, m in FAMILIES.items() if m.posterior) or "none"
    noises = ", ".join(name for name, m in NOISE_MODELS.items() if m.cell_loglik) or "none"
    return f"family {families} under one noise model of {noises}"


def readable(make: Callable[[], Any], cls: type | None = None) -> bool:
    """Whether ``make()`` (a :class:`TrueModel` constructor call) gives a model rather than
    refusing, one that serves estimator class ``cls`` if given (:meth:`TrueModel.check`):
    where a reference that knows the model can run."""
    try:
        model = make()
        if cls is not None:
            model.check(cls)
    except ConfigError:
        return False
    return True


@dataclass(frozen=True)
class TrueModel:
    """A store's family and noise with the posterior they make computable.

    Attributes
    ----------
    family, noise : str
        The store's family and noise spec, as it records them.
    classes : int
    rho_values : tuple of float
        The rho values the store draws its samples at (as many at each), for a posterior
        that infers a sample's rho rather than reads it.
    rho_refusal : str
        Why the posterior cannot infer a sample's rho, empty where it can (the family's
        posterior says so: its ``rho_refusal``).
    """

    family: str
    noise: str
    classes: int
    _posterior: Callable[..., np.ndarray]
    _loglik: Callable[..., np.ndarray]
    rho_values: tuple[float, ...] = ()
    rho_refusal: str = ""

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "TrueModel":
        """The model a store's attributes record (see :meth:`of` for what is refused)."""
        return cls.of(attrs.get("family"), attrs.get("family_params", {}),
                      attrs.get("config", {}).get("noise_steps", []), int(attrs["classes"]),
                      str(attrs.get("noise")), tuple(attrs.get("rho_values", ())),
                      int(attrs.get("frames", 1)), attrs.get("size"))

    @classmethod
    def of(cls, family: str, params: dict[str, Any], steps: list, classes: int,
           noise: str = "", rho_values: tuple[float, ...] = (), frames: int = 1,
           size=None) -> "TrueModel":
        """The model of a family with its parameters under resolved noise ``steps``, on
        maps of ``size`` (height, width; None: not checked).

        Raises
        ------
        ConfigError
            Naming what a Bayes-optimal reference supports, for sequences (``frames`` >
            1), a family without a posterior, a noise without a per-cell likelihood,
            composed noise, or parameters the family's posterior or the noise's
            likelihood cannot handle.
        """
        if frames > 1:
            raise ConfigError(f"the Bayes-optimal reference reads single maps; this store of "
                              f"{family} holds sequences")
        model = FAMILIES.get(family)
        noise = noise or "+".join(name for name, _ in steps)
        if model is None or model.posterior is None or len(steps) != 1 or \
                NOISE_MODELS[steps[0][0]].cell_loglik is None:
            raise ConfigError(f"the Bayes-optimal reference reads {supported()}; this is "
                              f"{family} under {noise}")
        name, noise_params = steps[0]
        loglik = partial(NOISE_MODELS[name].cell_loglik, **noise_params)
        try:
            posterior = model.posterior(params, classes, size)
            loglik(np.zeros((1, classes, 1, 1)), np.zeros((1, classes)), list(range(classes)))
        except ParamError as exc:
            raise ConfigError(f"the Bayes-optimal reference: {exc}") from None
        return cls(family, noise, classes, posterior, loglik,
                   tuple(float(r) for r in rho_values),
                   getattr(posterior, "rho_refusal", ""))

    def check(self, estimator: type) -> None:
        """Refuse an estimator class that asks more of the model than it gives.

        Raises
        ------
        ConfigError
            For a reference that infers rho (``infers_rho``) where the posterior cannot.
        """
        if getattr(estimator, "infers_rho", False) and self.rho_refusal:
            raise ConfigError(self.rho_refusal)

    def posterior(self, noisy: np.ndarray, rho: np.ndarray, target: int,
                  prior: bool, infer_rho: bool = False) -> np.ndarray:
        """P(target occupied | noisy maps) per cell: the posterior mean.

        Parameters
        ----------
        noisy : ndarray, shape (B, C, H, W)
        rho : ndarray, shape (B,)
            Each sample's rho, as the store records it.
        target : int
        prior : bool
            Read the other classes' noisy maps too (else the target's alone).
        infer_rho : bool
            Do not read ``rho``: infer each sample's among :attr:`rho_values` from its
            noisy maps (the posterior of an estimator not told rho).

        Returns
        -------
        ndarray of float32, shape (B, H, W)
        """
        if noisy.shape[1] != self.classes:
            raise ValueError(f"the model has {self.classes} classes, got {noisy.shape[1]}")
        if infer_rho and not self.rho_values:
            raise ValueError("inferring rho needs the store's rho values")
        out = self._posterior(noisy, np.asarray(rho, np.float64), target, self._loglik, prior,
                              self.rho_values if infer_rho else None)
        return np.clip(out, 0.0, 1.0).astype(np.float32)
