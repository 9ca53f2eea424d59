"""Hostile cases of the second integrity round (issue 27), kept as regression tests."""

import json
from pathlib import Path

import pytest

from cli_helpers import assert_usage_error, benchmark_toml, call


@pytest.mark.parametrize("argv", [
    ["--samples-per-rho", "99999999999999999999", "--force"],
    ["--samples-per-rho", "1000000001", "--force"],
])
def test_an_impossible_sample_count_is_one_line_even_forced(tmp_path, capsys, argv):
    code, out, err = call(["generate", str(tmp_path / "s.zarr"), *argv], capsys)
    assert_usage_error(code, out, err, "samples-per-rho must be at most")
    assert not (tmp_path / "s.zarr").exists()


def test_a_benchmark_with_an_impossible_sample_count_is_one_line(tmp_path, capsys):
    path = tmp_path / "b.toml"
    path.write_text(benchmark_toml(samples_per_rho=99999999999999999))
    code, out, err = call(["reproduce", str(path), "--out", str(tmp_path / "o")], capsys)
    assert_usage_error(code, out, err, "samples-per-rho must be at most")
    assert not (tmp_path / "o").exists()


def test_a_profile_name_cannot_lead_the_report_out_of_runs(tmp_path, capsys, monkeypatch):
    text = benchmark_toml().replace("[profile.default]", '[profile."../../../esc"]')
    (tmp_path / "deep").mkdir()
    path = tmp_path / "deep" / "b.toml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path / "deep")
    code, out, err = call(["reproduce", str(path), "--profile", "../../../esc"], capsys)
    assert_usage_error(code, out, err, "a profile name must be")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["b.toml"]


def test_a_gpu_profile_without_a_gpu_is_refused_before_any_store(tmp_path, capsys):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = tmp_path / "b.toml"
    path.write_text(benchmark_toml(device="cuda"))
    code, out, err = call(["reproduce", str(path), "--out", str(tmp_path / "o")], capsys)
    assert_usage_error(code, out, err, "profile default", "no CUDA device")
    assert not (tmp_path / "o").exists()


