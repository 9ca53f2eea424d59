"""``ogmbench reproduce``: end to end on a tiny benchmark, reuse, determinism, --check."""

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ogmbench import open_store
from ogmbench.benchmark import load_benchmark
from ogmbench import reproduce
from ogmbench.results import GENERATED, RESULT_COLUMNS, read_results, split_sweep

from cli_helpers import assert_usage_error, benchmark_toml, call, estimator_file, snapshot

pytest.importorskip("torch")

TINY_SETTINGS = dict(
    datasets=(("field-g", "field", "gaussian:sigma=1.0/0.3", ""),
              ("urban-l", "urban", "lidar", "vehicles seen by a lidar")),
    estimators=("identity", "median", "unet", "concat"), rtol=0.01, atol=0.001,
    train_sizes=(4,), scaling=("concat",))
TINY = benchmark_toml(**TINY_SETTINGS)

REPORT = ["results.csv", "tables.md", "tables.tex", "index.html", "README.md"]


def _write(folder: Path, text: str = TINY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.toml"
    path.write_text(text)
    return path


def _report(out: Path) -> dict:
    """Every generated file of a report (not the work folder) by relative path.

    README.md names its own folder (in the command that checks against it): that path
    is replaced by OUT so reports written to different folders compare equal.
    """
    tree = snapshot(out)
    tree["README.md"] = tree["README.md"].replace(str(out).encode(), b"OUT")
    return {k: v for k, v in tree.items() if not k.startswith("work")}


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    config = _write(root)
    messages = []
    out, drift = reproduce(config, out=root / "out", log=messages.append)
    everything = read_results(out / "results.csv")
    main, sweep = split_sweep(everything)
    return {"root": root, "config": config, "out": out, "log": messages, "drift": drift,
            "results": main, "sweep": sweep, "everything": everything}


def test_writes_every_output_with_a_generated_header(first):
    out = first["out"]
    assert first["drift"] is None
    for name in REPORT:
        head = (out / name).read_text()[:300]
        assert GENERATED in head, name
    figures = sorted(p.name for p in (out / "figures").iterdir())
    for dataset in ("field-g", "urban-l"):
        for stem in ("mse", "iou", "gain", "gallery-rho0", "gallery-rho0.9"):
            assert f"{dataset}-{stem}.png" in figures and f"{dataset}-{stem}.svg" in figures
    svg = (out / "figures" / "field-g-mse.svg").read_text()
    assert GENERATED in svg
    assert _png_text(out / "figures" / "field-g-mse.png")["Description"].endswith(f"({GENERATED})")
    assert not (out / ".staging").exists()


def _png_text(path: Path) -> dict:
    """tEXt chunks of a PNG, read by hand (no image library needed)."""
    data, pos, out = path.read_bytes(), 8, {}
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            out[key.decode()] = value.decode("latin-1")
        pos += 12 + length
    return out


def test_results_are_long_with_provenance(first):
    results, out = first["results"], first["out"]
    assert list(results.columns) == list(RESULT_COLUMNS)
    bench = load_benchmark(first["config"])
    for dataset in bench.datasets:
        part = results[results["dataset"] == dataset.name]
        store = open_store(out / "work" / "stores" / f"{dataset.name}.zarr")
        assert set(part["store_digest"]) == {store.attrs["digest"]}
        assert set(part["config_hash"]) == {bench.config_hash(dataset)}
        assert set(part["device"]) == {"cpu"}
        assert set(part["rho"]) == {"0", "0.9", "all"}
        assert set(part["estimator"]) == {"identity", "median", "unet", "concat"}
        assert set(part.loc[part["control"] != "none", "estimator"]) == {"concat"}
        # Paired metrics exist for everything but the reference itself.
        gain = part[(part["metric"] == "gain_mse") & (part["control"] == "none")]
        assert set(gain["estimator"]) == {"identity", "median", "concat"}
    assert set(results["benchmark"]) == {"tiny"} and set(results["profile"]) == {"default"}
    assert set(results["train_size"]) == {"14"}  # 70% of 20 samples per rho
    everything = first["everything"]
    assert list(everything.columns) == list(RESULT_COLUMNS)
    assert everything.groupby(["dataset", "train_size", "estimator", "control", "rho",
                               "metric"]).size().max() == 1


def test_the_sweep_trains_the_reference_and_concat_on_the_first_samples_of_each_rho(first):
    sweep, out = first["sweep"], first["out"]
    assert set(sweep["train_size"]) == {4, 14}
    assert set(sweep["estimator"]) == {"unet", "concat"}   # trained at both sizes
    small = sweep[sweep["train_size"] == 4]
    assert set(small["estimator"]) == {"unet", "concat"}
    assert set(small["control"]) == {"none"}               # no prior controls in the sweep
    for dataset in ("field-g", "urban-l"):
        run = json.loads((out / "work" / "scaling" / dataset / "train4" / "run.json").read_text())
        assert run["train_size"] == 4
        store = open_store(out / "work" / "stores" / f"{dataset}.zarr")
        # The same test samples as the main run, and a paired gain over them.
        samples = pd.read_parquet(out / "work" / "scaling" / dataset / "train4" / "samples"
                                  / "concat.parquet")
        assert sorted(samples["sample"].unique()) == store.indices("test").tolist()
        ref = pd.read_parquet(out / "work" / "scaling" / dataset / "train4" / "samples"
                              / "unet.parquet").set_index("sample")
        a = samples[np.isclose(samples["rho"], 0.9)].set_index("sample")
        gain = -100 * (a["mse"] - ref["mse"].loc[a.index]).mean() / ref["mse"].loc[a.index].mean()
        cell = small[(small["dataset"] == dataset) & (small["estimator"] == "concat")
                     & (small["rho"] == "0.9") & (small["metric"] == "gain_mse")]
        assert cell["value"].item() == pytest.approx(gain, rel=1e-9)
    md = (out / "tables.md").read_text()
    assert md.count("Prior gain at ρ=0.9 against training samples") == 2
    assert "| 4 (8) | 14 (28) |" in md
    table = md.split("**Prior gain at ρ=0.9 against training samples, field-g**")[1].split("**")[0]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| ")][1:]
    # Quick training cannot show convergence: every row carries the dagger.
    assert [(a.strip(), b.strip()) for a, b in rows] == [
        ("unet †", "MSE"), ("concat †", "MSE"), ("concat †", "gain over unet, %")]
    assert (out / "figures" / "field-g-scaling.png").is_file()
    assert "field-g-scaling.png" in (out / "README.md").read_text()


def test_identity_cells_match_a_direct_computation(first):
    """MSE and dataset IoU of the identity estimator, straight from the store with numpy."""
    results, out = first["results"], first["out"]
    store = open_store(out / "work" / "stores" / "field-g.zarr")
    test = store.indices("test")
    rho = store.rho[:][test]
    noisy = np.clip(store.noisy[test][:, 0], 0, 1).astype(np.float64)
    clean = store.clean[test][:, 0].astype(np.float64)
    for r, label in ((0.0, "0"), (0.9, "0.9")):
        sel = rho == np.float32(r)
        mse = np.mean((noisy[sel] - clean[sel]) ** 2, axis=(1, 2)).mean()
        pred, truth = noisy[sel] >= 0.5, clean[sel] >= 0.5
        iou = (pred & truth).sum() / (pred | truth).sum()
        cell = results[(results["dataset"] == "field-g") & (results["estimator"] == "identity")
                       & (results["control"] == "none") & (results["rho"] == label)]
        assert cell.loc[cell["metric"] == "mse", "value"].item() == pytest.approx(mse, rel=1e-6)
        assert cell.loc[cell["metric"] == "iou", "value"].item() == pytest.approx(iou, rel=1e-6)


def test_tables_bold_the_best_of_each_column(first):
    results, md = first["results"], (first["out"] / "tables.md").read_text()
    mse = results[(results["dataset"] == "field-g") & (results["metric"] == "mse")
                  & (results["control"] == "none")]
    table = md.split("**MSE, field-g")[1].split("**IoU")[0]
    for column, rho in enumerate(["0", "0.9", "all"], start=1):
        values = mse[mse["rho"] == rho].set_index("estimator")["value"]
        best = values.round(4).min()
        bold = [line.split("|")[1].strip().removesuffix(" †") for line in table.splitlines()
                if line.startswith("| ") and line.split("|")[column + 1].strip().startswith("**")]
        assert sorted(bold) == sorted(values.index[values.round(4) == best])
    assert "prior gain % vs unet (ρ=0.9)" in table
    # The quick profile's cosine schedule cannot show convergence: its rows are marked.
    assert "| concat, X2 shuffled † |" in table and "| unet † |" in table
    assert "† not shown to have converged (converged: its last 5 or more evaluations" in table
    tex = (first["out"] / "tables.tex").read_text()
    # 3 tables and the data-scaling one, for each of 2 datasets.
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 8
    assert r"\textbf{" in tex and r"$\pm$" in tex


def test_readme_shows_tables_and_figures(first):
    readme = (first["out"] / "README.md").read_text()
    assert "ogmbench reproduce" in readme and "--check" in readme
    for name in ("field-g-mse.png", "urban-l-gain.png", "field-g-gallery-rho0.9.png"):
        assert f"(figures/{name})" in readme
    assert "vehicles seen by a lidar" in readme  # the dataset description


def test_rerun_reuses_everything_writes_the_same_bytes_and_checks_every_cell(first, capsys,
                                                                           tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)
    checkpoints = {p.name: p.stat().st_mtime_ns for p in (out / "work" / "checkpoints").iterdir()}
    code, stdout, err = call(["reproduce", first["config"], "--out", out, "--check",
                              first["out"] / "results.csv"], capsys)
    assert code == 0, err
    assert err.count("matches, reused") == 2
    assert err.count("done in an earlier run, kept") == 8 + 4  # and the sweep's
    assert {p.name: p.stat().st_mtime_ns for p in (out / "work" / "checkpoints").iterdir()} == checkpoints
    assert _report(out) == _report(first["out"])
    # Against its own results: every cell compared, none drifted.
    full = read_results(first["out"] / "results.csv")
    assert f"all {len(full)} published cells" in stdout and "within the tolerance" in stdout


def test_a_second_run_from_scratch_gives_identical_tables_and_figures(first, tmp_path, monkeypatch):
    """Same profile twice on the CPU, nothing shared, other workers: the same bytes
    everywhere.  Without --out the report goes to runs/<benchmark>-<profile>."""
    monkeypatch.chdir(tmp_path)
    out, _ = reproduce(first["config"], workers=2)
    assert out == Path("runs") / "tiny-default"
    assert _report(out) == _report(first["out"])


def test_changed_settings_regenerate_the_store_and_redo_the_run(first, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)
    config = _write(tmp_path / "changed", benchmark_toml(**{**TINY_SETTINGS, "samples_per_rho": 15}))
    messages = []
    reproduce(config, out=out, log=messages.append)
    text = "\n".join(messages)
    assert text.count("has other settings, regenerating") == 2
    assert "done in an earlier run" not in text
    results = read_results(out / "results.csv")
    assert (results.loc[results["rho"] == "all", "n"] <= 2 * 3).all()  # 15 per rho -> 3 test


def _published_with(first, tmp_path, change) -> Path:
    lines = (first["out"] / "results.csv").read_text().splitlines(keepends=True)
    frame = pd.read_csv(first["out"] / "results.csv", skiprows=1, dtype={"rho": str})
    frame = change(frame)
    path = tmp_path / "published.csv"
    path.write_text(lines[0] + frame.to_csv(index=False, float_format="%.10g"))
    return path


def test_check_names_the_cells_that_drifted(first, capsys, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)

    def change(frame):
        at = ((frame["dataset"] == "urban-l") & (frame["estimator"] == "median")
              & (frame["metric"] == "mse") & (frame["rho"] == "0.9") & (frame["control"] == "none"))
        frame.loc[at, "value"] *= 1.5  # far outside rtol 0.01 + atol 0.001
        small = ((frame["dataset"] == "field-g") & (frame["estimator"] == "identity")
                 & (frame["metric"] == "mse") & (frame["rho"] == "0"))
        frame.loc[small, "value"] *= 1.005  # inside the tolerance: not drift
        extra = frame[frame["estimator"] == "concat"].head(1).assign(estimator="gone")
        sweep = ((frame["dataset"] == "field-g") & (frame["estimator"] == "concat")
                 & (frame["metric"] == "mse") & (frame["rho"] == "0.9")
                 & (frame["train_size"] == 4))
        frame.loc[sweep, "value"] *= 1.5  # a cell of the sweep, told from the main run's
        # A truncated published file: its last 3 cells are computed now but not published.
        return pd.concat([frame.head(len(frame) - 3), extra])  # "gone": published, missing now

    published = _published_with(first, tmp_path, change)
    code, stdout, err = call(["reproduce", first["config"], "--out", out, "--check", published], capsys)
    assert code == 1
    assert "6 cell(s) drifted" in stdout and "6 cell(s) drifted" in err.splitlines()[-1]
    assert stdout.count("not in the published results") == 3
    assert "urban-l mse median train=14 rho=0.9" in stdout
    assert "field-g mse concat train=4 rho=0.9" in stdout
    assert "field-g mse concat train=14 rho=0.9" not in stdout
    assert re.search(r"field-g \w+ gone .*now missing", stdout)
    assert "identity train=14 rho=0:" not in stdout
    # The report is still written: drift is about the numbers, not a failed run.
    assert (out / "results.csv").read_text() == (first["out"] / "results.csv").read_text()


def test_added_estimator_gets_rows_and_is_not_drift(first, capsys, tmp_path):
    plugin = estimator_file(
        tmp_path / "box.py", "Box",
        "ndimage.uniform_filter(np.clip(noisy[:, target], 0, 1), size=(1, self.size, "
        "self.size)).astype(np.float32)",
        "    name = 'box'\n    param_grid = {'size': [3, 5]}\n\n"
        "    def __init__(self, size=3):\n        self.size = size\n\n")
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)
    published = tmp_path / "published.csv"
    shutil.copy(first["out"] / "results.csv", published)
    code, stdout, err = call(["reproduce", first["config"], "--out", out, "--check", published,
                              "--estimator", f"{plugin}:Box"], capsys)
    assert code == 0, err
    results = read_results(out / "results.csv")
    assert {"box"} < set(results["estimator"])
    assert "| box |" in (out / "tables.md").read_text()
    assert "box" in json.loads((out / "work" / "runs" / "field-g" / "run.json").read_text())["estimators"]
    # Added once, it does not stay: the next report without it is the first one again.
    assert call(["reproduce", first["config"], "--out", out], capsys)[0] == 0
    assert _report(out) == _report(first["out"])


