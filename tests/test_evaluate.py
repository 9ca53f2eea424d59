"""The evaluation runner at library level: results against direct computations, controls."""

import json

import numpy as np
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