def _cli(*argv, timeout=120):
    """The console command in a process of its own, so that a hang fails the test."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ogmbench", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def test_a_pipe_where_metadata_belongs_is_one_line_never_a_hang(tmp_path):
    import os

    import ogmbench

    store = ogmbench.generate(tmp_path / "s.zarr", rho=[0.0], samples_per_rho=10, size=16)
    fake = tmp_path / "fake.zarr"
    fake.mkdir()
    os.mkfifo(fake / "zarr.json")
    code, out, err = _cli("generate", fake, "--overwrite", "--samples-per-rho", "10")
    assert_usage_error(code, out, err, "not an ogmbench store")
    assert (fake / "zarr.json").exists()

    run = tmp_path / "run"
    assert _cli("eval", store.path, "--estimator", "identity", "--out", run)[0] == 0
    (run / "run.json").unlink()
    os.mkfifo(run / "run.json")
    code, out, err = _cli("eval", store.path, "--estimator", "identity", "--out", run,
                          "--resume")
    assert_usage_error(code, out, err, "no readable run.json")
    code, out, err = _cli("leaderboard", run)
    assert code == 2 and "no readable run.json" in err and "Traceback" not in err


HOOK = '''
import sys


class _CtrlC:
    """Ctrl-C pressed exactly while the package loads."""

    def find_spec(self, name, path=None, target=None):
        if name == "ogmbench.config":
            raise KeyboardInterrupt
        return None


sys.meta_path.insert(0, _CtrlC())
'''


def test_ctrl_c_while_the_command_loads_is_one_line_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    script = Path(sys.executable).parent / "ogmbench"
    if not script.exists():
        pytest.skip("the console script is not installed beside this Python")
    (tmp_path / "sitecustomize.py").write_text(HOOK)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([str(script), "list"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 130 and done.stderr == "interrupted\n", done.stderr


GREETINGS = {
    "an SSH banner": b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\r\n",
    "a megabyte of zeros, then closed": b"\0" * 1_000_000,
    "nothing at all": None,
}


@pytest.mark.parametrize("greeting", sorted(GREETINGS))
def test_a_service_that_is_not_dask_is_one_line_not_a_traceback(tmp_path, greeting):
    pytest.importorskip("distributed")
    import socket
    import threading

    # In a process of its own: a client given up on may leave Dask's shared state behind,
    # which is no matter for a command that then exits, but would be for this test process.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    stop = threading.Event()
    held = []

    def greet():  # speaks first (an SSH server), talks nonsense, or accepts and says nothing
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            if GREETINGS[greeting] is None:
                held.append(conn)
                continue
            try:
                conn.sendall(GREETINGS[greeting])
            except OSError:
                pass
            if greeting.endswith("closed"):
                conn.close()

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    try:
        code, out, err = _cli("generate", tmp_path / "g.zarr", "--samples-per-rho", "10",
                              "--size", "16", "--dask", f"tcp://127.0.0.1:{port}")
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in held:
            conn.close()
    assert code == 1 and "Traceback" not in err and "cannot reach the Dask scheduler" in err
    assert len(err.strip().splitlines()) == 1
    assert "Error" not in err and "numpy" not in err  # what the peer is, not our internals
    assert not (tmp_path / "g.zarr").exists()


def _interrupted(path):
    """A store whose generate was stopped after its first shard (as Ctrl-C leaves it)."""
    import ogmbench

    calls = []

    def stop(n):
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ogmbench.generate(path, progress=stop, rho=[0.0, 0.9], samples_per_rho=60, size=128)
    return path


TEMP = "0.0123456789abcdef0123456789abcdef.partial"


def test_a_killed_shard_write_leaves_nothing_behind_after_resume(tmp_path):
    import ogmbench

    out = _interrupted(tmp_path / "s.zarr")
    # zarr writes a chunk to a temporary sibling first: what a kill -9 mid-write leaves.
    leftover = out / "noisy" / "c" / "1" / "0" / "0" / TEMP
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"half a shard")
    mine = out / "noisy" / "c" / "1" / "0" / "0" / "notes.0123456789abcdef0123456789abcdef.partial"
    store = ogmbench.generate(out, resume=True)
    assert not leftover.exists() and ogmbench.verify_store(out).ok
    assert store.attrs["complete"] is True
    # A file of that shape that does not shadow a key of the layout is the user's.
    mine.write_bytes(b"mine")
    with pytest.raises(ogmbench.StoreError, match="did not write"):
        ogmbench.generate(out, overwrite=True, rho=[0.0], samples_per_rho=10, size=16)
    assert mine.read_bytes() == b"mine"


def test_overwrite_takes_a_store_with_our_own_leftover(tmp_path):
    import ogmbench

    out = tmp_path / "s.zarr"
    ogmbench.generate(out, rho=[0.0], samples_per_rho=10, size=16)
    (out / "clean" / "c" / "0" / "0" / "0" / TEMP).write_bytes(b"half")
    (out / "zarr.0123456789abcdef0123456789abcdef.partial").write_bytes(b"half")
    store = ogmbench.generate(out, overwrite=True, rho=[0.0], samples_per_rho=12, size=16)
    assert len(store) == 12 and not list(out.rglob("*.partial"))


@pytest.mark.parametrize("key", [
    "noisy/c/0/0/0/1",        # past the chunk grid on an axis with one chunk
    "noisy/c/0/0/1",          # one index too few
    "noisy/c/7/0/0/0",        # past the last shard
    "noisy/c/00/0/0/0",       # not zarr's spelling of an index
    "rho/c/1",
    "rho/c/0x",
])
def test_overwrite_keeps_a_file_named_like_a_chunk_outside_the_layout(tmp_path, key):
    import ogmbench

    out = tmp_path / "s.zarr"
    ogmbench.generate(out, rho=[0.0], samples_per_rho=10, size=16)
    path = out / key
    if path.exists():  # a real key spelled this way would be ours
        pytest.fail(f"{key} is a key of the layout")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"mine")
    with pytest.raises(ogmbench.StoreError, match="did not write"):
        ogmbench.generate(out, overwrite=True, rho=[0.0], samples_per_rho=12, size=16)
    assert path.read_bytes() == b"mine" and len(ogmbench.open_store(out)) == 10


def test_results_copied_in_from_another_run_are_refused_not_shown(tmp_path, capsys):
    import shutil

    import ogmbench

    mine = ogmbench.generate(tmp_path / "a.zarr", rho=[0.0, 0.9], samples_per_rho=10, size=16)
    other = ogmbench.generate(tmp_path / "b.zarr", rho=[0.0, 0.9], samples_per_rho=40, size=16,
                              seed=5)
    for store, run in ((mine, "ra"), (other, "rb")):
        code, out, err = call(["eval", store.path, "--estimator", "identity", "--estimator",
                               "median", "--out", str(tmp_path / run)], capsys)
        assert code == 0, err
    swapped = tmp_path / "ra" / "samples" / "median.parquet"
    shutil.copy(tmp_path / "rb" / "samples" / "median.parquet", swapped)
    foreign = swapped.read_bytes()
    code, out, err = call(["leaderboard", str(tmp_path / "ra")], capsys)
    assert_usage_error(code, out, err, "samples/median.parquet is not the file this run wrote")
    code, out, err = call(["eval", mine.path, "--estimator", "identity", "--estimator", "median",
                           "--out", str(tmp_path / "ra"), "--resume"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "move it out of the run directory" in err.strip().splitlines()[-1]
    assert swapped.read_bytes() == foreign  # somebody's file is kept
    swapped.rename(tmp_path / "moved.parquet")
    code, out, err = call(["eval", mine.path, "--estimator", "identity", "--estimator", "median",
                           "--out", str(tmp_path / "ra"), "--resume"], capsys)
    assert code == 0, err
    code, out, err = call(["leaderboard", str(tmp_path / "ra")], capsys)
    assert code == 0 and "median" in out


def _edit_json(path, edit):
    import json

    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _both(store, array, edit):
    """Edit an array's metadata in its own zarr.json and in the consolidated copy."""
    _edit_json(store / array / "zarr.json", edit)
    _edit_json(store / "zarr.json",
               lambda root: edit(root["consolidated_metadata"]["metadata"][array]))


