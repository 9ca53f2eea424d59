"""``check_estimator``: the conformance checks every estimator must pass.

Run them on your estimator before submitting::

    from ogmbench.testing import check_estimator
    check_estimator(MyEstimator)    # EstimatorCheckError listing every broken rule, else True

or get one pytest test per rule::

    from ogmbench.testing import parametrize_with_checks

    @parametrize_with_checks([MyEstimator])
    def test_ogmbench(estimator, check):
        check(estimator)

Each rule is a function ``check_<rule>(estimator, params=None, *, target=0, seed=0)``
that raises :class:`EstimatorCheckError` naming the estimator and the rule; they are
listed, in order, in :data:`ALL_CHECKS`.  The checks raise explicitly rather than use
``assert``, so they keep failing under ``python -O``.  (Over 400 lines on purpose: the
fourteen rules, each with a message that says what broke, in one file a submitter reads.)
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict

import numpy as np

from .api import Estimator, FitData, Split, check_output

__all__ = [
    "EstimatorCheckError", "ALL_CHECKS", "check_estimator", "parametrize_with_checks",
    "tiny_data",
    "check_is_estimator_subclass", "check_params_have_defaults", "check_param_grid_names_params",
    "check_declared_params",
    "check_uses_prior_is_bool", "check_uses_past_is_bool", "check_get_params_reads_back", "check_fit_returns_self",
    "check_predict_output", "check_predict_leaves_input_unchanged", "check_batch_independence",
    "check_same_seed_same_numbers", "check_zeroed_prior", "check_one_class_stack",
]


class EstimatorCheckError(AssertionError):
    """An estimator breaks a rule of the protocol.

    A subclass of ``AssertionError``, so that ``pytest.raises(AssertionError)`` and
    test runners treat it as a failed check rather than a crash.

    Parameters
    ----------
    message : str
        Names the estimator and the broken rule (for :func:`check_estimator`: every
        broken rule, one a line).
    failures : dict, optional
        Check name -> message of each failed check (set by :func:`check_estimator`).
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None):
        super().__init__(message)
        self.failures = dict(failures or {})


