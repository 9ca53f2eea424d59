"""``ogmbench eval`` and ``ogmbench leaderboard``: help, happy path, numbers, resume,
faulty estimators, the error contract.

Exit codes and output are read through ``ogmbench.cli.main`` (as the console script
runs it); ``--help`` goes through ``CliRunner``.  The error contract: bad input gives
exit 2, exactly one stderr line, no traceback, and no run directory; an estimator that
misbehaves is recorded as failed, the others' results are kept, and the exit code is 1.

Everything runs on one tiny store (16x16 maps, 2 classes, 8 test samples) with fast
estimators only.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import ogmbench
from ogmbench.cli import cli
from cli_helpers import assert_usage_error, bad_stores_in, call, snapshot  # noqa: E402

STORE_SETTINGS = dict(family="field", noise="gaussian:sigma=1.0/0.3", rho=[0.0, 0.9],
                      samples_per_rho=20, size=16, seed=0)
RHOS = ["0", "0.9"]
HAPPY = ["identity", "gaussian", "bayes-cell"]


# --------------------------------------------------------------------------- helpers


def strict_json(path: Path) -> dict:
    """Parse a file as strict JSON: NaN / Infinity tokens are an error."""
    text = Path(path).read_text()

    def refuse(token):
        raise AssertionError(f"{path} holds the non-JSON token {token}")

    data = json.loads(text, parse_constant=refuse)
    # No bare NaN/Infinity token outside string literals (a reason may say "NaN").
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    assert "NaN" not in bare and "Infinity" not in bare
    return data


def read_csv_text(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype={"rho": str})


def read_leaderboard(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "leaderboard.csv", dtype={"rho": str})


def rho_key(value: str) -> str:
    return value if value == "all" else f"{float(value):g}"


def samples(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "samples" / f"{name}.parquet")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A tiny complete store (2 classes, 40 samples: 28 train, 4 val, 8 test)."""
    path = tmp_path_factory.mktemp("eval") / "small.zarr"
    ogmbench.generate(path, **STORE_SETTINGS)
    return path


@pytest.fixture(scope="module")
def happy(store, tmp_path_factory):
    """One run of identity, gaussian and bayes-cell with the shuffled control.

    Tests only read it.
    """
    run_dir = tmp_path_factory.mktemp("happy") / "run"
    argv = ["eval", store, *sum((["--estimator", n] for n in HAPPY), []), "--out", run_dir,
            "--prior-control", "shuffled"]
    code, out, err = call(argv)
    return {"code": code, "out": out, "err": err, "dir": run_dir}


@pytest.fixture(scope="module")
def bad_stores(tmp_path_factory, store):
    """Paths that eval must refuse, by kind."""
    root = tmp_path_factory.mktemp("bad")
    paths = bad_stores_in(root, store)
    no_test = root / "no_test.zarr"
    ogmbench.generate(no_test, **{**STORE_SETTINGS, "samples_per_rho": 4},
                      split=(1.0, 0.0, 0.0))
    assert ogmbench.open_store(no_test).indices("test").size == 0
    return {**paths, "no_test": no_test}


def test_fixture_store_shape(store):
    s = ogmbench.open_store(store)
    assert s.classes == 2 and len(s) == 40
    assert s.indices("test").size == 8  # 4 per rho


# --------------------------------------------------------------------------- --help


HELP = {
    "eval": ["STORE", "--estimator", "path/file.py:Class", "--target", "--out", "RUN_DIR",
             "--prior-control", "shuffled", "zeros", "oracle", "--seed", "--device",
             "--workers", "--resume", "--metric"],
    "leaderboard": ["RUN_DIR...", "--metric", "gain_mse", "--format", "table", "md", "latex",
                    "csv", "--reference"],
}


@pytest.mark.parametrize("command", list(HELP))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_mentions_key_options(command, flag):
    result = CliRunner().invoke(cli, [command, flag], prog_name="ogmbench")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: ogmbench {command} [OPTIONS]")
    for word in HELP[command]:
        assert word in result.output, f"{word!r} missing from 'ogmbench {command} {flag}'"


def test_group_help_lists_eval_and_leaderboard():
    result = CliRunner().invoke(cli, ["--help"], prog_name="ogmbench")
    assert result.exit_code == 0
    assert "eval" in result.output and "leaderboard" in result.output


# --------------------------------------------------------------------------- happy path


