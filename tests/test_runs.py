"""Run directories: written and read only through ogmbench.runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ogmbench.errors import ConfigError
from ogmbench.locks import BusyError
from ogmbench.runs import RUN_FORMAT, RUN_KIND, RunDirError, open_run, read_run

SETTINGS = {"store": "/data/s.zarr", "store_digest": "abc", "target": 0, "seed": 3,
            "prior_controls": []}


def new_run(path):
    return open_run(path, dict(SETTINGS), resume=False, device="cpu",
                    provenance={"family": "field", "noise": "gaussian:sigma=1"})


def test_a_new_run_records_settings_provenance_and_versions(tmp_path):
    run = new_run(tmp_path / "r")
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["format"] == RUN_FORMAT and data["device"] == "cpu"
    assert {k: data[k] for k in SETTINGS} == SETTINGS
    assert data["family"] == "field" and "numpy" in data["versions"]
    assert read_run(run.path).store_digest == "abc" and read_run(run.path).target == 0


def test_records_samples_and_kept_round_trip(tmp_path):
    run = new_run(tmp_path / "r")
    record = {"fixed_params": {"size": 5, "profile": "x"}, "run_params": [],
              "uses_prior": False, "stochastic": False}
    samples = run.write_samples("median", {"sample": [4, 5], "mse": [0.1, 0.2]}, record)
    kept = run.write_kept("median", np.ones((2, 3, 3), np.float32))
    run.set_record("median", {"status": "ok", **record, **samples, "kept": [4, 5], **kept})
    run.set_record("bad", {"status": "failed", "reason": "boom"})
    again = read_run(tmp_path / "r")
    assert [r.name for r in again.records()] == ["median", "bad"]
    record = again.record("median")
    assert record.ok and record.label == "median[size=5]" and record.kept == [4, 5]
    assert not again.record("bad").ok
    assert again.samples("median").to_pydict() == {"sample": [4, 5], "mse": [0.1, 0.2]}
    assert again.kept("median").shape == (2, 3, 3)
    assert again.has_results("median", [4, 5]) and not again.has_results("median", [4])
    assert not again.has_results("bad")
    assert not list((tmp_path / "r").rglob("*.tmp"))  # written whole, renamed into place
    # Each file is bound to the run by its sha256 in run.json.
    import hashlib

    path = tmp_path / "r" / samples["samples_file"]
    assert samples["samples_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("edit", [
    lambda d: d["estimators"]["median"]["fixed_params"].update(size=3),  # another label
    lambda d: d["estimators"]["median"].update(prior_source="oracle"),  # made a twin
    lambda d: d["estimators"]["median"].update(version="2"),
    lambda d: d.update(family="urban"),  # the leaderboard's header
    lambda d: d.update(noise="flip:p=0.1")])
def test_run_json_alone_cannot_relabel_the_rows(tmp_path, edit):
    run = new_run(tmp_path / "r")
    record = {"fixed_params": {"size": 5}, "run_params": [], "version": "1"}
    samples = run.write_samples("median", {"sample": [4], "mse": [0.1]}, record)
    run.set_record("median", {"status": "ok", **record, **samples})
    data = json.loads((run.path / "run.json").read_text())
    edit(data)
    (run.path / "run.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError, match="not the file this run wrote"):
        read_run(run.path).samples("median")


def test_run_wide_training_settings_do_not_label_the_estimator(tmp_path):
    run = new_run(tmp_path / "r")
    run.set_record("unet", {"status": "ok", "fixed_params": {"steps": 5, "width": 8},
                            "run_params": ["steps"]})
    assert read_run(run.path).record("unet").label == "unet[width=8]"


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]", "[]", "{}", '{"estimators": 3}',
                                     '{"estimators": {}}', '{"format": 1, "estimators": {}}'])
def test_what_is_not_a_run_is_refused_with_one_line(tmp_path, content):
    folder = tmp_path / "r"
    folder.mkdir()
    if content is not None:
        (folder / "run.json").write_text(content)
    with pytest.raises(RunDirError, match="not an ogmbench run directory") as info:
        read_run(folder)
    assert "\n" not in str(info.value)


def test_runs_made_before_the_kind_marker_still_read(tmp_path):
    run = new_run(tmp_path / "r")
    data = json.loads((run.path / "run.json").read_text())
    assert data.pop("kind") == RUN_KIND
    (run.path / "run.json").write_text(json.dumps(data))
    assert read_run(run.path).store_digest == "abc"


@pytest.mark.parametrize("name", ["../../escaped", "a/b", ".hidden", "", "x" * 101, "tab\tname"])
def test_estimator_names_that_cannot_be_file_names_write_nothing(tmp_path, name):
    run = new_run(tmp_path / "r")
    with pytest.raises(ConfigError, match="cannot be a file name"):
        run.write_samples(name, {"sample": [1]}, {})
    with pytest.raises(ConfigError, match="cannot be a file name"):
        run.write_kept(name, np.zeros((1, 2, 2), np.float32))
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".ogmbench-lock", "r", "run.json"]


def test_resume_rules(tmp_path):
    new_run(tmp_path / "r").close()
    with pytest.raises(RunDirError, match="--resume adds these estimators to it"):
        new_run(tmp_path / "r")
    other = {**SETTINGS, "seed": 4}
    with pytest.raises(RunDirError, match=r"other settings \(seed\)"):
        open_run(tmp_path / "r", other, resume=True, device="cpu", provenance={})
    moved = {**SETTINGS, "store": "/elsewhere/s.zarr", "prior_controls": ["zeros"]}
    run = open_run(tmp_path / "r", moved, resume=True, device="cpu", provenance={})
    assert run.store == "/elsewhere/s.zarr" and len(run.get("resumed_at")) == 1
    run.close()


def test_a_second_writer_is_refused_until_the_first_is_done(tmp_path):
    first = new_run(tmp_path / "r")
    with pytest.raises(BusyError, match=f"pid {os.getpid()}"):
        open_run(tmp_path / "r", dict(SETTINGS), resume=True, device="cpu", provenance={})
    first.close()
    again = open_run(tmp_path / "r", dict(SETTINGS), resume=True, device="cpu", provenance={})
    again.close()


def test_a_second_process_is_refused_with_one_line(tmp_path):
    # Two processes: the lock is the operating system's, not this interpreter's.
    held = new_run(tmp_path / "r")
    code = ("import sys; from ogmbench.runs import open_run\n"
            "from ogmbench.locks import BusyError\n"
            "try:\n"
            f"    open_run({str(tmp_path / 'r')!r}, {SETTINGS!r}, resume=True, device='cpu', "
            "provenance={})\n"
            "except BusyError as exc:\n"
            "    print(exc); sys.exit(2)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2 and "being written by another ogmbench process" in done.stdout
    held.close()


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "r").write_text("mine")
    with pytest.raises(RunDirError, match="not a directory"):
        new_run(tmp_path / "r")
    assert (tmp_path / "r").read_text() == "mine"


def test_one_rule_decides_whether_a_run_directory_goes_on():
    from ogmbench.runs import differing

    recorded = {"store": "/old/s.zarr", "store_digest": "ab", "target": 0, "seed": 0,
                "prior_controls": ["shuffled"], "device": "cpu"}
    same = {"store": "/moved/s.zarr", "store_digest": "ab", "target": 0, "seed": 0,
            "prior_controls": []}
    # A moved store (same digest) and other prior controls go on.
    assert differing(recorded, same) == []
    assert differing(recorded, same, device="cpu") == []
    assert differing(recorded, {**same, "seed": 1, "target": 1}) == ["target", "seed"]
    # A data-scaling run is not the whole train split's, either way round.
    assert differing(recorded, {**same, "train_size": 5}) == ["train_size"]
    assert differing({**recorded, "train_size": 5}, same) == ["train_size"]
    assert differing(recorded, same, device="cuda") == ["device"]


def test_a_resume_naming_no_control_keeps_the_runs(tmp_path):
    import ogmbench
    from ogmbench.evaluate import EvalConfig, run_eval

    store = ogmbench.generate(tmp_path / "s.zarr", family="field", size=16, samples_per_rho=6)
    run_dir, _ = run_eval(store.path, ["guided"], EvalConfig(out=tmp_path / "r",
                                                             prior_controls=["shuffled"]))
    _, outcomes = run_eval(store.path, ["guided", "identity"],
                           EvalConfig(out=run_dir, resume=True))
    assert [o.status for o in outcomes] == ["skipped", "ok"]  # guided kept, not recomputed
    data = json.loads((run_dir / "run.json").read_text())
    assert data["prior_controls"] == ["shuffled"]
    rows = pd.read_parquet(run_dir / "samples" / "guided.parquet")
    assert set(rows["control"]) == {"none", "shuffled"}
    # Naming controls on a resume still changes them (the estimators they affect rerun).
    _, outcomes = run_eval(store.path, ["guided"], EvalConfig(out=run_dir, resume=True,
                                                              prior_controls=["zeros"]))
    assert outcomes[0].status == "ok"
    assert json.loads((run_dir / "run.json").read_text())["prior_controls"] == ["zeros"]


def test_a_write_killed_midway_leaves_a_temp_name_the_cleaner_knows(tmp_path, monkeypatch):
    """write_atomic's temporary sibling is what clear_run removes as ogmbench's."""
    import os

    from ogmbench import places
    from ogmbench.runs import clear_run

    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(a), real(a, b)))
    run = new_run(tmp_path / "r")
    run.close()
    name = os.path.basename(seen[-1])
    assert places.ATOMIC_TEMP.fullmatch(name)
    monkeypatch.setattr(os, "replace", real)
    (tmp_path / "r" / name).write_text("half a run.json")  # as a kill -9 leaves it
    clear_run(tmp_path / "r")
    assert {p.name for p in (tmp_path / "r").iterdir()} <= {".ogmbench-lock"}