def test_a_failing_estimator_leaves_the_previous_report_alone(first, capsys, tmp_path):
    plugin = estimator_file(tmp_path / "bad.py", "Bad",
                            "np.full(noisy[:, target].shape, 2.0, dtype=np.float32)")
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)
    before = _report(out)
    code, stdout, err = call(["reproduce", first["config"], "--out", out,
                              "--estimator", f"{plugin}:Bad"], capsys)
    assert code == 1
    assert "bad failed on field-g" in err and "outside [0, 1]" in err
    assert "Traceback" not in err
    assert _report(out) == before


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_published_cell_that_is_no_number_is_drift(first, capsys, tmp_path, value):
    """A published NaN or infinity beside a number compared as within the tolerance
    (every comparison with NaN is False): a check against an emptied file passed."""
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)

    def empty(frame):
        at = (frame["metric"] == "mse") & (frame["estimator"] == "median")
        frame.loc[at, "value"] = value
        return frame

    published = _published_with(first, tmp_path, empty)
    code, stdout, err = call(["reproduce", first["config"], "--out", out, "--check", published],
                             capsys)
    assert code == 1 and "drifted" in err.splitlines()[-1]


def test_check_refuses_results_of_changed_settings_before_any_work(first, capsys, tmp_path):
    config = _write(tmp_path / "changed", benchmark_toml(**{**TINY_SETTINGS, "samples_per_rho": 25}))
    code, out, err = call(["reproduce", config, "--out", tmp_path / "new", "--check",
                           first["out"] / "results.csv"], capsys)
    assert_usage_error(code, out, err, "other settings", "field-g", "new [benchmark] version")
    assert not (tmp_path / "new").exists()