def test_happy_exit_and_table(happy):
    assert happy["code"] == 0, happy["err"]
    assert "Traceback" not in happy["err"]
    lines = happy["out"].splitlines()
    assert lines[0].startswith("mean MSE (lower is better)")
    header = lines[1].split()
    assert header == ["estimator", "control", *RHOS, "all"]
    rows = [line.split()[:2] for line in lines[2:] if line.strip() and not line.startswith("results")]
    assert rows == [["identity", "none"], ["gaussian", "none"], ["bayes-cell", "none"],
                    ["bayes-cell", "shuffled"]]
    assert f"results in {happy['dir']}" in happy["out"]
    # Status lines go to stderr, one per estimator.
    for name in HAPPY:
        assert f"{name}: ok" in happy["err"]


def test_happy_run_dir_layout(happy):
    run_dir = happy["dir"]
    assert sorted(p.name for p in run_dir.iterdir()) == ["leaderboard.csv", "run.json", "samples"]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == sorted(
        f"{n}.parquet" for n in HAPPY)


def test_run_json_provenance(happy, store):
    run = strict_json(happy["dir"] / "run.json")
    opened = ogmbench.open_store(store)
    assert run["store_digest"] == opened.attrs["digest"]
    assert run["store"] == str(Path(store).resolve())
    assert run["target"] == 0 and run["target_name"] == "X1"
    assert run["class_names"] == ["X1", "X2"]
    assert run["seed"] == 0
    assert run["prior_controls"] == ["shuffled"]
    assert run["family"] == "field" and run["noise"] == opened.attrs["noise"]
    assert run["device"] == "cpu"
    assert run["versions"]["ogmbench"] == ogmbench.__version__
    assert "started_at" in run and "finished_at" in run
    assert list(run["estimators"]) == HAPPY


def test_run_json_estimator_records(happy, store):
    run = strict_json(happy["dir"] / "run.json")
    for name, record in run["estimators"].items():
        assert record["status"] == "ok", record
        assert record["source"] == "built-in"
        assert record["samples_file"] == f"samples/{name}.parquet"
        timings = record["timings"]
        assert timings["fit_s"] >= 0 and timings["predict_s"] >= 0
        assert timings["test_samples_per_s"] > 0
        assert 0.05 <= record["val_threshold"] <= 0.95
        # The chosen parameters are the best row of the tuning table (ties: first).
        table = record["tuning"]
        assert table, name
        best = min(table, key=lambda row: row["val_mse"])
        assert record["tuned"] == best["params"]
        for key, value in record["tuned"].items():
            assert record["params"][key] == value
    records = run["estimators"]
    assert records["identity"]["uses_prior"] is False
    assert records["bayes-cell"]["uses_prior"] is True
    assert records["identity"]["tuned"] == {} and len(records["identity"]["tuning"]) == 1
    assert [row["params"]["sigma"] for row in records["gaussian"]["tuning"]] == \
        [0.5, 1.0, 1.5, 2.0, 3.0]
    assert [row["params"]["bins"] for row in records["bayes-cell"]["tuning"]] == [4, 8, 16, 32]


def test_identity_val_mse_recomputed(happy, store):
    """The tuning table's val MSE of identity, recomputed with numpy from the store."""
    s = ogmbench.open_store(store)
    val = s.indices("val")
    noisy = np.stack([s[i]["noisy"] for i in val]).astype(np.float64)
    clean = np.stack([s[i]["clean"] for i in val]).astype(np.float64)
    expected = np.mean((np.clip(noisy[:, 0], 0, 1) - clean[:, 0]) ** 2)
    run = strict_json(happy["dir"] / "run.json")
    assert run["estimators"]["identity"]["tuning"][0]["val_mse"] == pytest.approx(expected, rel=1e-9)


def test_parquet_rows(happy, store):
    s = ogmbench.open_store(store)
    test = s.indices("test")
    run = strict_json(happy["dir"] / "run.json")
    expected_controls = {"identity": ["none"], "gaussian": ["none"],
                         "bayes-cell": ["none", "shuffled"]}
    for name, controls in expected_controls.items():
        frame = samples(happy["dir"], name)
        assert len(frame) == len(test) * len(controls), name
        assert sorted(frame["control"].unique()) == sorted(controls)
        assert (frame["estimator"] == name).all()
        for control in controls:
            part = frame[frame["control"] == control]
            np.testing.assert_array_equal(part["sample"].to_numpy(), test)
            np.testing.assert_allclose(part["rho"].to_numpy(), s.rho[test].astype(float))
            np.testing.assert_allclose(part["phi"].to_numpy(), s.phi[test].astype(float))
        assert (frame["threshold"] == run["estimators"][name]["val_threshold"]).all()
        assert ((frame["mse"] >= 0) & (frame["mse"] <= 1)).all()
        assert (frame["tp"] + frame["fp"] + frame["fn"] <= 16 * 16).all()
        assert all(np.asarray(c).sum() == 16 * 16 for c in frame["cal_n"])
    # The shuffled control really changed bayes-cell's input.
    bayes = samples(happy["dir"], "bayes-cell")
    none = bayes[bayes["control"] == "none"]["mse"].to_numpy()
    shuffled = bayes[bayes["control"] == "shuffled"]["mse"].to_numpy()
    assert not np.allclose(none, shuffled)


