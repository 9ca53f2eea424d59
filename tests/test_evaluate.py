"""The evaluation runner at library level: results against direct computations, controls."""

import json

import numpy as np
import pytest
import pandas as pd

import ogmbench
from ogmbench.controls import derangement as _derangement
from ogmbench.evaluate import EvalConfig, run_eval


def test_derangement_moves_every_sample():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 101):
        partner = _derangement(n, rng)
        assert sorted(partner) == list(range(n)) and np.all(partner != np.arange(n))


def test_results_match_a_direct_computation(field_store, field_run):
    rows = pd.read_parquet(field_run / "samples" / "identity.parquet")
    test = field_store.indices("test")
    assert rows["sample"].tolist() == test.tolist() and set(rows["control"]) == {"none"}
    estimate = np.clip(field_store.noisy[test[0]:test[-1] + 1, 0], 0, 1)
    clean = field_store.clean[test[0]:test[-1] + 1, 0]
    np.testing.assert_allclose(rows["mse"], np.mean((estimate - clean) ** 2, axis=(1, 2)), rtol=1e-6)


def test_prior_controls_behave_as_designed(field_run):
    rows = pd.read_parquet(field_run / "samples" / "bayes-cell.parquet")
    assert set(rows["control"]) == {"none", "shuffled", "zeros", "oracle"}
    strong = rows[rows["rho"].round(2) == 0.95].groupby("control")["mse"].mean()
    # With a strongly correlated prior: the clean prior helps most, the real one helps,
    # a shuffled prior does not.
    assert strong["oracle"] < strong["none"] < 0.9 * strong["shuffled"]
    record = json.loads((field_run / "run.json").read_text())["estimators"]
    assert record["gaussian"]["uses_prior"] is False
    assert set(pd.read_parquet(field_run / "samples" / "gaussian.parquet")["control"]) == {"none"}


def test_phi_column_follows_the_target_on_many_class_stores(tmp_path):
    import zarr

    s = ogmbench.generate(tmp_path / "k3.zarr", family="field", noise="gaussian:sigma=0.5",
                          rho=[0.6], samples_per_rho=10, size=16, classes=3)
    run_dir, _ = run_eval(s.path, ["identity"], EvalConfig(target=2, out=tmp_path / "r"))
    rows = pd.read_parquet(run_dir / "samples" / "identity.parquet")
    matrix = zarr.open_group(str(s.path), mode="r")["phi_matrix"][:]
    np.testing.assert_allclose(rows["phi"], matrix[rows["sample"], 2, 0], rtol=1e-6)



@pytest.mark.parametrize("settings, words", [
    ({"seed": -1}, r"seed must be an integer from 0 to 2\^63 - 1"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"train_seeds": 0}, r"train-seeds must be an integer in \[1, 100\]"),
    ({"prior_controls": ["nope"]}, "unknown prior control 'nope'"),
    ({"timeout": 0}, "timeout must be a number of seconds"),
    ({"out": " "}, "--out is empty"),
])
def test_a_config_is_refused_when_made_before_any_store_is_read(settings, words):
    # What needs no store is checked first (so a bad setting is named even when the
    # store path is wrong too), in one line.
    from ogmbench.evaluate import EvalError

    with pytest.raises(EvalError, match=words):
        EvalConfig(**settings)


def test_a_config_keeps_each_control_once_in_order():
    config = EvalConfig(prior_controls=["zeros", "shuffled", "zeros"], keep=[3.0, 1])
    assert config.prior_controls == ("zeros", "shuffled") and config.keep == (3, 1)
