"""The fourteen rules every estimator must follow, one function ``check_<rule>`` each.

Each rule is a function ``check_<rule>(estimator, params=None, *, target=0, seed=0)``
that raises :class:`EstimatorCheckError` naming the estimator and the rule; they are
listed, in order, in :data:`ALL_CHECKS`.  The checks raise explicitly rather than use
``assert``, so they keep failing under ``python -O``.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..api import Estimator, check_output
from ._errors import EstimatorCheckError
from ._fits import Val, class_of, difference, differs, fitted, fitted_on_val, resolve

__all__ = [
    "ALL_CHECKS", "check_is_estimator_subclass", "check_params_have_defaults",
    "check_param_grid_names_params", "check_declared_params", "check_uses_prior_is_bool",
    "check_uses_past_is_bool", "check_get_params_reads_back", "check_fit_returns_self",
    "check_predict_output", "check_predict_leaves_input_unchanged", "check_batch_independence",
    "check_same_seed_same_numbers", "check_zeroed_prior", "check_one_class_stack",
]

_CHECK_PARAMETERS = """
    Parameters
    ----------
    estimator : Estimator subclass or instance
        An instance contributes its current hyper-parameters.
    params : dict, optional
        Hyper-parameters to construct with, instead of the defaults or the instance's.
    target : int
        Target class index.
    seed : int
        Seed of the tiny data and of ``fit``.

    Raises
    ------
    EstimatorCheckError
        If the estimator breaks the rule.
"""


def _rule(check):
    # The one-line docstring in the source states the rule; the shared sections are added
    # here (not under -OO, where docstrings are None).
    if check.__doc__:
        check.__doc__ = check.__doc__.rstrip() + "\n" + _CHECK_PARAMETERS
    return check


# -- the rules, in the order they are checked ----------------------------------------------


@_rule
def check_is_estimator_subclass(estimator, params=None, *, target=0, seed=0):
    """The class subclasses :class:`ogmbench.api.Estimator`."""
    cls = class_of(estimator)
    if not issubclass(cls, Estimator):
        raise EstimatorCheckError(f"{cls.__name__} must subclass ogmbench.api.Estimator")


@_rule
def check_params_have_defaults(estimator, params=None, *, target=0, seed=0):
    """Every hyper-parameter of ``__init__`` is a keyword with a default."""
    cls = class_of(estimator)
    missing = [key for key, value in cls.default_params().items()
               if value is inspect.Parameter.empty]
    if missing:
        raise EstimatorCheckError(f"{cls.__name__}: hyper-parameter(s) "
                                  f"{', '.join(map(repr, missing))} need a default")


@_rule
def check_param_grid_names_params(estimator, params=None, *, target=0, seed=0):
    """Every key of ``param_grid`` is a hyper-parameter of ``__init__``."""
    cls = class_of(estimator)
    defaults = cls.default_params()
    unknown = [key for key in cls.param_grid if key not in defaults]
    if unknown:
        raise EstimatorCheckError(f"{cls.__name__}.param_grid names "
                                  f"{', '.join(map(repr, unknown))}, not parameters of __init__")


@_rule
def check_declared_params(estimator, params=None, *, target=0, seed=0):
    """``hyper`` declares only ``__init__`` parameters and admits their defaults and grid."""
    cls = class_of(estimator)
    defaults = cls.default_params()
    unknown = [key for key in cls.hyper if key not in defaults]
    if unknown:
        raise EstimatorCheckError(f"{cls.__name__}.hyper declares "
                                  f"{', '.join(map(repr, unknown))}, not parameters of __init__")
    tried = [(key, defaults[key]) for key in cls.hyper]
    tried += [(key, value) for key, values in cls.param_grid.items() for value in values]
    for key, value in tried:
        try:
            cls.check_params({key: value})
        except ValueError as exc:
            raise EstimatorCheckError(f"{cls.__name__}.hyper refuses its own default or grid "
                                      f"value: {exc}") from None


@_rule
def check_uses_prior_is_bool(estimator, params=None, *, target=0, seed=0):
    """``uses_prior`` is a bool."""
    cls = class_of(estimator)
    if not isinstance(cls.uses_prior, bool):
        raise EstimatorCheckError(f"{cls.__name__}.uses_prior must be a bool, "
                                  f"got {type(cls.uses_prior).__name__}")


@_rule
def check_uses_past_is_bool(estimator, params=None, *, target=0, seed=0):
    """``uses_past`` is a bool."""
    cls = class_of(estimator)
    if not isinstance(cls.uses_past, bool):
        raise EstimatorCheckError(f"{cls.__name__}.uses_past must be a bool, "
                                  f"got {type(cls.uses_past).__name__}")


@_rule
def check_get_params_reads_back(estimator, params=None, *, target=0, seed=0):
    """``get_params()`` reads back the constructor's arguments (defaults included)."""
    cls, params = resolve(estimator, params)
    expected = {**cls.default_params(), **params}
    got = cls(**params).get_params()
    if got != expected:
        missing = object()
        wrong = [f"{key}={got.get(key, '<missing>')!r}, expected {expected.get(key, '<missing>')!r}"
                 for key in sorted(expected.keys() | got.keys())
                 if differs(got.get(key, missing), expected.get(key, missing))]
        raise EstimatorCheckError(f"{cls.__name__}.get_params() does not read back the "
                                  f"constructor's arguments: {'; '.join(wrong)}")


