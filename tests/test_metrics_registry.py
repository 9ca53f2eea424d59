"""Metrics as objects: the registry, the per-sample columns a run stores, and the worked
example "a new metric is one module plus its test" (mean absolute error, registered for
one test only, flows through the leaderboard with no other code changed)."""

import numpy as np
import pandas as pd
import pytest

from ogmbench import leaderboard, metrics
from ogmbench.metrics import METRICS, SAMPLE_COLUMNS, Batch, Metric, mean_stat, sample_columns
from ogmbench.report.tables import render_leaderboard


def batch(seed, samples=5, shape=(12, 9), dtype=np.float32):
    rng = np.random.default_rng(seed)
    clean = (rng.random((samples, *shape)) < rng.uniform(0.1, 0.6)).astype(np.uint8)
    estimate = np.clip(clean + rng.normal(0, 0.4, clean.shape), 0, 1).astype(dtype)
    estimate[0, 0] = 1.0  # p = 1 joins the last calibration bin
    estimate[-1] = 0.0    # an empty estimate
    return estimate, clean


def todays_columns(estimate, clean, threshold):
    """The per-sample columns as the scoring of a run computed them before metrics were
    objects: per_sample at 0.5, the counts at the val threshold, the calibration bins."""
    scores = metrics.per_sample(estimate, clean)
    at_t = metrics.confusion_counts(estimate, clean, threshold)
    cal = metrics.calibration_bins(estimate, clean)
    out = {k: scores[k] for k in ("mse", "psnr", "iou", "tp", "fp", "fn")}
    out["threshold"] = [threshold] * len(estimate)
    out.update({f"{k}_t": at_t[k] for k in ("tp", "fp", "fn")})
    out.update(cal_n=cal[:, 0], cal_p=cal[:, 1], cal_y=cal[:, 2])
    return out


@pytest.mark.parametrize("seed, threshold, dtype", [
    (0, 0.5, np.float32), (1, 0.35, np.float32), (2, 0.8, np.float64), (3, 0.05, np.float64)])
def test_sample_columns_are_todays_columns_bit_for_bit(seed, threshold, dtype):
    estimate, clean = batch(seed, dtype=dtype)
    got = sample_columns(estimate, clean, threshold)
    want = todays_columns(estimate, clean, threshold)
    assert tuple(got) == SAMPLE_COLUMNS == tuple(want)
    for column, values in want.items():
        values = np.asarray(values)
        assert got[column].dtype == values.dtype, column
        # What a run directory stores: the same Python values, bit for bit.
        assert repr(got[column].tolist()) == repr(values.tolist()), column