def test_identity_numbers_recomputed(happy, store):
    """Per-sample MSE of identity from the store with numpy, against parquet and csv."""
    s = ogmbench.open_store(store)
    test = s.indices("test")
    noisy = np.stack([s[i]["noisy"] for i in test]).astype(np.float64)
    clean = np.stack([s[i]["clean"] for i in test]).astype(np.float64)
    estimate = np.clip(noisy[:, 0], 0, 1)
    mse = ((estimate - clean[:, 0]) ** 2).mean(axis=(1, 2))
    frame = samples(happy["dir"], "identity").sort_values("sample")
    np.testing.assert_allclose(frame["mse"].to_numpy(), mse, rtol=1e-6, atol=0)
    # IoU at 0.5 of each sample
    pred, truth = estimate >= 0.5, clean[:, 0] >= 0.5
    np.testing.assert_array_equal(frame["tp"].to_numpy(), (pred & truth).sum(axis=(1, 2)))
    np.testing.assert_array_equal(frame["fp"].to_numpy(), (pred & ~truth).sum(axis=(1, 2)))
    np.testing.assert_array_equal(frame["fn"].to_numpy(), (~pred & truth).sum(axis=(1, 2)))

    board = read_leaderboard(happy["dir"])
    ident = board[(board["estimator"] == "identity") & (board["control"] == "none")]
    by_rho = {rho_key(r): row for r, row in zip(ident["rho"], ident.to_dict("records"))}
    assert set(by_rho) == {*RHOS, "all"}
    assert by_rho["all"]["n"] == len(test)
    assert by_rho["all"]["mse"] == pytest.approx(mse.mean(), rel=1e-6)
    rho = s.rho[test]
    for r in RHOS:
        mask = np.isclose(rho, float(r))
        assert by_rho[r]["n"] == mask.sum()
        assert by_rho[r]["mse"] == pytest.approx(mse[mask].mean(), rel=1e-6)
    iou_all = pred.__and__(truth).sum() / (pred | truth).sum()
    assert by_rho["all"]["iou"] == pytest.approx(iou_all, rel=1e-9)


def test_leaderboard_csv_matches_command(happy, capsys):
    code, out, err = call(["leaderboard", happy["dir"], "--format", "csv"], capsys)
    assert code == 0, err
    pd.testing.assert_frame_equal(read_csv_text(out), read_leaderboard(happy["dir"]))


# --------------------------------------------------------------------------- leaderboard


def test_leaderboard_formats(happy, capsys):
    run_dir = happy["dir"]
    results = {}
    for fmt in ("table", "md", "latex", "csv"):
        code, out, err = call(["leaderboard", run_dir, "--format", fmt], capsys)
        assert code == 0, err
        assert err == ""
        results[fmt] = out

    table = results["table"].splitlines()
    assert table[0].startswith("mean MSE")
    assert table[1].split() == ["estimator", "control", *RHOS, "all"]
    assert len(table) == 2 + 4
    assert results["table"].strip() in happy["out"]  # eval printed the same table

    md_rows = [line for line in results["md"].splitlines() if line.startswith("|")]
    assert len(md_rows) == 2 + 4  # header, separator, four rows
    assert all(line.rstrip().endswith("|") for line in md_rows)
    assert "all" in md_rows[0] and "estimator" in md_rows[0]
    assert set(md_rows[1]) <= set("|:- ")
    assert any("bayes-cell" in line and "shuffled" in line for line in md_rows)

    latex = results["latex"]
    for rule in (r"\begin{tabular}", r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}"):
        assert rule in latex
    assert r"$\pm$" in latex
    body = [line for line in latex.splitlines() if not line.startswith("%")]
    assert not any("±" in line for line in body)
    assert sum(line.rstrip().endswith(r"\\") for line in body) == 1 + 4

    frame = read_csv_text(results["csv"])
    for column in ("n", "mse", "mse_lo", "mse_hi", "estimator", "control", "rho", "store_digest"):
        assert column in frame.columns
    assert len(frame) == 4 * 3  # (estimator, control) x (two rho + all)
    assert (frame["mse_lo"] <= frame["mse"]).all() and (frame["mse"] <= frame["mse_hi"]).all()
    assert sorted(frame.loc[frame["rho"] == "all", "n"]) == [8, 8, 8, 8]
    assert sorted(frame.loc[frame["rho"] != "all", "n"]) == [4] * 8