@_rule
def check_fit_returns_self(estimator, params=None, *, target=0, seed=0):
    """``fit`` returns the estimator itself."""
    cls, params = resolve(estimator, params)
    model, returned, _ = fitted(cls, params, target, seed)
    if returned is not model:
        got = "None" if returned is None else f"another object ({type(returned).__name__})"
        raise EstimatorCheckError(f"{cls.__name__}.fit must return self, returned {got}")


@_rule
def check_predict_output(estimator, params=None, *, target=0, seed=0):
    """``predict`` returns (B, H, W) float32, finite, in [0, 1], for a batch and a batch of one."""
    cls, model, val = fitted_on_val(estimator, params, target, seed)
    for rows in (slice(None), slice(0, 1)):
        batch = val.noisy[rows]
        out = val.predict(batch.copy(), rows)
        try:
            check_output(out, batch)
        except ValueError as exc:
            raise EstimatorCheckError(f"{cls.__name__}.{exc} (batch of {len(batch)})") from None


@_rule
def check_predict_leaves_input_unchanged(estimator, params=None, *, target=0, seed=0):
    """``predict`` does not modify its input."""
    cls, model, val = fitted_on_val(estimator, params, target, seed)
    noisy = val.noisy
    given = noisy.copy()
    val.predict(given)
    if not np.array_equal(given, noisy):
        changed = np.count_nonzero(given != noisy)
        raise EstimatorCheckError(f"{cls.__name__}.predict modified its input "
                                  f"({changed} of {noisy.size} values changed)")


@_rule
def check_batch_independence(estimator, params=None, *, target=0, seed=0):
    """A sample's estimate does not depend on the rest of its batch (atol 1e-5)."""
    cls, model, val = fitted_on_val(estimator, params, target, seed)
    noisy = val.noisy
    out = val.predict(noisy.copy())
    single = val.predict(noisy[:1].copy(), slice(0, 1))
    try:
        np.testing.assert_allclose(single[0], out[0], atol=1e-5)
    except AssertionError:
        raise EstimatorCheckError(
            f"{cls.__name__}: a sample's estimate depends on the rest of its batch "
            f"(alone vs. in a batch of {len(noisy)}: {difference(single[0], out[0])}, "
            f"atol 1e-5)") from None


@_rule
def check_same_seed_same_numbers(estimator, params=None, *, target=0, seed=0):
    """Fitting twice with the same seed gives the same estimate, exactly."""
    cls, params = resolve(estimator, params)
    model, _, data = fitted(cls, params, target, seed)
    val = Val(model, data.val, target)
    out = val.predict(val.noisy.copy())
    # A fresh fit, never the shared one; predict on the model, not on what fit returned, so
    # that a fit not returning self fails check_fit_returns_self only.
    again_model = cls(**params)
    again_model.fit(data, target=target, seed=seed, device="cpu")
    again = Val(again_model, data.val, target).predict(val.noisy.copy())
    try:
        np.testing.assert_array_equal(again, out)
    except AssertionError:
        raise EstimatorCheckError(f"{cls.__name__}: not deterministic for one seed (two fits "
                                  f"with seed {seed}: {difference(again, out)})") from None


@_rule
def check_zeroed_prior(estimator, params=None, *, target=0, seed=0):
    """``predict`` returns a valid estimate when every prior class (and past frame) is zero."""
    cls, model, val = fitted_on_val(estimator, params, target, seed)
    zeroed = val.noisy.copy()
    zeroed[..., [k for k in range(zeroed.shape[-3]) if k != target], :, :] = 0.0
    if zeroed.ndim == 5:
        zeroed[:, :-1, target] = 0.0
    out = val.predict(zeroed)
    try:
        check_output(out, zeroed)
    except ValueError as exc:
        raise EstimatorCheckError(f"{cls.__name__}.{exc} for a zeroed prior") from None


@_rule
def check_one_class_stack(estimator, params=None, *, target=0, seed=0):
    """``fit`` and ``predict`` work on a stack without prior classes (C = 1)."""
    cls, params = resolve(estimator, params)
    model, _, alone = fitted(cls, params, 0, seed, classes=1)
    val = Val(model, alone.val, 0)
    noisy = val.noisy
    out = val.predict(noisy.copy())
    try:
        check_output(out, noisy)
    except ValueError as exc:
        raise EstimatorCheckError(f"{cls.__name__}.{exc} for a stack without prior classes "
                                  f"(C = 1)") from None


ALL_CHECKS = (
    check_is_estimator_subclass,
    check_params_have_defaults,
    check_param_grid_names_params,
    check_declared_params,
    check_uses_prior_is_bool,
    check_uses_past_is_bool,
    check_get_params_reads_back,
    check_fit_returns_self,
    check_predict_output,
    check_predict_leaves_input_unchanged,
    check_batch_independence,
    check_same_seed_same_numbers,
    check_zeroed_prior,
    check_one_class_stack,
)
"""Every check, in the order :func:`check_estimator` runs them."""