def test_out_and_work_folders_that_are_not_ours_are_refused(first, capsys, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first["out"], out)
    mine = out / "figures" / "paper-fig1.pdf"
    mine.write_bytes(b"%PDF-1.4 mine")
    code, stdout, err = call(["reproduce", first["config"], "--out", out], capsys)
    assert_usage_error(code, stdout, err, "figures/paper-fig1.pdf")
    assert mine.read_bytes() == b"%PDF-1.4 mine"
    mine.unlink()
    for work, words in ((out / "figures" / "w", "inside the report's figures"),
                        (out / "results.csv", "not a directory"), ("", "--work is empty")):
        code, stdout, err = call(["reproduce", first["config"], "--out", out, "--work", work],
                                 capsys)
        assert_usage_error(code, stdout, err, words)
    code, stdout, err = call(["reproduce", first["config"], "--out", ""], capsys)
    assert_usage_error(code, stdout, err, "--out is empty")


def test_gain_cells_match_a_direct_paired_computation(first):
    """gain_mse = -100 * mean(mse - mse_ref) / mean(mse_ref) over the same test samples."""
    run = first["out"] / "work" / "runs" / "field-g"
    concat = pd.read_parquet(run / "samples" / "concat.parquet")
    unet = pd.read_parquet(run / "samples" / "unet.parquet")
    results = first["results"]
    for rho, label in ((0.0, "0"), (0.9, "0.9")):
        a = concat[(concat["control"] == "none") & np.isclose(concat["rho"], rho)].set_index("sample")
        b = unet[(unet["control"] == "none") & np.isclose(unet["rho"], rho)].set_index("sample")
        gain = -100.0 * (a["mse"] - b["mse"].loc[a.index]).mean() / b["mse"].loc[a.index].mean()
        cell = results[(results["dataset"] == "field-g") & (results["estimator"] == "concat")
                       & (results["control"] == "none") & (results["rho"] == label)
                       & (results["metric"] == "gain_mse")]
        assert cell["value"].item() == pytest.approx(gain, rel=1e-9)


