"""The evaluation runner and the leaderboard aggregation, at library level."""

import json

import numpy as np
import pandas as pd
import pytest

import ogmbench
from ogmbench import leaderboard
from ogmbench.api import FitData, Split
from ogmbench.baselines.classical import Gaussian
from ogmbench.evaluate import _derangement, run_eval
from ogmbench.tuning import tune
from ogmbench.report.tables import render_leaderboard


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("e") / "s.zarr", family="field",
                             noise="gaussian:sigma=1.0/0.3", rho=[0.0, 0.95], samples_per_rho=30,
                             size=24, seed=1, params={"length_scale": 2})


@pytest.fixture(scope="module")
def run(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    run_dir, outcomes = run_eval(store.path, ["identity", "gaussian", "bayes-cell"], out=out,
                                 prior_controls=["shuffled", "zeros", "oracle"], seed=3)
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    return run_dir


def test_tuning_picks_the_val_minimum(store):
    data = FitData(Split(store=store, indices=store.indices("train")),
                   Split(store=store, indices=store.indices("val")))
    model, chosen, table = tune(Gaussian, data, target=0, seed=0, device="cpu")
    noisy, clean, _ = data.val.load()
    direct = {s: np.mean((Gaussian(sigma=s).predict(noisy, 0) - clean[:, 0]) ** 2)
              for s in Gaussian.param_grid["sigma"]}
    assert chosen == {"sigma": min(direct, key=direct.get)}
    assert [row["val_mse"] for row in table] == pytest.approx(list(direct.values()))
    assert model.sigma == chosen["sigma"]


def test_derangement_moves_every_sample():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 101):
        partner = _derangement(n, rng)
        assert sorted(partner) == list(range(n)) and np.all(partner != np.arange(n))


def test_results_match_a_direct_computation(store, run):
    rows = pd.read_parquet(run / "samples" / "identity.parquet")
    test = store.indices("test")
    assert rows["sample"].tolist() == test.tolist() and set(rows["control"]) == {"none"}
    estimate = np.clip(store.noisy[test[0]:test[-1] + 1, 0], 0, 1)
    clean = store.clean[test[0]:test[-1] + 1, 0]
    np.testing.assert_allclose(rows["mse"], np.mean((estimate - clean) ** 2, axis=(1, 2)), rtol=1e-6)


def test_prior_controls_behave_as_designed(run):
    rows = pd.read_parquet(run / "samples" / "bayes-cell.parquet")
    assert set(rows["control"]) == {"none", "shuffled", "zeros", "oracle"}
    strong = rows[rows["rho"].round(2) == 0.95].groupby("control")["mse"].mean()
    # With a strongly correlated prior: the clean prior helps most, the real one helps,
    # a shuffled prior does not.
    assert strong["oracle"] < strong["none"] < 0.9 * strong["shuffled"]
    record = json.loads((run / "run.json").read_text())["estimators"]
    assert record["gaussian"]["uses_prior"] is False
    assert set(pd.read_parquet(run / "samples" / "gaussian.parquet")["control"]) == {"none"}


def test_aggregate_paired_difference_equals_direct_numpy(run):
    rows = leaderboard.load_runs([run])
    agg = leaderboard.aggregate(rows)
    assert set(agg["reference"]) == {"identity"}
    for rho in (0.0, 0.95):
        got = agg[(agg.estimator == "bayes-cell") & (agg.control == "none") & (agg.rho == rho)].iloc[0]
        mine = rows[(rows.estimator == "bayes-cell") & (rows.control == "none") & (rows.rho.round(6) == rho)]
        ref = rows[(rows.estimator == "identity") & (rows.rho.round(6) == rho)]
        both = mine.merge(ref, on="sample", suffixes=("", "_r"))
        assert got["n"] == len(mine) == got["n_paired"]
        assert got["mse"] == pytest.approx(mine["mse"].mean())
        assert got["d_mse"] == pytest.approx((both["mse"] - both["mse_r"]).mean())
        assert got["gain_mse"] == pytest.approx(-100 * got["d_mse"] / both["mse_r"].mean())
        assert got["iou"] == pytest.approx(mine["tp"].sum() / (mine["tp"] + mine["fp"] + mine["fn"]).sum())
        assert got["mse_lo"] <= got["mse"] <= got["mse_hi"]
    everything = agg[(agg.estimator == "gaussian") & (agg.rho == "all")].iloc[0]
    assert everything["n"] == len(rows[rows.estimator == "gaussian"])


def test_aggregate_is_reproducible_and_merging_deduplicates(run):
    once = leaderboard.aggregate(leaderboard.load_runs([run]))
    twice = leaderboard.aggregate(leaderboard.load_runs([run, run]))
    pd.testing.assert_frame_equal(once, twice)


def test_rendered_formats(run):
    agg = leaderboard.aggregate(leaderboard.load_runs([run]))
    table = render_leaderboard(agg, "mse", "table")
    assert "bayes-cell" in table and "all" in table and "±" in table
    assert render_leaderboard(agg, "iou", "md").count("|") > 10
    latex = render_leaderboard(agg, "gain_mse", "latex")
    assert "\\toprule" in latex and "\\bottomrule" in latex and "$\\pm$" in latex
    with pytest.raises(leaderboard.LeaderboardError, match="unknown metric"):
        render_leaderboard(agg, "accuracy", "table")


def test_merging_never_pools_different_configurations_or_seeds(store, run, tmp_path):
    other_seed, _ = run_eval(store.path, ["identity"], out=tmp_path / "s9", seed=9)
    other_cfg, _ = run_eval(store.path, ["gaussian:sigma=3.0"], out=tmp_path / "g3", seed=3)
    rows = leaderboard.load_runs([run, other_seed, other_cfg])
    agg = leaderboard.aggregate(rows)
    labels = set(agg["estimator"])
    assert {"identity@seed3", "identity@seed9", "gaussian", "gaussian[sigma=3.0]"} <= labels
    n_test = len(store.indices("test"))
    assert agg[agg.rho == "all"].groupby(["estimator", "control"])["n"].max().max() == n_test
    table = render_leaderboard(agg, "mse", "table")
    assert "identity@seed9" in table and "gaussian[sigma=3.0]" in table


def test_pivot_keeps_stores_apart(store, run, tmp_path):
    other = ogmbench.generate(tmp_path / "o.zarr", family="field", noise="gaussian:sigma=1.0/0.3",
                              rho=[0.0, 0.95], samples_per_rho=30, size=24, seed=2,
                              params={"length_scale": 2})
    other_run, _ = run_eval(other.path, ["identity"], out=tmp_path / "o", seed=3)
    agg = leaderboard.aggregate(leaderboard.load_runs([run, other_run]))
    wide = leaderboard.pivot(agg, "mse")
    stores = {i[2] for i in wide.index if i[4] == "identity"}
    assert len(stores) == 2


def test_phi_column_follows_the_target_on_many_class_stores(tmp_path):
    import zarr

    s = ogmbench.generate(tmp_path / "k3.zarr", family="field", noise="gaussian:sigma=0.5",
                          rho=[0.6], samples_per_rho=10, size=16, classes=3)
    run_dir, _ = run_eval(s.path, ["identity"], target=2, out=tmp_path / "r")
    rows = pd.read_parquet(run_dir / "samples" / "identity.parquet")
    matrix = zarr.open_group(str(s.path), mode="r")["phi_matrix"][:]
    np.testing.assert_allclose(rows["phi"], matrix[rows["sample"], 2, 0], rtol=1e-6)