@pytest.mark.parametrize("metric,title", [("iou", "dataset IoU at 0.5"),
                                          ("gain_mse", "MSE gain over the reference"),
                                          ("ece", "expected calibration error")])
def test_leaderboard_metrics(metric, title, happy, capsys):
    code, out, err = call(["leaderboard", happy["dir"], "--metric", metric], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(title)
    board = read_leaderboard(happy["dir"])
    row = board[(board["estimator"] == "gaussian") & (board["rho"] == "all")].iloc[0]
    digits = 2 if metric == "gain_mse" else 4
    gaussian_line = next(line for line in lines if line.split()[:1] == ["gaussian"])
    assert f"{row[metric]:.{digits}f}" in gaussian_line.split()[-3:]
    if metric == "gain_mse":
        # The reference has no gain to itself: its cells are empty.
        identity_line = next(line for line in lines if line.split()[:1] == ["identity"])
        assert identity_line.split() == ["identity", "none"]
        assert row["gain_mse"] > 0  # smoothing beats the raw noisy map
    else:
        values = board[metric].dropna()
        assert ((values >= 0) & (values <= 1)).all()


def test_leaderboard_same_run_twice_is_deduplicated(happy, capsys):
    """Listing a run twice changes nothing (no entry counted twice)."""
    code, once, err = call(["leaderboard", happy["dir"], "--format", "csv"], capsys)
    assert code == 0, err
    code, twice, err = call(["leaderboard", happy["dir"], happy["dir"], "--format", "csv"], capsys)
    assert code == 0, err
    pd.testing.assert_frame_equal(read_csv_text(twice), read_csv_text(once))


def test_leaderboard_copy_of_run_is_deduplicated(happy, tmp_path, capsys):
    """The same results under two directory names are kept once (first wins)."""
    copy = tmp_path / "copy"
    shutil.copytree(happy["dir"], copy)
    code, once, err = call(["leaderboard", happy["dir"], "--format", "csv"], capsys)
    assert code == 0, err
    code, merged, err = call(["leaderboard", happy["dir"], copy, "--format", "csv"], capsys)
    assert code == 0, err
    pd.testing.assert_frame_equal(read_csv_text(merged), read_csv_text(once))


def test_leaderboard_merges_runs_of_different_estimators(happy, store, tmp_path, capsys):
    other = tmp_path / "other"
    code, out, err = call(["eval", store, "--estimator", "median", "--estimator", "guided",
                           "--out", other], capsys)
    assert code == 0, err
    code, out, err = call(["leaderboard", happy["dir"], other, "--format", "csv"], capsys)
    assert code == 0, err
    merged = read_csv_text(out)
    assert set(merged["estimator"]) == {*HAPPY, "median", "guided"}
    assert len(merged) == (4 + 2) * 3
    # The paired comparison reaches across runs: median is compared with identity.
    median_all = merged[(merged["estimator"] == "median") & (merged["rho"] == "all")].iloc[0]
    assert median_all["reference"] == "identity" and median_all["n_paired"] == 8
    # Entries of the first run are unchanged by the merge.
    alone = read_leaderboard(happy["dir"])
    key = ["estimator", "control", "rho"]
    mine = merged[merged["estimator"].isin(HAPPY)].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine[alone.columns],
                                  alone.sort_values(key).reset_index(drop=True))
    code, out, err = call(["leaderboard", happy["dir"], other], capsys)
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines()[2:]]
    assert sorted(names) == sorted(["identity", "gaussian", "bayes-cell", "bayes-cell",
                                    "median", "guided"])


def test_leaderboard_reference_option(happy, capsys):
    code, out, err = call(["leaderboard", happy["dir"], "--reference", "gaussian",
                           "--metric", "gain_mse"], capsys)
    assert code == 0, err
    gaussian_line = next(line for line in out.splitlines() if line.split()[:1] == ["gaussian"])
    assert gaussian_line.split() == ["gaussian", "none"]  # the reference: no gain to itself
    identity_line = next(line for line in out.splitlines() if line.split()[:1] == ["identity"])
    assert identity_line.split()[2].startswith("-")  # identity is worse than gaussian


