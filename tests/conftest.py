"""Fixtures shared by the tests of several rooms: one small field store and one run of
classical estimators on it with every prior control (session-wide: made once)."""

import pytest

import ogmbench
from ogmbench.evaluate import EvalConfig, run_eval


@pytest.fixture(scope="session")
def field_store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("e") / "s.zarr", family="field",
                             noise="gaussian:sigma=1.0/0.3", rho=[0.0, 0.95], samples_per_rho=30,
                             size=24, seed=1, params={"length_scale": 2})


@pytest.fixture(scope="session")
def field_run(field_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    run_dir, outcomes = run_eval(field_store.path, ["identity", "gaussian", "bayes-cell"], EvalConfig(out=out,
                                                                                                      prior_controls=["shuffled", "zeros", "oracle"],
                                                                                                      seed=3))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    return run_dir


@pytest.fixture(scope="session")
def simd_limited():
    """The environment of a process with numpy's run-time dispatch off (every target it
    was built for) and OpenBLAS on a kernel without FMA, as the oldest CPUs run them."""
    import os

    from numpy._core import _multiarray_umath

    return {**os.environ,
            "NPY_DISABLE_CPU_FEATURES": " ".join(_multiarray_umath.__cpu_dispatch__),
            "OPENBLAS_CORETYPE": "Prescott"}
