"""``check_estimator``: the conformance check every estimator must pass.

Run it on your estimator before submitting::

    from ogmbench.testing import check_estimator
    check_estimator(MyEstimator)          # raises AssertionError naming the broken rule
"""

from __future__ import annotations

import inspect

import numpy as np

from .api import Estimator, FitData, Split

__all__ = ["check_estimator", "tiny_data"]


def tiny_data(classes: int = 2, n: int = 12, size: int = 24, seed: int = 0) -> FitData:
    """A small train/val pair from the ``field`` family with Gaussian noise (no store)."""
    from .generators import apply_noise, field
    from .generators.noise import NOISE_MODELS

    rng = np.random.default_rng(seed)
    steps = [("gaussian", NOISE_MODELS["gaussian"].resolve({"sigma": "0.4"}, classes))]
    splits = []
    for count in (n, max(2, n // 3)):
        clean = np.stack([field(rng, 0.8, size, classes=max(classes, 2), length_scale=2.0)[:classes]
                          for _ in range(count)])
        noisy = np.stack([apply_noise(rng, c, steps) for c in clean])
        splits.append(Split(noisy, clean, np.full(count, 0.8)))
    return FitData(*splits)


def _fit(cls, params, data, target, seed):
    return cls(**params).fit(data, target=target, seed=seed, device="cpu")


def check_estimator(estimator, *, params: dict | None = None, target: int = 0, seed: int = 0):
    """Check that an estimator class follows the protocol; raise AssertionError if not.

    Parameters
    ----------
    estimator : Estimator subclass or instance
        An instance contributes its current hyper-parameters.
    params : dict, optional
        Hyper-parameters to construct with (e.g. a fast training profile).

    Checked: hyper-parameters are keywords with defaults and read back by
    ``get_params``; ``param_grid`` names real parameters; ``fit`` returns the estimator;
    ``predict`` returns (B, H, W) float32, finite, in [0, 1], for batches of several
    samples and of one; a sample's estimate does not depend on its batch; the input is
    not modified; fitting twice with the same seed gives the same estimate; a zeroed
    prior and a stack without prior classes (C = 1) work.
    """
    cls = estimator if isinstance(estimator, type) else type(estimator)
    name = cls.__name__
    assert issubclass(cls, Estimator), f"{name} must subclass ogmbench.api.Estimator"
    if params is None:
        params = estimator.get_params() if not isinstance(estimator, type) else {}
    defaults = cls.default_params()
    for key, value in defaults.items():
        assert value is not inspect.Parameter.empty, f"{name}: hyper-parameter {key!r} needs a default"
    for key in cls.param_grid:
        assert key in defaults, f"{name}.param_grid names {key!r}, not a parameter of __init__"
    assert isinstance(cls.uses_prior, bool), f"{name}.uses_prior must be a bool"

    data = tiny_data(seed=seed)
    model = cls(**params)
    assert model.get_params() == {**defaults, **params}, \
        f"{name}.get_params() does not read back the constructor's arguments"
    fitted = model.fit(data, target=target, seed=seed, device="cpu")
    assert fitted is model, f"{name}.fit must return self"

    noisy, clean, _ = data.val.load()
    before = noisy.copy()
    out = model.predict(noisy, target)
    _check_output(name, out, noisy)
    assert np.array_equal(noisy, before), f"{name}.predict modified its input"

    single = model.predict(noisy[:1].copy(), target)
    _check_output(name, single, noisy[:1])
    np.testing.assert_allclose(single[0], out[0], atol=1e-5, err_msg=(
        f"{name}: a sample's estimate depends on the rest of its batch"))

    again = _fit(cls, params, data, target, seed).predict(noisy.copy(), target)
    np.testing.assert_array_equal(again, out, err_msg=f"{name}: not deterministic for one seed")

    zeroed = noisy.copy()
    zeroed[:, [k for k in range(noisy.shape[1]) if k != target]] = 0.0
    _check_output(name, model.predict(zeroed, target), zeroed)

    alone = tiny_data(classes=1, seed=seed)
    lone_model = _fit(cls, params, alone, 0, seed)
    lone_noisy = alone.val.load()[0]
    _check_output(name, lone_model.predict(lone_noisy, 0), lone_noisy)
    return True





def _check_output(name, out, noisy):
    b, _, h, w = noisy.shape
    assert isinstance(out, np.ndarray), f"{name}.predict must return a numpy array, got {type(out)}"
    assert out.shape == (b, h, w), f"{name}.predict returned shape {out.shape}, expected {(b, h, w)}"
    assert out.dtype == np.float32, f"{name}.predict returned {out.dtype}, expected float32"
    assert np.isfinite(out).all(), f"{name}.predict returned NaN or inf"
    assert out.min(initial=0.0) >= 0.0 and out.max(initial=1.0) <= 1.0, \
        f"{name}.predict returned values outside [0, 1]"