CLASSICAL = benchmark_toml(name="classical", datasets=(("2024", "field", "", ""),),
                           estimators=("identity", "median:size=5", "gaussian"),
                           prior_controls=(), reference="median", samples_per_rho=10, size=16)


def test_parametrised_reference_numeric_dataset_name_and_estimator_order(capsys, tmp_path):
    config = _write(tmp_path, CLASSICAL)
    out = tmp_path / "out"
    assert call(["reproduce", config, "--out", out], capsys)[0] == 0
    results = read_results(out / "results.csv")
    gains = results[results["metric"] == "gain_mse"]
    assert set(gains["reference"]) == {"median[size=5]"}
    assert set(gains["estimator"]) == {"identity", "gaussian"}
    code, stdout, err = call(["reproduce", config, "--out", out, "--check", out / "results.csv"],
                             capsys)
    assert code == 0, err
    # Rows follow the benchmark file's order, also when a rerun resumes an older run.
    config.write_text(CLASSICAL.replace('["identity", "median:size=5", "gaussian"]',
                                        '["gaussian", "identity", "median:size=5"]'))
    assert '["gaussian", "identity", "median:size=5"]' in config.read_text()
    assert call(["reproduce", config, "--out", out], capsys)[0] == 0
    table = (out / "tables.md").read_text().split("**IoU")[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["gaussian", "identity", "median[size=5]"]


def test_captions_state_the_intervals_of_several_training_seeds(tmp_path):
    config = _write(tmp_path, benchmark_toml(estimators=("identity", "unet", "concat"),
                                             steps=5, train_seeds=2))
    out, _ = reproduce(config, out=tmp_path / "out")
    md = (out / "tables.md").read_text()
    assert ("over 2 training seeds and the test samples ± the half-width of a closed-form 95% "
            "interval") in md
    assert "paired on the same test samples and training seeds" in md
    assert set(read_results(out / "results.csv").query("estimator == 'unet'")["seeds"]) == {2}


@pytest.mark.parametrize("run_json", [None, "{}", "[]", '{"format": 1, "estimators": {}}'])
def test_a_foreign_folder_in_the_run_place_is_not_deleted(first, capsys, tmp_path, run_json):
    # Only a run.json that ogmbench wrote makes a folder ogmbench's to replace.
    work = tmp_path / "work"
    shutil.copytree(first["out"] / "work" / "stores", work / "stores")
    mine = work / "runs" / "field-g" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    if run_json is not None:
        (mine.parent / "run.json").write_text(run_json)
    code, out, err = call(["reproduce", first["config"], "--out", tmp_path / "out", "--work",
                           work], capsys)
    # Found once the stores are ready (their log lines come first): exit 2, one error line.
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "is in the way" in last
    assert mine.read_text() == "mine"
    if run_json is not None:
        assert (mine.parent / "run.json").read_text() == run_json


def test_a_foreign_staging_folder_is_refused_and_kept(first, capsys, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(first["out"] / "work", work)
    mine = tmp_path / "out" / ".ogmbench-staging" / "draft.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    code, out, err = call(["reproduce", first["config"], "--out", tmp_path / "out", "--work",
                           work], capsys)
    assert code == 2 and "Traceback" not in err
    assert "was not made by ogmbench reproduce" in err.strip().splitlines()[-1]
    assert mine.read_text() == "mine"
    assert not (tmp_path / "out" / "results.csv").exists()


