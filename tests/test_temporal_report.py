"""The temporal prior in the leaderboard and the report (issue 14): the past's twins and
their information gain, benchmark datasets of sequences, and the table and figure of the
cross-class prior, the temporal prior and both."""

import numpy as np
import pytest

import ogmbench
from ogmbench.benchmark import BenchmarkError, load_benchmark
from ogmbench.evaluate import EvalConfig, run_eval
from ogmbench.leaderboard import aggregate, load_runs
from ogmbench.report.tables import prior_label
from ogmbench import reproduce
from ogmbench.results import read_results
from ogmbench.runs import Record
from ogmbench.seeding import rho_id

from cli_helpers import benchmark_toml

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("trep") / "s.zarr", family="urban",
                             rho=[0.0, 0.9], samples_per_rho=10, size=32, frames=3,
                             noise="gaussian:sigma=0.3", classes="vehicle,drivable",
                             params={"speed": 8.0, "yaw_rate": 20.0}, seed=5)


def test_the_past_gains_are_paired_gains_over_the_past_twins(seq, tmp_path):
    specs = ["identity", "log-odds", "log-odds:past=shuffled", "log-odds:past=oracle"]
    run_eval(seq.path, specs, EvalConfig(out=tmp_path / "r"))
    rows = load_runs([tmp_path / "r"])
    assert set(rows.loc[rows["estimator"] == "log-odds-past-shuffled", "twin_of"]) == {"log-odds"}
    assert set(rows.loc[rows["estimator"] == "log-odds-past-shuffled", "past_source"]) == {"shuffled"}
    agg = aggregate(rows, reference="identity")
    mse = rows[rows["control"] == "none"].pivot_table(index="sample", columns="estimator",
                                                      values="mse")
    mine = agg[(agg["estimator"] == "log-odds") & (agg["control"] == "none")]
    assert len(mine) == 3
    for row in mine.itertuples():
        samples = rows.loc[(rows["estimator"] == "log-odds")
                           & ((rho_id(rows["rho"]) == row.rho) if row.rho != "all" else True),
                           "sample"]
        m = mse.loc[sorted(samples.unique())]
        info = (-100 * (m["log-odds"] - m["log-odds-past-shuffled"]).mean()
                / m["log-odds-past-shuffled"].mean())
        ceiling = -100 * (m["log-odds-past-oracle"] - m["identity"]).mean() / m["identity"].mean()
        assert row.gain_info_past == pytest.approx(info, rel=1e-9, abs=1e-12)
        assert row.gain_oracle_past == pytest.approx(ceiling, rel=1e-9, abs=1e-12)
        assert row.gain_info_past_lo <= row.gain_info_past <= row.gain_info_past_hi
        # Twins of the past say nothing of X2's information.
        assert np.isnan(row.gain_info) and np.isnan(row.gain_oracle)


@pytest.mark.parametrize("prior,past,name,base", [
    ("shuffled", "noisy", "concat-both-shuffled", "concat-both"),
    ("noisy", "oracle", "concat-both-past-oracle", "concat-both"),
    ("shuffled", "shuffled", "concat-both-shuffled-past-shuffled", "concat-both"),
    ("noisy", "noisy", "concat-both", None),
])
def test_a_twin_of_either_source_or_both_names_its_estimator(prior, past, name, base):
    data = {"name": name, "prior_source": prior, "fixed_params": {}, "run_params": []}
    if past != "noisy":
        data["past_source"] = past
    assert Record(name, data).twin_of == base


@pytest.mark.parametrize("estimator, reads, label", [
    ("concat", (True, False), "cross-class (X2)"),
    ("concat-shuffled", (True, False), "cross-class (X2), blind twin"),
    ("concat-oracle", (True, False), "cross-class (X2), oracle twin"),
    ("concat-time", (False, True), "temporal (past frames)"),
    ("concat-time-past-shuffled", (False, True), "temporal (past frames), past-blind twin"),
    ("concat-both", (True, True), "both"),
    ("concat-both-past-oracle", (True, True), "both, past-oracle twin"),
    ("xattn-shuffled", (True, False), "cross-class (X2)"),  # xattn is not in the report
])
def test_the_gain_table_says_which_twin_a_row_is(estimator, reads, label):
    names = ["concat", "concat-shuffled", "concat-oracle", "concat-time",
             "concat-time-past-shuffled", "concat-both", "concat-both-past-oracle"]
    assert prior_label(estimator, *reads, names) == label


# --------------------------------------------------------------------------- benchmark

SEQ = ("urban-t", "urban", "gaussian:sigma=0.3", "vehicles over three frames")
SINGLE = ("field-g", "field", "gaussian:sigma=1.0/0.3", "")
TEMPORAL = ("identity", "unet", "concat", "concat-time", "concat-both", "log-odds",
            "log-odds:past=shuffled")


