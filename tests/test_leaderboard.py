"""The leaderboard aggregation: paired differences, deduplication, never pooling."""

import pandas as pd
import pytest

import ogmbench
from ogmbench import leaderboard
from ogmbench.evaluate import EvalConfig, run_eval
from ogmbench.report.tables import render_leaderboard


def test_aggregate_paired_difference_equals_direct_numpy(field_run):
    rows = leaderboard.load_runs([field_run])
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


def test_aggregate_is_reproducible_and_merging_deduplicates(field_run):
    once = leaderboard.aggregate(leaderboard.load_runs([field_run]))
    twice = leaderboard.aggregate(leaderboard.load_runs([field_run, field_run]))
    pd.testing.assert_frame_equal(once, twice)


def test_merging_never_pools_different_configurations_or_seeds(field_store, field_run, tmp_path):
    other_seed, _ = run_eval(field_store.path, ["identity"], EvalConfig(out=tmp_path / "s9",
                                                                        seed=9))
    other_cfg, _ = run_eval(field_store.path, ["gaussian:sigma=3.0"], EvalConfig(out=tmp_path / "g3",
                                                                                 seed=3))
    rows = leaderboard.load_runs([field_run, other_seed, other_cfg])
    agg = leaderboard.aggregate(rows)
    labels = set(agg["estimator"])
    assert {"identity@seed3", "identity@seed9", "gaussian", "gaussian[sigma=3.0]"} <= labels
    n_test = len(field_store.indices("test"))
    assert agg[agg.rho == "all"].groupby(["estimator", "control"])["n"].max().max() == n_test
    table = render_leaderboard(agg, "mse", "table")
    assert "identity@seed9" in table and "gaussian[sigma=3.0]" in table


def test_pivot_keeps_stores_apart(field_store, field_run, tmp_path):
    other = ogmbench.generate(tmp_path / "o.zarr", family="field", noise="gaussian:sigma=1.0/0.3",
                              rho=[0.0, 0.95], samples_per_rho=30, size=24, seed=2,
                              params={"length_scale": 2})
    other_run, _ = run_eval(other.path, ["identity"], EvalConfig(out=tmp_path / "o", seed=3))
    agg = leaderboard.aggregate(leaderboard.load_runs([field_run, other_run]))
    wide = leaderboard.pivot(agg, "mse")
    stores = {i[2] for i in wide.index if i[4] == "identity"}
    assert len(stores) == 2


def test_runs_on_other_train_sizes_are_rows_of_their_own(tmp_path):
    import ogmbench

    store = ogmbench.generate(tmp_path / "s.zarr", family="field", size=16, samples_per_rho=10)
    whole, _ = run_eval(store.path, ["gaussian"], EvalConfig(out=tmp_path / "whole"))
    few, _ = run_eval(store.path, ["gaussian"], EvalConfig(out=tmp_path / "few", train_size=2))
    rows = leaderboard.load_runs([whole, few])
    test = len(store.indices("test"))
    assert rows.groupby("estimator").size().to_dict() == {"gaussian": test,
                                                          "gaussian@train2": test}
    # Either order: the labels follow the runs, not which is listed first.
    again = leaderboard.load_runs([few, whole])
    assert set(again["estimator"]) == {"gaussian", "gaussian@train2"}