def test_sample_columns_against_direct_numpy():
    estimate, clean = batch(4)
    got = sample_columns(estimate, clean, 0.3)
    p, y = estimate.astype(np.float64), clean.astype(np.float64)
    mse = ((p - y) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(got["mse"], mse, rtol=1e-6)
    np.testing.assert_allclose(got["psnr"], 10 * np.log10(1 / np.maximum(mse, 1e-10)), rtol=1e-6)
    occupied = clean == 1
    np.testing.assert_array_equal(got["tp_t"], ((estimate >= 0.3) & occupied).sum(axis=(1, 2)))
    np.testing.assert_array_equal(got["fn"], ((estimate < 0.5) & occupied).sum(axis=(1, 2)))
    assert got["cal_n"].shape == (len(clean), metrics.CALIBRATION_BINS)
    np.testing.assert_array_equal(got["cal_n"].sum(axis=1), np.full(len(clean), p[0].size))
    np.testing.assert_allclose(got["cal_p"].sum(axis=1), p.sum(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(got["cal_y"].sum(axis=1), occupied.sum(axis=(1, 2)))
    # The last estimate is empty: IoU 0 against an occupied target, undefined against none.
    assert (got["iou"][-1] == 0.0) if clean[-1].any() else np.isnan(got["iou"][-1])
    empty = sample_columns(np.zeros((1, 3, 3), np.float32), np.zeros((1, 3, 3), np.uint8), 0.5)
    assert np.isnan(empty["iou"][0]) and empty["psnr"][0] == pytest.approx(100.0)


def test_the_registry_shows_reported_order_and_keeps_column_order():
    assert list(METRICS) == ["mse", "iou", "iou_val_t", "psnr", "ece", "gain_mse", "d_iou",
                             "gain_info", "gain_oracle", "gain_info_past", "gain_oracle_past",
                             "gain_bayes", "share_bayes"]
    # Aggregation draws its resamples in registration order, as the columns are laid out.
    assert [m.key for m in METRICS.sampled()] == ["mse", "psnr", "iou", "iou_val_t", "ece"]
    assert METRICS.columns() == SAMPLE_COLUMNS
    gain, d_iou = METRICS["gain_mse"], METRICS["d_iou"]
    assert gain.base is METRICS["mse"] and d_iou.base is METRICS["iou"]
    assert (gain.measured, gain.against) == ("estimator", "reference")
    info, ceiling = METRICS["gain_info_past"], METRICS["gain_oracle_past"]
    assert (info.measured, info.against, info.twin, info.source) == (
        "estimator", "twin", "shuffled", "past_source")
    assert (ceiling.measured, ceiling.against) == ("twin", "reference") and ceiling.of is gain
    assert gain.definition_against("unet") == "MSE reduction over unet in % of its MSE"


def test_a_metric_key_or_column_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        METRICS.register(METRICS["mse"])

    class Clash(Metric):
        key, columns = "clash", ("tp",)

    with pytest.raises(ValueError, match=r"columns \['tp'\] are another's"):
        METRICS.register(Clash())
    assert "clash" not in METRICS


def test_a_metric_declares_what_it_writes():
    class Liar(Metric):
        key, columns = "liar", ("liar",)

        def update(self, batch):
            return {"other": np.zeros(len(batch))}

    with METRICS.registered(Liar()):
        with pytest.raises(ValueError, match="liar wrote"):
            sample_columns(*batch(0), 0.5)
    assert "liar" not in METRICS and METRICS.columns() == SAMPLE_COLUMNS


# --------------------------------------------------------------------------- worked example


class MAE(Metric):
    """Mean absolute error: what a new metric's module holds."""

    key = "mae"
    title = "MAE"
    label = "mean absolute error (lower is better)"
    higher_is_better = False
    columns = ("mae",)

    def update(self, batch: Batch):
        return {"mae": np.abs(batch.estimate - batch.clean).mean(axis=(1, 2), dtype=np.float64)}

    def value(self, rows):
        return rows["mae"].mean()

    def statistic(self, rows):
        return mean_stat(rows["mae"])


def sample_rows(estimators):
    """Per-sample rows of a run, as leaderboard.load_runs gives them, scored through the
    registered metrics."""
    estimate, clean = batch(7, samples=8)
    frames = []
    for name, blur in estimators.items():
        guess = np.clip(estimate * (1 - blur) + 0.5 * blur, 0, 1)
        frame = pd.DataFrame({k: list(v) for k, v in sample_columns(guess, clean, 0.5).items()})
        frame = frame.assign(
            family="field", noise="gaussian", store_digest="d" * 16, target=0, estimator=name,
            control="none", rho=np.repeat([0.0, 0.9], 4), phi=0.0, sample=np.arange(8),
            train_seed=0, twin_of="", prior_source="noisy", past_source="noisy")
        frames.append((frame, np.abs(guess - clean).mean(axis=(1, 2))))
    return frames


def test_a_new_metric_is_one_module_and_flows_through_the_leaderboard():
    with METRICS.registered(MAE()):
        assert list(METRICS)[-1] == "mae" and SAMPLE_COLUMNS + ("mae",) == METRICS.columns()
        frames = sample_rows({"identity": 0.0, "blur": 0.3})
        agg = leaderboard.aggregate(pd.concat([f for f, _ in frames], ignore_index=True),
                                    reference="identity")
        for (frame, mae), name in zip(frames, ("identity", "blur")):
            mine = agg[(agg["estimator"] == name) & (agg["rho"] == "all")].iloc[0]
            assert mine["mae"] == pytest.approx(mae.mean(), rel=1e-6)
            assert mine["mae_lo"] <= mine["mae"] <= mine["mae_hi"]
        wide = leaderboard.pivot(agg, "mae")
        assert list(wide.columns) == ["0", "0.9", "all"]
        assert render_leaderboard(agg, "mae").startswith("mean absolute error (lower is better)")
    # Gone again: the registry and the aggregation are as they were.
    assert "mae" not in METRICS and METRICS.columns() == SAMPLE_COLUMNS
    plain = leaderboard.aggregate(pd.concat([f.drop(columns="mae") for f, _ in frames]))
    assert "mae" not in plain
    with pytest.raises(leaderboard.LeaderboardError, match="unknown metric 'mae'"):
        leaderboard.pivot(plain, "mae")


def test_a_new_headline_metric_gets_its_report_table():
    from ogmbench.report.tables import build_tables

    headline = MAE(headline=True, definition="mean absolute error")
    with METRICS.registered(headline):
        frames = sample_rows({"identity": 0.0, "blur": 0.3})
        agg = leaderboard.aggregate(pd.concat([f for f, _ in frames], ignore_index=True),
                                    reference="identity")
        agg["rho"] = agg["rho"].map(lambda r: r if r == "all" else f"{float(r):g}")
        # The long results table, as results.collect_results lays it out.
        parts = [(m, agg[agg[m].notna()]) for m in METRICS if m in agg]
        long = pd.concat([part.assign(metric=m, value=part[m], lo=part[f"{m}_lo"],
                                      hi=part[f"{m}_hi"]) for m, part in parts if len(part)],
                         ignore_index=True)
        long = long.assign(dataset="d", target_name="X1", uses_prior=False, uses_past=False,
                           learned=False, converged=None)
        tables = {t.key: t for t in build_tables(long, "d")}
    assert list(tables) == ["d-mse", "d-iou", "d-mae"]
    mae = tables["d-mae"]
    assert mae.title.startswith("MAE, d: field family") and mae.header == [
        "estimator", "ρ=0", "ρ=0.9", "all ρ", "rank (all ρ)"]  # no paired metric
    assert "mean absolute error, lower is better" in mae.note
    blur = next(row for row in mae.rows if row[0].text == "blur")
    want = agg[(agg["estimator"] == "blur") & (agg["rho"] == "all")].iloc[0]
    assert blur[-2].value == pytest.approx(want["mae"]) and blur[-2].text.startswith(
        f"{want['mae']:.4f} ± ")
    lowest = min(mae.rows, key=lambda row: row[-2].value)[0].text  # lower is better
    assert [row[0].text for row in mae.rows if row[-2].bold] == [lowest]