def tiny_data(classes: int = 2, n: int = 12, size: int = 24, seed: int = 0,
              frames: int = 1) -> FitData:
    """A small train/val pair from the ``field`` family with Gaussian noise (no store).

    Parameters
    ----------
    classes : int
        Classes per stack (1: no prior class).
    n : int
        Train samples; val has ``max(2, n // 3)``.
    size : int
        Map side in cells.
    seed : int
        Seed of the maps and the noise.
    frames : int
        Frames per sample.  Above 1, sequences (what an estimator that reads the past is
        given): the fields drift one cell a frame along x, which their warps describe
        as the ego moving the other way (so past frames align only once warped).

    Returns
    -------
    FitData
    """
    from .generators import apply_noise, field, field_sequence, warps_to_last
    from .generators.noise import NOISE_MODELS

    rng = np.random.default_rng(seed)
    steps = [("gaussian", NOISE_MODELS["gaussian"].resolve({"sigma": "0.4"}, classes))]
    # One cell a frame (drift_x * dt); poses in metres at one metre per cell.
    motion = dict(dt=0.5, drift_x=2.0, tau=20.0)
    poses = np.stack([np.full(frames, size / 2.0), size / 2.0 - np.arange(frames),
                      np.zeros(frames)], axis=1)
    splits = []
    for count in (n, max(2, n // 3)):
        if frames == 1:
            clean = np.stack([field(rng, 0.8, size, classes=max(classes, 2),
                                    length_scale=2.0)[:classes] for _ in range(count)])
            noisy = np.stack([apply_noise(rng, c, steps) for c in clean])
            splits.append(Split(noisy, clean, np.full(count, 0.8)))
            continue
        clean = np.stack([field_sequence(rng, 0.8, size, frames=frames, classes=max(classes, 2),
                                         length_scale=2.0, **motion)[0][:, :classes]
                          for _ in range(count)])
        noisy = np.stack([[apply_noise(rng, frame, steps) for frame in c] for c in clean])
        warps = np.broadcast_to(warps_to_last(poses, (size, size), 1.0), (count, frames, 2, 3))
        splits.append(Split(noisy, clean, np.full(count, 0.8), warps=warps))
    return FitData(*splits)


# -- fitted models shared by the checks --------------------------------------------------

# Fitting is the slow part for learned estimators, and most checks need a fitted model:
# one fit per (class, params, target, seed, classes) serves them all within the process.
# A failed fit is kept too, so that a slow fit that ends in an error is not repeated.
_FITS: OrderedDict[tuple, object] = OrderedDict()
_FITS_KEPT = 16


def _fitted(cls, params, target, seed, classes=2):
    """(model, what ``fit`` returned, data): ``cls(**params)`` fitted on :func:`tiny_data`
    (sequences of 3 frames for an estimator that reads the past)."""
    # repr: hyper-parameter values need not be hashable (lists, dicts).
    key = (cls, repr(sorted(params.items())), target, seed, classes)
    if key in _FITS:
        _FITS.move_to_end(key)
    else:
        data = tiny_data(classes=classes, seed=seed, frames=3 if _reads_past(cls) else 1)
        try:
            model = cls(**params)
            _FITS[key] = (model, model.fit(data, target=target, seed=seed, device="cpu"), data)
        except Exception as exc:
            _FITS[key] = exc
        while len(_FITS) > _FITS_KEPT:
            _FITS.popitem(last=False)
    outcome = _FITS[key]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _reads_past(cls) -> bool:
    return getattr(cls, "uses_past", False) is True


class _Val:
    """The val maps a fitted model is checked on, and how to ask it about some of them."""

    def __init__(self, model, split: Split, target: int):
        self.model, self.target = model, target
        self.noisy = split.load()[0]
        self.warps = split.warps

    def predict(self, noisy: np.ndarray, rows=slice(None)) -> np.ndarray:
        """``model.predict`` of ``noisy`` (val rows ``rows``, or maps made from them)."""
        if self.warps is None:
            return self.model.predict(noisy, self.target)
        return self.model.predict(noisy, self.target, self.warps[rows].copy())


def _fitted_on_val(estimator, params, target, seed):
    """(class, the shared fitted model, the val maps it is checked on)."""
    cls, params = _resolve(estimator, params)
    model, _, data = _fitted(cls, params, target, seed)
    return cls, model, _Val(model, data.val, target)


def _forget(cls):
    for key in [key for key in _FITS if key[0] is cls]:
        del _FITS[key]


def _class(estimator):
    return estimator if isinstance(estimator, type) else type(estimator)


def _resolve(estimator, params):
    """The class and the hyper-parameters to construct it with."""
    if isinstance(estimator, type):
        return estimator, dict(params or {})
    return type(estimator), dict(estimator.get_params() if params is None else params)


def _differs(a, b) -> bool:
    try:
        return bool(a != b)
    except Exception:  # e.g. arrays, whose comparison is not one bool
        return a is not b


def _difference(actual, desired) -> str:
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    if actual.shape != desired.shape:
        return f"shapes {actual.shape} and {desired.shape}"
    return f"max abs difference {np.max(np.abs(actual - desired), initial=0.0):.3g}"


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
    cls = _class(estimator)
    if not issubclass(cls, Estimator):
        raise EstimatorCheckError(f"{cls.__name__} must subclass ogmbench.api.Estimator")


@_rule
def check_params_have_defaults(estimator, params=None, *, target=0, seed=0):
    """Every hyper-parameter of ``__init__`` is a keyword with a default."""
    cls = _class(estimator)
    missing = [key for key, value in cls.default_params().items()
               if value is inspect.Parameter.empty]
    if missing:
        raise EstimatorCheckError(f"{cls.__name__}: hyper-parameter(s) "
                                  f"{', '.join(map(repr, missing))} need a default")


@_rule
def check_param_grid_names_params(estimator, params=None, *, target=0, seed=0):
    """Every key of ``param_grid`` is a hyper-parameter of ``__init__``."""
    cls = _class(estimator)
    defaults = cls.default_params()
    unknown = [key for key in cls.param_grid if key not in defaults]
    if unknown:
        raise EstimatorCheckError(f"{cls.__name__}.param_grid names "
                                  f"{', '.join(map(repr, unknown))}, not parameters of __init__")


@_rule
def check_declared_params(estimator, params=None, *, target=0, seed=0):
    """``hyper`` declares only ``__init__`` parameters and admits their defaults and grid."""
    cls = _class(estimator)
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
    cls = _class(estimator)
    if not isinstance(cls.uses_prior, bool):
        raise EstimatorCheckError(f"{cls.__name__}.uses_prior must be a bool, "
                                  f"got {type(cls.uses_prior).__name__}")


@_rule
def check_uses_past_is_bool(estimator, params=None, *, target=0, seed=0):
    """``uses_past`` is a bool."""
    cls = _class(estimator)
    if not isinstance(cls.uses_past, bool):
        raise EstimatorCheckError(f"{cls.__name__}.uses_past must be a bool, "
                                  f"got {type(cls.uses_past).__name__}")


@_rule
def check_get_params_reads_back(estimator, params=None, *, target=0, seed=0):
    """``get_params()`` reads back the constructor's arguments (defaults included)."""
    cls, params = _resolve(estimator, params)
    expected = {**cls.default_params(), **params}
    got = cls(**params).get_params()
    if got != expected:
        missing = object()
        wrong = [f"{key}={got.get(key, '<missing>')!r}, expected {expected.get(key, '<missing>')!r}"
                 for key in sorted(expected.keys() | got.keys())
                 if _differs(got.get(key, missing), expected.get(key, missing))]
        raise EstimatorCheckError(f"{cls.__name__}.get_params() does not read back the "
                                  f"constructor's arguments: {'; '.join(wrong)}")


@_rule
def check_fit_returns_self(estimator, params=None, *, target=0, seed=0):
    """``fit`` returns the estimator itself."""
    cls, params = _resolve(estimator, params)
    model, returned, _ = _fitted(cls, params, target, seed)
    if returned is not model:
        got = "None" if returned is None else f"another object ({type(returned).__name__})"
        raise EstimatorCheckError(f"{cls.__name__}.fit must return self, returned {got}")


@_rule
def check_predict_output(estimator, params=None, *, target=0, seed=0):
    """``predict`` returns (B, H, W) float32, finite, in [0, 1], for a batch and a batch of one."""
    cls, model, val = _fitted_on_val(estimator, params, target, seed)
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
    cls, model, val = _fitted_on_val(estimator, params, target, seed)
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
    cls, model, val = _fitted_on_val(estimator, params, target, seed)
    noisy = val.noisy
    out = val.predict(noisy.copy())
    single = val.predict(noisy[:1].copy(), slice(0, 1))
    try:
        np.testing.assert_allclose(single[0], out[0], atol=1e-5)
    except AssertionError:
        raise EstimatorCheckError(
            f"{cls.__name__}: a sample's estimate depends on the rest of its batch "
            f"(alone vs. in a batch of {len(noisy)}: {_difference(single[0], out[0])}, "
            f"atol 1e-5)") from None


@_rule
def check_same_seed_same_numbers(estimator, params=None, *, target=0, seed=0):
    """Fitting twice with the same seed gives the same estimate, exactly."""
    cls, params = _resolve(estimator, params)
    model, _, data = _fitted(cls, params, target, seed)
    val = _Val(model, data.val, target)
    out = val.predict(val.noisy.copy())
    # A fresh fit, never the shared one; predict on the model, not on what fit returned, so
    # that a fit not returning self fails check_fit_returns_self only.
    again_model = cls(**params)
    again_model.fit(data, target=target, seed=seed, device="cpu")
    again = _Val(again_model, data.val, target).predict(val.noisy.copy())
    try:
        np.testing.assert_array_equal(again, out)
    except AssertionError:
        raise EstimatorCheckError(f"{cls.__name__}: not deterministic for one seed (two fits "
                                  f"with seed {seed}: {_difference(again, out)})") from None


@_rule
def check_zeroed_prior(estimator, params=None, *, target=0, seed=0):
    """``predict`` returns a valid estimate when every prior class (and past frame) is zero."""
    cls, model, val = _fitted_on_val(estimator, params, target, seed)
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
    cls, params = _resolve(estimator, params)
    model, _, alone = _fitted(cls, params, 0, seed, classes=1)
    val = _Val(model, alone.val, 0)
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


def check_estimator(estimator, *, params: dict | None = None, target: int = 0, seed: int = 0):
    """Run every check of :data:`ALL_CHECKS`; raise one error listing each failure.

    A check that raises anything else (``fit`` raised, say) counts as failed with
    ``raised <Type>: <message>``; the other checks still run.  The model is fitted
    afresh for each call (an estimator edited in place is checked as it is now) and
    once for all checks of the call.

    Parameters
    ----------
    estimator : Estimator subclass or instance
        An instance contributes its current hyper-parameters.
    params : dict, optional
        Hyper-parameters to construct with (e.g. a fast training profile).
    target : int
        Target class index.
    seed : int
        Seed of the tiny data and of ``fit``.

    Returns
    -------
    bool
        True when every check passes.

    Raises
    ------
    EstimatorCheckError
        When any check fails: the first line is ``"<Name> fails N of M checks"``, then
        one line per failed check, ``"  check_<rule>: <message>"``; ``failures`` maps
        each failed check's name to its message.

    Examples
    --------
    >>> from ogmbench.baselines.classical import Median
    >>> check_estimator(Median, params={"size": 5})
    True
    """
    cls = _class(estimator)
    failures: dict[str, str] = {}
    _forget(cls)
    try:
        for check in ALL_CHECKS:
            try:
                check(estimator, params, target=target, seed=seed)
            except EstimatorCheckError as exc:
                failures[check.__name__] = str(exc)
            except Exception as exc:
                failures[check.__name__] = f"raised {type(exc).__name__}: {exc}"
    finally:
        # Outside parametrize_with_checks nothing reuses the fits: do not keep them alive.
        _forget(cls)
    if failures:
        lines = [f"{cls.__name__} fails {len(failures)} of {len(ALL_CHECKS)} checks"]
        lines += [f"  {name}: " + message.replace("\n", "\n    ")
                  for name, message in failures.items()]
        raise EstimatorCheckError("\n".join(lines), failures=failures)
    return True


def _label(estimator) -> str:
    """The class name, with the hyper-parameters that differ from the defaults of an instance."""
    cls = _class(estimator)
    if isinstance(estimator, type):
        return cls.__name__
    try:
        defaults = cls.default_params()
        changed = [f"{key}={value}" for key, value in estimator.get_params().items()
                   if _differs(value, defaults.get(key, inspect.Parameter.empty))]
    except Exception:  # not an Estimator: its checks will say so
        changed = []
    return f"{cls.__name__}({','.join(changed)})" if changed else cls.__name__


def parametrize_with_checks(estimators, params: dict | None = None):
    """A ``pytest.mark.parametrize`` over every (estimator, check) pair: one test per rule.

    The test receives ``estimator`` and ``check``, a callable ``check(estimator)`` that
    raises :class:`EstimatorCheckError` when the rule is broken.  Test ids read
    ``<Name>-<check name>`` (an instance adds its non-default hyper-parameters, e.g.
    ``Median(size=5)-check_fit_returns_self``).  The checks of one estimator share one
    fit per process, so a learned estimator is not retrained for every rule.

    Parameters
    ----------
    estimators : iterable of Estimator subclasses or instances
        An instance contributes its current hyper-parameters.
    params : dict, optional
        Hyper-parameters to construct every estimator with (e.g. a fast training
        profile); bound into each ``check``.

    Returns
    -------
    pytest.MarkDecorator

    Examples
    --------
    .. code-block:: python

        @parametrize_with_checks([MyEstimator])
        def test_ogmbench(estimator, check):
            check(estimator)
    """
    import pytest  # only the test helper needs pytest; ogmbench does not

    cases, seen = [], {}
    for estimator in estimators:
        label = _label(estimator)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}_{seen[label]}"
        for check in ALL_CHECKS:
            bound = functools.partial(check, params=params)
            cases.append(pytest.param(estimator, bound, id=f"{label}-{check.__name__}"))
    return pytest.mark.parametrize(("estimator", "check"), cases)