def _bench(tmp_path, datasets, estimators, frames=3) -> str:
    text = benchmark_toml(datasets=datasets, estimators=estimators, samples_per_rho=8,
                          size=16, steps=4)
    # The sequence dataset gets its frames and motion (benchmark_toml writes none).
    text = text.replace('name = "urban-t"\nfamily = "urban"\n',
                        f'name = "urban-t"\nfamily = "urban"\nframes = {frames}\n'
                        'classes = ["vehicle", "drivable"]\n'
                        + ('params = { speed = 8.0, yaw_rate = 20.0 }\n' if frames > 1 else ""))
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_a_dataset_of_sequences_in_a_benchmark(tmp_path):
    bench = load_benchmark(_bench(tmp_path, (SINGLE, SEQ), TEMPORAL))
    frames = {d.name: d.config.frames for d in bench.datasets}
    assert frames == {"field-g": 1, "urban-t": 3}
    runs = {d.name: [s.name for s in bench.specs if d.runs(s)] for d in bench.datasets}
    assert runs["field-g"] == ["identity", "unet", "concat"]
    assert runs["urban-t"] == [s.name for s in bench.specs]
    # frames = 1 is the dataset of single maps it always was (its hash too).
    one = load_benchmark(_bench(tmp_path, (SEQ,), ("identity", "unet"), frames=1))
    path = tmp_path / "bench.toml"
    path.write_text(path.read_text().replace("frames = 1\n", ""))
    plain = load_benchmark(path)
    assert plain.datasets[0].config.frames == 1
    assert one.config_hash(one.datasets[0]) == plain.config_hash(plain.datasets[0])


@pytest.mark.parametrize("datasets,estimators,words", [
    ((SINGLE,), ("identity", "unet", "concat-time"),
     "concat-time reads past frames and no dataset of the profile holds sequences"),
    ((SINGLE,), ("identity", "unet", "log-odds:past=shuffled"),
     "log-odds-past-shuffled reads past frames"),
])
def test_an_estimator_of_the_past_with_no_sequences_is_refused(tmp_path, datasets, estimators,
                                                               words):
    with pytest.raises(BenchmarkError, match=words):
        load_benchmark(_bench(tmp_path, datasets, estimators))


def test_a_reference_that_reads_the_past_must_run_on_every_dataset(tmp_path):
    text = _bench(tmp_path, (SINGLE, SEQ), ("identity", "log-odds")).read_text()
    (tmp_path / "bench.toml").write_text(text.replace('reference = "unet"',
                                                      'reference = "log-odds"'))
    with pytest.raises(BenchmarkError, match="reference log-odds reads past frames, and dataset "
                                             "'field-g'"):
        load_benchmark(tmp_path / "bench.toml")


def test_reproduce_reports_the_cross_class_and_temporal_priors(tmp_path):
    config = _bench(tmp_path, (SINGLE, SEQ), TEMPORAL)
    out, _ = reproduce(config, out=tmp_path / "out")
    results = read_results(out / "results.csv")
    ran = {d: set(results.loc[results["dataset"] == d, "estimator"]) for d in ("field-g", "urban-t")}
    assert ran["field-g"] == {"identity", "unet", "concat"}
    assert ran["urban-t"] == {"identity", "unet", "concat", "concat-time", "concat-both",
                              "log-odds", "log-odds-past-shuffled"}
    flags = results.drop_duplicates("estimator").set_index("estimator")
    assert flags.loc["concat-time", "uses_past"] and not flags.loc["concat-time", "uses_prior"]
    assert flags.loc["concat-both", "uses_past"] and flags.loc["concat-both", "uses_prior"]
    assert not flags.loc["concat", "uses_past"]
    info = results[(results["metric"] == "gain_info_past") & (results["dataset"] == "urban-t")]
    assert set(info["estimator"]) == {"log-odds"}
    tables = (out / "tables.md").read_text()
    section = tables.split("Cross-class prior, temporal prior and both: gain vs ρ, urban-t")[1]
    lines = [line for line in section.split("\n\n")[2].splitlines() if line.startswith("| ")]
    # (4 training steps: every U-Net is marked as not shown to have converged.)
    kinds = {line.split("|")[1].strip().removesuffix(" †"): line.split("|")[2].strip()
             for line in lines[1:]}
    assert kinds == {"concat": "cross-class (X2)", "concat, X2 shuffled": "cross-class (X2)",
                     "concat-time": "temporal (past frames)", "concat-both": "both",
                     "concat-both, X2 shuffled": "both"}
    # The dataset of single maps keeps its prior-gain table.
    assert "Prior gain vs ρ, field-g" in tables
    assert "past-blind twin over" in tables  # log-odds' attribution rows
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"urban-t-gain.png", "urban-t-attribution.png", "field-g-gain.png"} <= figures