METADATA_EDITS = {
    "scale_factor on noisy, consolidated copy only": lambda s: _edit_json(
        s / "zarr.json", lambda r: r["consolidated_metadata"]["metadata"]["noisy"][
            "attributes"].update(scale_factor=0.5)),
    "add_offset on noisy, both copies": lambda s: _both(
        s, "noisy", lambda m: m["attributes"].update(add_offset=1.0)),
    "dimension_names of clean swapped, both copies": lambda s: _both(
        s, "clean", lambda m: m.update(dimension_names=["sample", "class", "x", "y"])),
    "fill_value of rho, both copies": lambda s: _both(s, "rho", lambda m: m.update(fill_value=0.5)),
    # The digest itself removed (with an edit it would have caught): never "made before".
    "meta_digest deleted, scale_factor on noisy": lambda s: (
        _edit_json(s / "zarr.json", lambda r: r["attributes"].pop("meta_digest")),
        _both(s, "noisy", lambda m: m["attributes"].update(scale_factor=2.0))),
    "meta_digest null": lambda s: _edit_json(
        s / "zarr.json", lambda r: r["attributes"].update(meta_digest=None)),
    "a ghost array in the consolidated metadata": lambda s: _edit_json(
        s / "zarr.json", lambda r: r["consolidated_metadata"]["metadata"].update(
            ghost=r["consolidated_metadata"]["metadata"]["rho"])),
    "consolidated metadata marked must_understand": lambda s: _edit_json(
        s / "zarr.json", lambda r: r["consolidated_metadata"].update(must_understand=True)),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    import ogmbench

    root = tmp_path_factory.mktemp("pristine")
    single = ogmbench.generate(root / "single.zarr", rho=[0.0, 0.9], samples_per_rho=10, size=16)
    frames = ogmbench.generate(root / "seq.zarr", family="urban", frames=3, size=16,
                               samples_per_rho=10, rho=[0.0, 0.9], noise="camera")
    return {"single": single.path, "seq": frames.path}


def _edited_copy(source, tmp_path, edit):
    import shutil

    store = tmp_path / "edited.zarr"
    shutil.copytree(source, store)
    edit(store)
    return store


def _no_number(store, tmp_path, capsys, *words):
    code, out, err = call(["verify", str(store)], capsys)
    assert code != 0 and "Traceback" not in err, (out, err)
    code, out, err = call(["eval", str(store), "--estimator", "identity", "--out",
                           str(tmp_path / "run")], capsys)
    assert_usage_error(code, out, err, *words)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("what", sorted(METADATA_EDITS))
def test_edited_array_metadata_never_yields_a_number(pristine, tmp_path, capsys, what):
    store = _edited_copy(pristine["single"], tmp_path, METADATA_EDITS[what])
    _no_number(store, tmp_path, capsys, "inconsistent")


@pytest.mark.parametrize("edit, says", [
    (lambda r: r["attributes"].update(meta_digest="abc"), "metadata digest is not a sha256"),
    (lambda r: r["consolidated_metadata"].update(must_understand=True),
     "must_understand false"),
])
def test_an_edited_digest_or_consolidation_is_named_for_what_it_is(pristine, tmp_path, capsys,
                                                                    edit, says):
    store = _edited_copy(pristine["single"], tmp_path, lambda s: _edit_json(s / "zarr.json",
                                                                            edit))
    _no_number(store, tmp_path, capsys, says)


def test_verify_calls_metadata_zarr_cannot_read_damage(pristine, tmp_path, capsys):
    def move(root):  # the digest out of the attributes, where zarr allows no such key
        root["meta_digest"] = root["attributes"].pop("meta_digest")

    store = _edited_copy(pristine["single"], tmp_path, lambda s: _edit_json(s / "zarr.json",
                                                                            move))
    code, out, err = call(["verify", str(store)], capsys)
    assert code == 1 and "DAMAGED" in out and "cannot read its metadata" in out, (out, err)


SEQUENCE_EDITS = {
    "resolution 0.5 -> 3.0": lambda a: a.update(resolution=3.0),
    "sequence.tau": lambda a: a["sequence"].update(tau=a["sequence"].get("tau", 1.0) * 3 + 1),
    "sequence.dt": lambda a: a["sequence"].update(dt=2.0),
    "the same tau in the config too": lambda a: (
        a["sequence"].update(tau=7.0), a["config"]["sequence"].update(tau=7.0)),
}


@pytest.mark.parametrize("what", sorted(SEQUENCE_EDITS))
def test_edited_sequence_attributes_never_yield_a_number(pristine, tmp_path, capsys, what):
    def edit(store):
        _edit_json(store / "zarr.json", lambda root: SEQUENCE_EDITS[what](root["attributes"]))

    store = _edited_copy(pristine["seq"], tmp_path, edit)
    _no_number(store, tmp_path, capsys, "inconsistent")


@pytest.mark.parametrize("array, values", [("time", [0.0, 1.0, 2.0]),
                                           ("axis", ["x", "y", "theta"])])
def test_edited_time_and_axis_coordinates_never_yield_a_number(pristine, tmp_path, capsys,
                                                               array, values):
    import numpy as np
    import zarr

    def edit(store):
        group = zarr.open_group(str(store), mode="r+", use_consolidated=False)
        group[array][:] = np.array(values)

    store = _edited_copy(pristine["seq"], tmp_path, edit)
    _no_number(store, tmp_path, capsys, "coordinate")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A quick unet trained once, its checkpoint in a shared folder."""
    pytest.importorskip("torch")
    import json

    import ogmbench

    root = tmp_path_factory.mktemp("trained")
    store = ogmbench.generate(root / "s.zarr", rho=[0.0, 0.9], samples_per_rho=10, size=16)
    code, out, err = call(["eval", store.path, "--estimator", "unet", "--profile", "quick",
                           "--checkpoints", str(root / "ck"), "--out", str(root / "first")])
    assert code == 0, err
    record = json.loads((root / "first" / "run.json").read_text())["estimators"]["unet"]
    path = Path(record["describe"]["checkpoint"]["path"])
    return {"store": store.path, "root": root, "path": path, "bytes": path.read_bytes()}


def _again(trained, tmp_path, capsys, name):
    import json

    code, out, err = call(["eval", trained["store"], "--estimator", "unet", "--profile",
                           "quick", "--checkpoints", str(trained["root"] / "ck"), "--out",
                           str(tmp_path / name)], capsys)
    assert code == 0 and "Traceback" not in err and "weights_only=False" not in err, err
    record = json.loads((tmp_path / name / "run.json").read_text())["estimators"]["unet"]
    return record["describe"]["checkpoint"], err


def _mse(run_dir):
    import pandas as pd

    return pd.read_parquet(run_dir / "samples" / "unet.parquet")["mse"].to_numpy()


@pytest.mark.parametrize("damage, reason, kept", [
    ("weights", "do not match its digest", False),
    ("garbage", "not a checkpoint ogmbench wrote", True),
])
def test_a_damaged_checkpoint_is_named_and_trained_again(trained, tmp_path, capsys, damage,
                                                         reason, kept):
    import numpy as np

    path, original = trained["path"], trained["bytes"]
    try:
        if damage == "weights":  # a few bytes of the weights altered, the header left alone
            data = bytearray(original)
            data[-200:-190] = bytes(10)
            path.write_bytes(bytes(data))
        else:
            path.write_bytes(b"\x00garbage" * 50)
        damaged = path.read_bytes()
        info, err = _again(trained, tmp_path, capsys, "again")
        assert info["trained"] is True and reason in info["refused"]
        assert str(path) in err and reason in err  # named where the user looks
        # Retrained to the same weights: the same numbers as the first run.
        np.testing.assert_array_equal(_mse(tmp_path / "again"),
                                      _mse(trained["root"] / "first"))
        assert (path.read_bytes() == damaged) == kept  # a file not ours is never replaced
    finally:
        path.write_bytes(original)


def test_a_checkpoint_of_another_training_is_not_reused(trained, tmp_path, capsys):
    import json

    import numpy as np

    code, out, err = call(["eval", trained["store"], "--estimator", "unet", "--profile", "quick",
                           "--seed", "1", "--checkpoints", str(trained["root"] / "ck"),
                           "--out", str(tmp_path / "seed1")], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "seed1" / "run.json").read_text())["estimators"]["unet"]
    other = Path(record["describe"]["checkpoint"]["path"])
    path, original = trained["path"], trained["bytes"]
    assert other != path
    try:
        path.write_bytes(other.read_bytes())  # a shared folder's file under another name
        info, err = _again(trained, tmp_path, capsys, "again")
        assert info["trained"] is True and "made for another training" in info["refused"]
        np.testing.assert_array_equal(_mse(tmp_path / "again"),
                                      _mse(trained["root"] / "first"))
    finally:
        path.write_bytes(original)


def _run_pair(tmp_path, capsys):
    import ogmbench

    stores = [ogmbench.generate(tmp_path / f"{k}.zarr", rho=[0.0, 0.9], samples_per_rho=10,
                                size=16, seed=k) for k in (0, 1)]
    for k, store in enumerate(stores):
        code, out, err = call(["eval", store.path, "--estimator", "identity", "--estimator",
                               "median", "--out", str(tmp_path / f"run{k}")], capsys)
        assert code == 0, err
    return stores


def _graft_record(run, other):
    import json

    data, theirs = (json.loads((r / "run.json").read_text()) for r in (run, other))
    data["estimators"]["identity"] = theirs["estimators"]["identity"]
    (run / "run.json").write_text(json.dumps(data))
    (run / "samples" / "identity.parquet").write_bytes(
        (other / "samples" / "identity.parquet").read_bytes())


RELABELS = {
    "identity pointed at median's file": lambda run, other: _edit_json(
        run / "run.json", lambda d: d["estimators"]["identity"].update(
            {k: d["estimators"]["median"][k] for k in ("samples_file", "samples_sha256")})),
    "median renamed gaussian": lambda run, other: _edit_json(
        run / "run.json", lambda d: d["estimators"].update(
            gaussian=d["estimators"].pop("median"))),
    "another run's record and file grafted in": _graft_record,
    "another store's digests written into run.json": lambda run, other: _edit_json(
        run / "run.json", lambda d: d.update(
            {k: json_of(other)[k] for k in ("store_digest", "store_meta_digest")})),
    "median's fixed parameters edited (another label)": lambda run, other: _edit_json(
        run / "run.json", lambda d: d["estimators"]["median"]["fixed_params"].update(size=3)),
    "the family of the leaderboard's header edited": lambda run, other: _edit_json(
        run / "run.json", lambda d: d.update(family="urban")),
}


def json_of(run):
    import json

    return json.loads((run / "run.json").read_text())


@pytest.mark.parametrize("what", sorted(RELABELS))
def test_a_run_json_edited_to_relabel_results_shows_no_number(tmp_path, capsys, what):
    _run_pair(tmp_path, capsys)
    RELABELS[what](tmp_path / "run0", tmp_path / "run1")
    code, out, err = call(["leaderboard", str(tmp_path / "run0")], capsys)
    assert code == 2 and "Traceback" not in err, (out, err)
    assert "is not the file this run wrote" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("what", ["digest removed from run.json", "a pipe", "a link"])
def test_resume_never_replaces_a_results_file_it_cannot_prove_it_wrote(tmp_path, capsys, what):
    import os

    stores = _run_pair(tmp_path, capsys)
    run = tmp_path / "run0"
    path = run / "samples" / "identity.parquet"
    if what == "digest removed from run.json":
        path.write_bytes((tmp_path / "run1" / "samples" / "identity.parquet").read_bytes())
        _edit_json(run / "run.json", lambda d: d["estimators"]["identity"].pop("samples_sha256"))
    elif what == "a pipe":
        path.unlink()
        os.mkfifo(path)
    else:
        path.unlink()
        path.symlink_to(tmp_path / "mine.txt")
        (tmp_path / "mine.txt").write_text("mine")
    before = os.lstat(path)
    code, out, err = call(["eval", stores[0].path, "--estimator", "identity", "--out", str(run),
                           "--resume"], capsys)
    assert code == 2 and "Traceback" not in err, (out, err)
    assert "move it out of the run directory" in err.strip().splitlines()[-1]
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        before.st_ino, before.st_mode, before.st_mtime_ns)


@pytest.mark.parametrize("case", ["a chunk claimed by an edited shape", "a coordinate the "
                                  "layout does not have"])
def test_overwrite_keeps_files_only_an_edited_metadata_would_claim(tmp_path, case):
    import ogmbench

    out = tmp_path / "s.zarr"
    ogmbench.generate(out, rho=[0.0], samples_per_rho=10, size=16)
    if case.startswith("a chunk"):
        mine = out / "noisy" / "c" / "5" / "0" / "0" / "0"
        _edit_json(out / "noisy" / "zarr.json", lambda m: m.update(shape=[4000, 2, 16, 16]))
    else:  # time/ belongs to stores of sequences only
        mine = out / "time" / "zarr.json"
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_bytes(b'{"my": "notes"}')
    with pytest.raises(ogmbench.StoreError, match="did not write|cannot be told from yours"):
        ogmbench.generate(out, overwrite=True, rho=[0.0], samples_per_rho=12, size=16)
    assert mine.read_bytes() == b'{"my": "notes"}'


def _enlarge(store, factor):
    """Edit a store consistently to claim ``factor`` times its samples: the layout's
    attributes, every sample array's shape and their consolidated copies."""
    import json

    root = json.loads((store / "zarr.json").read_text())
    n = root["attributes"]["n_samples"]
    root["attributes"]["n_samples"] = n * factor
    root["attributes"]["samples_per_rho"] *= factor
    copies = (root.get("consolidated_metadata") or {}).get("metadata") or {}
    for array in [p.parent.name for p in store.glob("*/zarr.json")]:
        def grow(meta):
            if meta["shape"] and meta["shape"][0] == n:
                meta["shape"][0] = n * factor
        _edit_json(store / array / "zarr.json", grow)
        if array in copies:
            grow(copies[array])
    (store / "zarr.json").write_text(json.dumps(root))


@pytest.mark.parametrize("interrupted", [False, True])
def test_a_consistently_enlarged_store_claims_none_of_your_files(tmp_path, interrupted):
    import ogmbench

    out = tmp_path / "s.zarr"
    if interrupted:
        _interrupted(out)
    else:
        ogmbench.generate(out, rho=[0.0], samples_per_rho=10, size=16)
    _enlarge(out, 100)
    mine = out / "noisy" / "c" / "9" / "0" / "0" / "0"  # a chunk key of the enlarged grid
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_bytes(b"mine")
    with pytest.raises(ogmbench.StoreError, match="cannot be told from yours.*refusing to "
                                                  "overwrite"):
        ogmbench.generate(out, overwrite=True, rho=[0.0], samples_per_rho=12, size=16)
    if interrupted:
        with pytest.raises(ogmbench.StoreError, match="refusing to resume"):
            ogmbench.generate(out, resume=True)
    assert mine.read_bytes() == b"mine"


def test_a_store_killed_before_its_arrays_is_overwritten(tmp_path):
    import json
    import shutil

    import ogmbench

    out = tmp_path / "s.zarr"
    ogmbench.generate(out, rho=[0.0], samples_per_rho=10, size=16)
    root = json.loads((out / "zarr.json").read_text())
    for entry in sorted(out.iterdir()):
        if entry.is_dir():
            shutil.rmtree(entry)
    root["attributes"] = {k: v for k, v in root["attributes"].items()
                          if k not in ("creation_digest", "meta_digest", "digest")}
    root["attributes"]["complete"] = False
    root.pop("consolidated_metadata", None)
    (out / "zarr.json").write_text(json.dumps(root))
    assert len(ogmbench.generate(out, overwrite=True, rho=[0.0], samples_per_rho=12,
                                 size=16)) == 12


def test_a_port_out_of_range_is_a_usage_error(tmp_path, capsys):
    code, out, err = call(["generate", str(tmp_path / "g.zarr"), "--dask",
                           "tcp://127.0.0.1:99999"], capsys)
    assert_usage_error(code, out, err, "port 99999")


@pytest.mark.parametrize("name", ["zarr.json", "noisy/zarr.json"])
def test_verify_calls_a_pipe_in_a_store_damage_with_its_own_exit_code(pristine, tmp_path, capsys,
                                                                      name):
    import os

    store = _edited_copy(pristine["single"], tmp_path, lambda s: (
        (s / name).unlink(), os.mkfifo(s / name)))
    code, out, err = call(["verify", str(store)], capsys)
    assert code == 1 and "DAMAGED" in out and name in out and "run 'ogmbench verify" not in out
    code, out, err = call(["info", str(store)], capsys)
    assert code == 2 and "not a regular file" in err and "no zarr.json" not in err


def _mine(path, what, tmp_path):
    """Put a user's thing at ``path``: a file of theirs, a pipe, or a link to theirs."""
    import os
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.move(path, tmp_path / "mine")
    elif path.exists() or path.is_symlink():
        path.unlink()
    if what == "a file of yours":
        path.write_text("mine")
    elif what == "a pipe":
        os.mkfifo(path)
    else:
        if not (tmp_path / "mine").exists():
            (tmp_path / "mine").write_text("mine")
        path.symlink_to(tmp_path / "mine")


@pytest.mark.parametrize("name, what", [
    ("leaderboard.csv", "a file of yours"), ("leaderboard.csv", "a pipe"),
    ("leaderboard.csv", "a link"), ("run.json", "a link"), ("samples", "a link")])
def test_resume_writes_nothing_over_or_through_what_is_yours(tmp_path, capsys, name, what):
    import os

    stores = _run_pair(tmp_path, capsys)
    run = tmp_path / "run0"
    if name == "run.json":
        (tmp_path / "mine").write_bytes((run / name).read_bytes())
    _mine(run / name, what, tmp_path)
    before = sorted((str(p), os.lstat(p).st_mtime_ns) for p in tmp_path.rglob("mine*"))
    code, out, err = call(["eval", stores[0].path, "--estimator", "identity", "--estimator",
                           "median", "--estimator", "gaussian", "--out", str(run), "--resume"],
                          capsys)
    assert code == 2 and "Traceback" not in err, (out, err)
    assert len(err.strip().splitlines()) == 1 and name in err, err
    assert os.path.lexists(run / name) and (run / name).is_symlink() == (what == "a link")
    assert sorted((str(p), os.lstat(p).st_mtime_ns) for p in tmp_path.rglob("mine*")) == before


def test_resume_refuses_a_relabelled_record_before_any_work(tmp_path, capsys):
    stores = _run_pair(tmp_path, capsys)
    run = tmp_path / "run0"
    RELABELS["median renamed gaussian"](run, tmp_path / "run1")
    code, out, err = call(["eval", stores[0].path, "--estimator", "identity", "--estimator",
                           "morph", "--out", str(run), "--resume"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is not the file this run wrote for 'gaussian'" in err
    assert not (run / "samples" / "morph.parquet").exists()


# -- the third hostile pass ------------------------------------------------------------

@pytest.mark.parametrize("edit", [
    lambda a: (a.update(seed=5), a["config"].update(seed=5)),
    lambda a: (a.update(noise="flip"), a["config"].update(noise="flip")),
])
def test_resume_never_goes_on_under_edited_settings(tmp_path, edit):
    import ogmbench

    out = _interrupted(tmp_path / "s.zarr")
    _edit_json(out / "zarr.json", lambda root: edit(root["attributes"]))
    before = sorted((str(p), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file())
    with pytest.raises(ogmbench.StoreError, match="refusing to resume"):
        ogmbench.generate(out, resume=True)
    assert sorted((str(p), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()) == before


@pytest.mark.parametrize("yours", ["notes.txt", "analysis/a.txt", "samples/mine.parquet"])
def test_starting_a_run_afresh_removes_only_what_it_wrote(tmp_path, capsys, yours):
    from ogmbench.runs import RunDirError, clear_run

    _run_pair(tmp_path, capsys)
    run = tmp_path / "run0"
    (run / yours).parent.mkdir(parents=True, exist_ok=True)
    (run / yours).write_text("mine")
    named = yours if yours.startswith("samples/") else yours.split("/")[0]
    with pytest.raises(RunDirError, match=f"holds {named}( and 1 more)?, which ogmbench did "
                                          "not write"):
        clear_run(run)
    assert (run / yours).read_text() == "mine" and (run / "run.json").exists()
    (run / yours).unlink()
    clear_run(tmp_path / "run1")  # one of its own files only: emptied
    assert {p.name for p in (tmp_path / "run1").iterdir()} <= {".ogmbench-lock"}


@pytest.mark.parametrize("thing", ["a pipe", "a folder", "a dangling link"])
def test_what_is_not_a_file_at_a_checkpoints_place_is_kept(trained, tmp_path, capsys, thing):
    import os
    import shutil

    path, original = trained["path"], trained["bytes"]
    path.unlink()
    try:
        if thing == "a pipe":
            os.mkfifo(path)
        elif thing == "a folder":
            path.mkdir()
        else:
            path.symlink_to(tmp_path / "nowhere")
        info, err = _again(trained, tmp_path, capsys, "again")
        assert info["trained"] is True and "not a regular file" in info["refused"]
        assert str(path) in err and len([l for l in err.splitlines() if "warning" in l]) == 1
        assert os.path.lexists(path) and not path.is_file()  # never replaced
    finally:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        path.write_bytes(original)


@pytest.mark.parametrize("record", [None, "x", [1]])
def test_a_record_that_is_not_an_object_is_one_line(tmp_path, capsys, record):
    stores = _run_pair(tmp_path, capsys)
    _edit_json(tmp_path / "run0" / "run.json", lambda d: d["estimators"].update(median=record))
    for argv in (["leaderboard", str(tmp_path / "run0")],
                 ["eval", stores[0].path, "--estimator", "median", "--out",
                  str(tmp_path / "run0"), "--resume"]):
        code, out, err = call(argv, capsys)
        assert_usage_error(code, out, err, "record of 'median' is not an object")


@pytest.mark.parametrize("argv", [
    ["generate", "{tmp}/g.zarr", "--seed", str(2 ** 63)],
    ["generate", "{tmp}/g.zarr", "--test-seed", "99999999999999999999999"],
    ["eval", "{store}", "--estimator", "identity", "--seed", str(2 ** 63), "--out", "{tmp}/r"],
])
def test_a_seed_past_64_bits_is_refused_before_any_work(pristine, tmp_path, capsys, argv):
    argv = [a.format(tmp=tmp_path, store=pristine["single"]) for a in argv]
    code, out, err = call(argv, capsys)
    assert_usage_error(code, out, err, "from 0 to 2^63 - 1")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["[eval]", "[profile.default]"])
def test_a_benchmark_seed_past_64_bits_is_refused_before_any_work(tmp_path, capsys, where):
    text = benchmark_toml().replace(where, f"{where}\nseed = {2 ** 64}", 1)
    (tmp_path / "b.toml").write_text(text)
    code, out, err = call(["reproduce", str(tmp_path / "b.toml"), "--out", str(tmp_path / "o")],
                          capsys)
    assert_usage_error(code, out, err, "2^63 - 1")
    assert not (tmp_path / "o").exists()


# -- the fourth hostile pass -----------------------------------------------------------

@pytest.mark.parametrize("damage", ["a flipped byte", "an edited shard digest"])
def test_resume_writes_again_a_shard_that_no_longer_matches_its_digest(tmp_path, damage):
    import json

    import ogmbench

    honest = ogmbench.generate(tmp_path / "honest.zarr", rho=[0.0, 0.9], samples_per_rho=60,
                               size=128).attrs["digest"]
    out = _interrupted(tmp_path / "s.zarr")
    if damage == "a flipped byte":
        shard = out / "noisy" / "c" / "0" / "0" / "0" / "0"
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
    else:  # the digest alone, nothing else: the creation digest does not cover it
        root = json.loads((out / "zarr.json").read_text())
        root["attributes"]["shard_digests"]["0"] = "0" * 64
        (out / "zarr.json").write_text(json.dumps(root))
    store = ogmbench.generate(out, resume=True)
    assert store.attrs["digest"] == honest and ogmbench.verify_store(out).ok


@pytest.mark.parametrize("edit", [
    lambda d: d.update(files=[]), lambda d: d.update(files=5),
    lambda d: d.update(files={"samples/x.parquet": "abc"}),
    lambda d: d.update(prior_controls=5), lambda d: d.update(prior_controls="shuffled"),
])
def test_run_json_fields_of_another_type_are_one_line(tmp_path, capsys, edit):
    stores = _run_pair(tmp_path, capsys)
    _edit_json(tmp_path / "run0" / "run.json", edit)
    for argv in (["leaderboard", str(tmp_path / "run0")],
                 ["eval", stores[0].path, "--estimator", "identity", "--out",
                  str(tmp_path / "run0"), "--resume"]):
        code, out, err = call(argv, capsys)
        assert_usage_error(code, out, err, "run.json", "edited")


@pytest.mark.parametrize("address, words", [
    ("tcp://[::1", "not a scheduler address Dask can use"),
    ("ucx://127.0.0.1:1", "ucx:// needs UCX"),
    ("tls://127.0.0.1:1", "tls:// needs Dask's TLS settings"),
])
def test_a_dask_address_dask_cannot_use_is_a_usage_error(tmp_path, capsys, address, words):
    pytest.importorskip("distributed")
    code, out, err = call(["generate", str(tmp_path / "g.zarr"), "--dask", address], capsys)
    assert_usage_error(code, out, err, words)
    assert not (tmp_path / "g.zarr").exists()


def test_a_benchmark_file_without_end_is_refused_not_read(tmp_path, capsys):
    code, out, err = call(["reproduce", "/dev/zero", "--out", str(tmp_path / "o")], capsys)
    assert_usage_error(code, out, err, "larger than 1 MiB")
    path = tmp_path / "b.toml"
    path.write_text(benchmark_toml())
    code, out, err = call(["reproduce", str(path), "--out", str(tmp_path / "o"), "--check",
                           "/dev/zero"], capsys)
    assert_usage_error(code, out, err, "not a regular file")
    assert not (tmp_path / "o").exists()


def test_a_foreign_file_with_a_checkpoints_keys_is_kept(trained, tmp_path, capsys):
    import torch

    path, original = trained["path"], trained["bytes"]
    try:
        torch.save({"state_dict": {}, "history": [], "config": {}, "my_notes": "mine"}, path)
        mine = path.read_bytes()
        info, err = _again(trained, tmp_path, capsys, "again")
        assert info["trained"] is True and "not a checkpoint ogmbench wrote" in info["refused"]
        assert path.read_bytes() == mine
    finally:
        path.write_bytes(original)


def test_verify_calls_an_array_zarr_cannot_list_damage(pristine, tmp_path, capsys):
    store = _edited_copy(pristine["single"], tmp_path, lambda s: _edit_json(
        s / "noisy" / "zarr.json", lambda m: m.update(foo=1)))
    code, out, err = call(["verify", str(store)], capsys)
    assert code == 1 and "DAMAGED" in out, (out, err)


def test_beside_a_folder_whose_samples_were_edited_is_refused(tmp_path, capsys):
    """The rows a new estimator is scored beside are the published ones: a folder whose
    samples.parquet no longer gives its results.csv is refused before any work."""
    import shutil

    import pyarrow.parquet as pq

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "published"
    shutil.copytree(root / "leaderboard", folder,
                    ignore=shutil.ignore_patterns("bev-cpu", "time-cpu", "figures"))
    table = pq.read_table(folder / "samples.parquet")
    frame = table.to_pandas()
    frame.loc[frame["estimator"] == "identity", "mse"] = 0.001
    import pyarrow as pa

    edited = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
        table.schema.metadata)
    pq.write_table(edited, folder / "samples.parquet")
    code, out, err = call(["reproduce", str(folder / "benchmark.toml"), "--beside", str(folder),
                           "--estimator", "film", "--out", str(tmp_path / "o")],
                          capsys)
    assert_usage_error(code, out, err, "does not give its results.csv again")
    assert not (tmp_path / "o").exists()


# -- the fifth hostile pass ------------------------------------------------------------

def test_after_an_interruption_nothing_more_reaches_stderr(tmp_path):
    """A Dask cluster stopped while it starts leaves atexit handlers that fail as the
    process ends; the interruption's one line must stay the only one."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import atexit, sys\n"
        "import ogmbench.cli\n"
        "def cli():\n"
        "    atexit.register(lambda: 1 / 0)  # as distributed's close_clusters may fail\n"
        "    sys.stderr.write('interrupted before x was created\\n')\n"
        "    sys.exit(130)\n"
        "ogmbench.cli.main = cli\n"
        "import _ogmbench_launch\n"
        "_ogmbench_launch.main()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 130 and done.stderr == "interrupted before x was created\n"


DEEP = "[" * 3000 + "]" * 3000


@pytest.mark.parametrize("where", ["run.json", "a store's zarr.json", "an array's zarr.json",
                                   "an estimator parameter"])
def test_json_nested_too_deep_is_one_line(pristine, tmp_path, capsys, where):
    stores = _run_pair(tmp_path, capsys) if where == "run.json" else None
    if where == "run.json":
        _edit_json(tmp_path / "run0" / "run.json", lambda d: d.update(note="x"))
        path = tmp_path / "run0" / "run.json"
        path.write_text(path.read_text().replace('"x"', DEEP))
        code, out, err = call(["leaderboard", str(tmp_path / "run0")], capsys)
        assert_usage_error(code, out, err, "run")
        code, out, err = call(["eval", stores[0].path, "--estimator", "identity", "--out",
                               str(tmp_path / "run0"), "--resume"], capsys)
        assert_usage_error(code, out, err, "run")
    elif where == "an estimator parameter":
        code, out, err = call(["eval", str(pristine["single"]), "--estimator",
                               f"median:size={DEEP}", "--out", str(tmp_path / "r")], capsys)
        assert_usage_error(code, out, err, "size")
    else:
        name = "zarr.json" if where == "a store's zarr.json" else "noisy/zarr.json"

        def deepen(store):
            meta = json_of_file(store / name)
            meta["attributes"]["note"] = "x"
            (store / name).write_text(json.dumps(meta).replace('"x"', DEEP))

        store = _edited_copy(pristine["single"], tmp_path, deepen)
        code, out, err = call(["verify", str(store)], capsys)
        if name == "zarr.json":  # unreadable: nothing says the folder is a store of ours
            assert_usage_error(code, out, err, "cannot read its metadata")
        else:
            assert code == 1 and "DAMAGED" in out and "Traceback" not in err, (out, err)
        code, out, err = call(["info", str(store)], capsys)
        assert_usage_error(code, out, err, str(store))


def json_of_file(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("thing", ["a pipe", "an endless device", "deep JSON"])
def test_calibration_targets_that_are_no_file_are_one_line(pristine, tmp_path, capsys, thing):
    import os

    path = tmp_path / ("t.json" if thing == "deep JSON" else "t.toml")
    if thing == "a pipe":
        os.mkfifo(path)
    elif thing == "an endless device":
        path.symlink_to("/dev/zero")
    else:
        path.write_text(DEEP)
    code, out, err = _cli("info", pristine["seq"], "--calibration", "--targets", path, timeout=60)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--targets" in err, err


@pytest.mark.parametrize("command", ["generate", "eval"])
def test_more_threads_than_cores_here_is_a_usage_error(pristine, tmp_path, capsys, command):
    from ogmbench.execution import default_threads

    more = str(default_threads() + 100000)
    argv = (["generate", str(tmp_path / "g.zarr")] if command == "generate" else
            ["eval", str(pristine["single"]), "--estimator", "identity", "--out",
             str(tmp_path / "g.zarr")])
    code, out, err = call(argv + ["--threads", more], capsys)
    assert_usage_error(code, out, err, "exceeds the", "cores")
    assert not (tmp_path / "g.zarr").exists()