# --------------------------------------------------------------------------- resume


def test_resume_keeps_finished_estimators(store, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", "identity", "--estimator", "gaussian",
                           "--out", run_dir], capsys)
    assert code == 0, err
    first = strict_json(run_dir / "run.json")
    kept = {}
    for name in ("identity", "gaussian"):
        path = run_dir / "samples" / f"{name}.parquet"
        os.utime(path, ns=(10**18, 10**18))  # an old mtime: a rewrite would show
        kept[name] = (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes())

    code, out, err = call(["eval", store, "--resume", "--estimator", "identity",
                           "--estimator", "gaussian", "--estimator", "median",
                           "--out", run_dir], capsys)
    assert code == 0, err
    for name, before in kept.items():
        path = run_dir / "samples" / f"{name}.parquet"
        assert (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes()) == before
        assert f"{name}: done in an earlier run, kept" in err
    assert "median: ok" in err
    assert (run_dir / "samples" / "median.parquet").is_file()
    run = strict_json(run_dir / "run.json")
    assert list(run["estimators"]) == ["identity", "gaussian", "median"]
    assert all(r["status"] == "ok" for r in run["estimators"].values())
    for name in ("identity", "gaussian"):
        assert run["estimators"][name] == first["estimators"][name]
    assert "resumed_at" in run
    board = read_leaderboard(run_dir)
    assert set(board["estimator"]) == {"identity", "gaussian", "median"}
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["identity", "gaussian", "median"]


def test_resume_recomputes_a_failed_estimator(store, tmp_path, capsys):
    plugin = tmp_path / "flaky.py"
    # It fails while a flag file exists (plugins run in their own process: the flag is
    # outside both, and outside the plugin file, whose contents key its results).
    plugin.write_text(textwrap.dedent("""
        from pathlib import Path
        import numpy as np
        from ogmbench.api import Estimator

        class Flaky(Estimator):
            def predict(self, noisy, target):
                if Path(__file__).with_suffix(".fail").exists():
                    raise RuntimeError("not yet")
                return np.clip(noisy[:, target], 0, 1).astype(np.float32)
    """))
    flag = plugin.with_suffix(".fail")
    flag.touch()
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", f"{plugin}:Flaky", "--estimator",
                           "identity", "--out", run_dir], capsys)
    assert code == 1
    assert strict_json(run_dir / "run.json")["estimators"]["flaky"]["status"] == "failed"
    flag.unlink()
    code, out, err = call(["eval", store, "--resume", "--estimator", f"{plugin}:Flaky",
                           "--estimator", "identity", "--out", run_dir], capsys)
    assert code == 0, err
    assert "identity: done in an earlier run, kept" in err and "flaky: ok" in err
    run = strict_json(run_dir / "run.json")
    assert run["estimators"]["flaky"]["status"] == "ok"
    pd.testing.assert_series_equal(samples(run_dir, "flaky")["mse"],
                                   samples(run_dir, "identity")["mse"])


def test_existing_run_without_resume(happy, store, capsys):
    before = snapshot(happy["dir"])
    code, out, err = call(["eval", store, "--estimator", "identity", "--out", happy["dir"]],
                          capsys)
    assert_usage_error(code, out, err, str(happy["dir"]), "--resume")
    assert out == ""
    assert snapshot(happy["dir"]) == before


@pytest.mark.parametrize("extra,word", [(["--seed", "1"], "seed"), (["--target", "1"], "target")])
def test_resume_with_other_settings(extra, word, happy, store, capsys):
    # (Other prior controls are allowed on resume: affected estimators are recomputed.)
    before = snapshot(happy["dir"])
    code, out, err = call(["eval", store, "--resume", "--estimator", "identity",
                           "--prior-control", "shuffled", *extra, "--out", happy["dir"]], capsys)
    assert_usage_error(code, out, err, str(happy["dir"]), word)
    assert snapshot(happy["dir"]) == before