def test_every_published_number_re_derives_from_the_per_sample_scores(first, tmp_path):
    # samples.parquet holds the rows results.csv is computed from: anyone can re-derive
    # every value, interval and paired gain, and pair a new estimator on the same samples.
    from ogmbench.results import read_samples, results_from_samples, write_results

    bench = load_benchmark(first["config"])
    samples = read_samples(first["out"] / "samples.parquet")
    assert "run" not in samples and {"dataset", "train_size", "sample", "mse"} <= set(samples)
    # The sweep's size and each dataset's whole train split.
    assert set(samples["train_size"]) == {4} | {d.config.counts[0] for d in bench.datasets}
    write_results(results_from_samples(bench, samples), tmp_path / "again.csv", bench)
    assert (tmp_path / "again.csv").read_bytes() == (first["out"] / "results.csv").read_bytes()


def test_a_samples_file_not_ours_is_refused(tmp_path):
    from ogmbench.results import ResultsError, read_samples

    (tmp_path / "samples.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ResultsError, match="not a samples.parquet written by ogmbench"):
        read_samples(tmp_path / "samples.parquet")


def test_a_new_estimator_is_scored_beside_the_published_rows(first, tmp_path):
    # From a published folder: only the new estimator trains or runs; the published rows
    # are as published, and the new ones pair with them on the same test samples.
    box = estimator_file(tmp_path / "box.py", "Box",
                         "ndimage.uniform_filter(np.clip(noisy[:, target], 0, 1), size=(1, 3, 3))"
                         ".astype(np.float32)")
    out, _ = reproduce(first["config"], out=tmp_path / "beside", beside=first["out"],
                       estimators=[f"{box}:Box"])
    new = read_results(out / "results.csv")
    published = read_results(first["out"] / "results.csv")
    key = ["dataset", "train_size", "estimator", "control", "rho", "metric"]
    ours = new[new["estimator"] != "box"].sort_values(key).reset_index(drop=True)
    assert ours[key + ["value", "lo", "hi", "n"]].equals(
        published.sort_values(key).reset_index(drop=True)[key + ["value", "lo", "hi", "n"]])
    gains = new[(new["estimator"] == "box") & (new["metric"] == "gain_mse")]
    assert len(gains) and (gains["reference"] == "unet").all() and gains["value"].notna().all()
    assert not list((tmp_path / "beside" / "work").rglob("*.pt"))  # nothing was trained
    assert "--beside" in (out / "README.md").read_text()


def test_beside_needs_an_estimator_and_published_samples(first, tmp_path, capsys):
    code, out, err = call(["reproduce", first["config"], "--beside", first["out"], "--out",
                           tmp_path / "a"], capsys)
    assert code == 2 and "--beside scores the estimators given with --estimator" in err
    bare = tmp_path / "published-before"
    bare.mkdir()
    code, out, err = call(["reproduce", first["config"], "--beside", bare, "--estimator",
                           "gaussian:sigma=2.0", "--out", tmp_path / "b"], capsys)
    assert code == 2 and "no samples.parquet" in err and "Traceback" not in err


WHITE = """[benchmark]
name = "white"
version = 1
description = "the data-scaling sweep read against the Bayes limit"
[[dataset]]
name = "field-w"
family = "field"
noise = "gaussian:sigma=1.0/0.3"
params = { length_scale = 0.0 }
[eval]
estimators = ["unet", "concat", "bayes-optimal", "bayes-optimal-x1"]
prior_controls = []
reference = "unet"
scaling = ["concat"]
[profile.default]
rho = [0.0, 0.9]
samples_per_rho = 20
size = 16
training = "quick"
steps = 10
train_seeds = 1
device = "cpu"
train_sizes = [4]
[check]
rtol = 0.05
atol = 0.002
"""


def test_the_sweep_reads_each_train_size_s_gain_against_the_limit(tmp_path):
    from ogmbench.metrics import METRICS

    out, _ = reproduce(_write(tmp_path, WHITE), out=tmp_path / "out")
    _, sweep = split_sweep(read_results(out / "results.csv"))
    samples = pd.read_parquet(out / "samples.parquet")
    for size in (4, 14):
        rows = samples[(samples["train_size"] == size) & np.isclose(samples["rho"], 0.9)]
        mse = {e: g.set_index("sample")["mse"].sort_index() for e, g in rows.groupby("estimator")}
        # The references train on nothing: the main run's scores stand at every size.
        assert set(mse) == {"unet", "concat", "bayes-optimal", "bayes-optimal-x1"}
        room = (mse["bayes-optimal-x1"] - mse["bayes-optimal"]).mean()
        taken = (mse["unet"] - mse["concat"]).mean()
        cell = sweep[(sweep["train_size"] == size) & (sweep["estimator"] == "concat")
                     & (sweep["rho"] == "0.9") & (sweep["metric"] == "share_bayes")]
        assert cell["value"].item() == pytest.approx(100 * taken / room)
    table = (out / "tables.md").read_text().split("against training samples, field-w**")[1]
    assert f"| concat † | {METRICS['share_bayes'].title}, %" in table.split("**")[0]