def test_resume_refuses_a_foreign_directory(store, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine\n")
    code, out, err = call(["eval", store, "--resume", "--estimator", "identity",
                           "--out", foreign], capsys)
    assert_usage_error(code, out, err, "run.json")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


# --------------------------------------------------------------------------- faulty estimators


FAULTY = textwrap.dedent("""
    import numpy as np
    from ogmbench.api import Estimator

    class RaisePredict(Estimator):
        def predict(self, noisy, target):
            raise RuntimeError("boom in predict")

    class WrongShape(Estimator):
        def predict(self, noisy, target):
            return np.zeros((len(noisy), 3, 3), np.float32)

    class ReturnsNaN(Estimator):
        def predict(self, noisy, target):
            return np.full(noisy[:, target].shape, np.nan, np.float32)

    class TooLarge(Estimator):
        def predict(self, noisy, target):
            return np.full(noisy[:, target].shape, 2.0, np.float32)

    class Float64(Estimator):
        def predict(self, noisy, target):
            return np.clip(noisy[:, target], 0, 1).astype(np.float64)

    class RaiseFit(Estimator):
        def fit(self, data, *, target, seed=0, device="cpu"):
            raise ValueError("boom in fit")

        def predict(self, noisy, target):
            return np.clip(noisy[:, target], 0, 1).astype(np.float32)

    class WritesInput(Estimator):
        def predict(self, noisy, target):
            noisy[:, target] = 0.0
            return np.zeros(noisy[:, target].shape, np.float32)
""")

FAULTS = {
    "RaisePredict": ["predict raised RuntimeError", "boom in predict"],
    "WrongShape": ["shape (4, 3, 3)", "expected (4, 16, 16)"],
    "ReturnsNaN": ["NaN"],
    "TooLarge": ["outside [0, 1]", "max 2"],
    "Float64": ["dtype float64", "float32"],
    "RaiseFit": ["fit raised ValueError", "boom in fit"],
    "WritesInput": ["read-only"],
}


@pytest.mark.parametrize("first", [False, True], ids=["identity-first", "faulty-first"])
@pytest.mark.parametrize("cls", list(FAULTS))
def test_faulty_estimator_is_recorded_and_others_kept(cls, first, store, tmp_path, capsys):
    plugin = tmp_path / "faulty.py"
    plugin.write_text(FAULTY)
    name = cls.lower()
    run_dir = tmp_path / "run"
    specs = [f"{plugin}:{cls}", "identity"] if first else ["identity", f"{plugin}:{cls}"]
    code, out, err = call(["eval", store, *sum((["--estimator", s] for s in specs), []),
                           "--out", run_dir], capsys)
    assert code == 1, err
    assert "Traceback" not in out + err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert error_lines[0].startswith(f"error: estimator {name} failed: ")
    for word in FAULTS[cls]:
        assert word in error_lines[0]
    # identity's results are complete and on the leaderboard.
    assert len(samples(run_dir, "identity")) == 8
    assert not (run_dir / "samples" / f"{name}.parquet").exists()
    run = strict_json(run_dir / "run.json")
    assert run["estimators"]["identity"]["status"] == "ok"
    bad = run["estimators"][name]
    assert bad["status"] == "failed" and "samples_file" not in bad
    for word in FAULTS[cls]:
        assert word in bad["reason"]
    assert bad["source"].startswith(f"file {plugin} (sha256 ")
    assert set(read_leaderboard(run_dir)["estimator"]) == {"identity"}
    assert out.splitlines()[2].split()[:2] == ["identity", "none"]
    assert name not in out


def test_all_estimators_failing(store, tmp_path, capsys):
    plugin = tmp_path / "faulty.py"
    plugin.write_text(FAULTY)
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", f"{plugin}:RaisePredict",
                           "--estimator", f"{plugin}:TooLarge", "--out", run_dir], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert [e.split()[2] for e in errors] == ["raisepredict", "toolarge"]
    run = strict_json(run_dir / "run.json")
    assert [r["status"] for r in run["estimators"].values()] == ["failed", "failed"]
    assert "mean MSE" not in out


# --------------------------------------------------------------------------- bad input


def _bad_cases():
    return {
        "unknown-estimator": (lambda s, b: [s, "--estimator", "nosuch"],
                              ["'nosuch'", "identity", "bayes-cell", "median"]),
        "target-out-of-range": (lambda s, b: [s, "--estimator", "identity", "--target", "5"],
                                ["target", "0..1", "5"]),
        "negative-target": (lambda s, b: [s, "--estimator", "identity", "--target", "-1"],
                            ["target", "-1"]),
        "missing-store": (lambda s, b: [b["missing"], "--estimator", "identity"],
                          [str(Path("missing.zarr")), "no store at"]),
        "plain-dir": (lambda s, b: [b["plain"], "--estimator", "identity"],
                      ["not a zarr v3 store"]),
        "foreign-zarr": (lambda s, b: [b["foreign"], "--estimator", "identity"],
                         ["not an ogmbench store"]),
        "incomplete-store": (lambda s, b: [b["incomplete"], "--estimator", "identity"],
                             ["incomplete", "--resume"]),
        "empty-test-split": (lambda s, b: [b["no_test"], "--estimator", "identity"],
                             ["no test samples"]),
        "workers-0": (lambda s, b: [s, "--estimator", "identity", "--workers", "0"],
                      ["workers", "0"]),
        "missing-plugin-file": (lambda s, b: [s, "--estimator", "nonexistent.py:Foo"],
                                ["nonexistent.py", "does not exist"]),
        "not-an-estimator": (lambda s, b: [s, "--estimator", "os:path"],
                             ["'os:path'", "Estimator subclass"]),
        "no-such-module": (lambda s, b: [s, "--estimator", "no_such_module_xyz:Foo"],
                           ["no_such_module_xyz"]),
        "listed-twice": (lambda s, b: [s, "--estimator", "identity", "--estimator", "identity"],
                         ["identity", "twice"]),
        "bad-metric": (lambda s, b: [s, "--estimator", "identity", "--metric", "bogus"],
                       ["bogus", "--metric", "mse"]),
        "bad-control": (lambda s, b: [s, "--estimator", "identity", "--prior-control", "noise"],
                        ["noise", "--prior-control"]),
    }


BAD = _bad_cases()


@pytest.mark.parametrize("case", list(BAD))
def test_eval_bad_input(case, store, bad_stores, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    build, words = BAD[case]
    run_dir = tmp_path / "run"
    argv = ["eval", *build(store, bad_stores), "--out", run_dir]
    store_before = snapshot(store)
    code, out, err = call(argv, capsys)
    assert_usage_error(code, out, err, *words)
    assert out == ""
    assert not run_dir.exists()
    assert not (tmp_path / "runs").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert snapshot(store) == store_before


def test_leaderboard_on_a_dir_without_run_json(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x\n")
    code, out, err = call(["leaderboard", tmp_path], capsys)
    assert_usage_error(code, out, err, str(tmp_path), "run.json")
    assert out == ""


@pytest.mark.parametrize("argv,words", [
    (["--metric", "bogus"], ["bogus", "mse"]),
    (["--reference", "bogus"], ["bogus", "identity"]),
    (["--format", "html"], ["html"]),
])
def test_leaderboard_bad_options(argv, words, happy, capsys):
    before = snapshot(happy["dir"])
    code, out, err = call(["leaderboard", happy["dir"], *argv], capsys)
    assert_usage_error(code, out, err, *words)
    assert out == ""
    assert snapshot(happy["dir"]) == before


def test_leaderboard_without_arguments(capsys):
    code, out, err = call(["leaderboard"], capsys)
    assert_usage_error(code, out, err, "RUN_DIR")


def test_eval_metric_needing_a_reference(store, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", "gaussian", "--metric", "gain_mse",
                           "--out", run_dir], capsys)
    # Refused before any work: the paired gain needs identity or unet in the run.
    assert_usage_error(code, out, err, "gain_mse", "identity")
    assert not run_dir.exists()


def test_repeated_prior_control(store, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", "bayes-cell", "--prior-control",
                           "shuffled", "--prior-control", "shuffled", "--out", run_dir], capsys)
    if code == 0:
        frame = samples(run_dir, "bayes-cell")
        assert frame.groupby("control").size().to_dict() == {"none": 8, "shuffled": 8}
    else:
        assert_usage_error(code, out, err, "shuffled")
        assert not run_dir.exists()


def test_negative_seed(store, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", "bayes-cell", "--prior-control",
                           "shuffled", "--seed", "-1", "--out", run_dir], capsys)
    assert_usage_error(code, out, err, "seed")
    assert not run_dir.exists()


def test_out_is_a_regular_file(store, tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep\n")
    code, out, err = call(["eval", store, "--estimator", "identity", "--out", target], capsys)
    assert_usage_error(code, out, err, str(target))
    assert target.read_text() == "keep\n"


def test_out_below_a_regular_file(store, tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("keep\n")
    code, out, err = call(["eval", store, "--estimator", "identity", "--out", target / "sub"],
                          capsys)
    assert_usage_error(code, out, err, "cannot create run directory")
    assert target.read_text() == "keep\n"


# --------------------------------------------------------------------------- workers, specs


def test_workers_do_not_change_the_numbers(happy, store, tmp_path, capsys):
    run_dir = tmp_path / "w2"
    code, out, err = call(["eval", store, *sum((["--estimator", n] for n in HAPPY), []),
                           "--prior-control", "shuffled", "--workers", "2", "--out", run_dir],
                          capsys)
    assert code == 0, err
    for name in HAPPY:
        pd.testing.assert_frame_equal(samples(run_dir, name), samples(happy["dir"], name),
                                      check_exact=True)
    pd.testing.assert_frame_equal(read_leaderboard(run_dir), read_leaderboard(happy["dir"]),
                                  check_exact=True)
    one = strict_json(happy["dir"] / "run.json")["estimators"]
    two = strict_json(run_dir / "run.json")["estimators"]
    for name in HAPPY:
        for key in ("params", "tuned", "tuning", "val_threshold", "key"):
            assert two[name][key] == one[name][key]


def test_module_spec_and_plugin_file_match_the_builtin(store, tmp_path, capsys):
    plugin = tmp_path / "mine.py"
    plugin.write_text(textwrap.dedent("""
        import numpy as np
        from ogmbench.api import Estimator

        class ClipOnly(Estimator):
            name = "clip-only"

            def predict(self, noisy, target):
                return np.clip(noisy[:, target], 0, 1).astype(np.float32)
    """))
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", "ogmbench.baselines.classical:Identity",
                           "--estimator", f"{plugin}:ClipOnly", "--out", run_dir], capsys)
    assert code == 0, err
    run = strict_json(run_dir / "run.json")
    assert list(run["estimators"]) == ["identity", "clip-only"]
    assert run["estimators"]["clip-only"]["source"].startswith(f"file {plugin} (sha256 ")
    pd.testing.assert_series_equal(samples(run_dir, "clip-only")["mse"],
                                   samples(run_dir, "identity")["mse"])


def test_other_target(store, tmp_path, capsys):
    """--target 1 denoises X2; identity's numbers follow class 1 of the store."""
    run_dir = tmp_path / "run"
    code, out, err = call(["eval", store, "--estimator", "identity", "--target", "1",
                           "--out", run_dir], capsys)
    assert code == 0, err
    run = strict_json(run_dir / "run.json")
    assert run["target"] == 1 and run["target_name"] == "X2"
    s = ogmbench.open_store(store)
    test = s.indices("test")
    noisy = np.stack([s[i]["noisy"] for i in test]).astype(np.float64)
    clean = np.stack([s[i]["clean"] for i in test]).astype(np.float64)
    mse = ((np.clip(noisy[:, 1], 0, 1) - clean[:, 1]) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(samples(run_dir, "identity")["mse"].to_numpy(), mse, rtol=1e-6)


def test_a_quick_training_says_it_is_a_smoke_test_and_an_unconverged_one_says_so(store, tmp_path,
                                                                                  capsys):
    code, out, err = call(["eval", store, "--estimator", "unet", "--profile", "quick",
                           "--out", tmp_path / "q"], capsys)
    assert code == 0, err
    assert "note: unet trained on the quick profile, a smoke test" in out
    # An annealed schedule: its flat end cannot show convergence, and eval says so.
    code, out, err = call(["eval", store, "--estimator",
                           "unet:profile=default,width=8,depth=1,steps=16,val_every=2,"
                           "schedule=cosine", "--out", tmp_path / "d"], capsys)
    assert code == 0, err
    record = strict_json(tmp_path / "d" / "run.json")["estimators"]["unet"]
    assert record["converged"] is not True and "unet not shown to have converged" in out
    # A rate too small to move the val MSE: the plateau schedule lowers it once 5
    # evaluations at it lie in the later half of training (steps 4-8), again 5 later
    # (13), and stops 5 after that (18 of the 400 steps), and the run calls it converged.
    code, out, err = call(["eval", store, "--estimator",
                           "unet:profile=default,width=8,depth=1,steps=400,val_every=1,lr=1e-7",
                           "--out", tmp_path / "p"], capsys)
    assert code == 0, err
    record = strict_json(tmp_path / "p" / "run.json")["estimators"]["unet"]
    assert record["describe"]["trained_steps"] == 18
    assert record["converged"] is True and "converged" not in out


def test_a_bad_train_size_is_a_usage_error(store, tmp_path, capsys):
    code, out, err = call(["eval", store, "--estimator", "identity", "--train-size", "0",
                           "--out", tmp_path / "r"], capsys)
    assert_usage_error(code, out, err, "train size must be an integer in [1, ")
    assert not (tmp_path / "r").exists()
