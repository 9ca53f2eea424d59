"""Hostile cases kept as regression tests (issue 10): a misbehaving estimator is contained,
a damaged store never yields a number, nothing a user owns is lost."""

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

import ogmbench
from cli_helpers import assert_usage_error, benchmark_toml, call  # noqa: E402

PLUGINS = '''
import os, signal, sys, time
import numpy as np
from ogmbench.api import Estimator


class Exits(Estimator):
    name = "exits"

    def predict(self, noisy, target):
        sys.exit(3)


class Interrupts(Estimator):
    name = "interrupts"

    def predict(self, noisy, target):
        raise KeyboardInterrupt  # the plugin's, not the user's


class FitExits(Estimator):
    name = "fitexits"

    def fit(self, data, *, target, seed=0, device="cpu"):
        raise SystemExit("bye")


class Describes(Estimator):
    name = "describes"

    def predict(self, noisy, target):
        return np.clip(noisy[:, target], 0, 1).astype(np.float32)

    def describe(self):
        raise RuntimeError("no facts")


class Sleeps(Estimator):
    name = "sleeps"

    def predict(self, noisy, target):
        time.sleep(60)


class Spins(Estimator):
    name = "spins"

    def fit(self, data, *, target, seed=0, device="cpu"):
        while True:
            pass


class Swallows(Estimator):
    name = "swallows"

    def predict(self, noisy, target):
        while True:
            try:
                time.sleep(60)
            except Exception:  # a plugin that swallows errors does not swallow the limit
                pass


class IgnoresAlarm(Estimator):
    name = "ignoresalarm"

    def predict(self, noisy, target):
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(60)


class CatchesAll(Estimator):
    name = "catchesall"

    def predict(self, noisy, target):
        while True:
            try:
                time.sleep(60)
            except BaseException:  # the limit included
                pass


class Quits(Estimator):
    name = "quits"

    def predict(self, noisy, target):
        os._exit(0)


class MovesAway(Estimator):
    name = "movesaway"

    def fit(self, data, *, target, seed=0, device="cpu"):
        os.chdir("/")
        return self

    def predict(self, noisy, target):
        return np.clip(noisy[:, target], 0, 1).astype(np.float32)


class _Busy(Estimator):
    """Says when it is in predict (in the one folder it may write), then stays busy
    while the test stops the run: its process cannot signal the run itself."""

    def fit(self, data, *, target, seed=0, device="cpu"):
        from ogmbench.api import location

        self.ready = location(data.cache_dir) / "ready"
        return self

    def predict(self, noisy, target):
        self.ready.write_text("in predict")
        time.sleep(60)
        return np.clip(noisy[:, target], 0, 1).astype(np.float32)


class Terminated(_Busy):
    name = "terminated"


class RaisesStoreError(Estimator):
    name = "raisesstore"

    def fit(self, data, *, target, seed=0, device="cpu"):
        from ogmbench.errors import StoreError
        raise StoreError("the plugin says a store is bad")


class CtrlC(_Busy):
    name = "ctrlc"
'''


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("h") / "s.zarr", family="field",
                             noise="gaussian:sigma=0.5", rho=[0.0, 0.9], samples_per_rho=6,
                             size=16, seed=0)


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    path = tmp_path_factory.mktemp("p") / "misbehave.py"
    path.write_text(PLUGINS)
    return path


def test_an_estimator_raising_systemexit_or_keyboardinterrupt_is_a_failed_estimator(
        store, plugins, tmp_path, capsys):
    names = ["Exits", "Interrupts", "FitExits", "Describes"]
    argv = ["eval", store.path, "--out", tmp_path / "run", "--estimator", "identity"]
    argv += [a for n in names for a in ("--estimator", f"{plugins}:{n}")]
    code, out, err = call(argv, capsys)
    assert code == 1 and "Traceback" not in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]
    assert run["identity"]["status"] == "ok"
    reasons = {name: run[name].get("reason", "") for name in
               ("exits", "interrupts", "fitexits", "describes")}
    assert all(run[name]["status"] == "failed" for name in reasons)
    assert reasons["exits"].startswith("predict raised SystemExit: 3")
    assert reasons["interrupts"].startswith("predict raised KeyboardInterrupt")
    assert reasons["fitexits"].startswith("fit raised SystemExit: bye")
    assert reasons["describes"].startswith("get_params or describe raised RuntimeError: no facts")
    assert sum(line.startswith("error: estimator") for line in err.splitlines()) == 4


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to oneself is POSIX")
def _stop_when_busy(sig, ready: Path):
    """Send ``sig`` to this process once the plugin says it is in predict."""
    import threading

    def wait():
        for _ in range(6000):  # the plugin's own pace, whatever the machine's load
            if ready.exists():
                os.kill(os.getpid(), sig)
                return
            time.sleep(0.1)

    threading.Thread(target=wait, daemon=True).start()


def test_the_users_ctrl_c_still_stops_the_run(store, plugins, tmp_path, capsys):
    # The user presses Ctrl-C while the plugin is in predict.
    _stop_when_busy(signal.SIGINT, tmp_path / "run" / "checkpoints" / "plugin-ctrlc" / "ready")
    code, out, err = call(["eval", store.path, "--out", tmp_path / "run", "--estimator",
                           "identity", "--estimator", f"{plugins}:CtrlC"], capsys)
    assert code == 130 and "interrupted" in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]
    assert run["identity"]["status"] == "ok" and "ctrlc" not in run
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_corrupt_data_found_during_eval_is_one_store_error(store, tmp_path, capsys):
    damaged = tmp_path / "d.zarr"
    shutil.copytree(store.path, damaged)
    # Truncate one noisy shard file: a store problem, not a failure of each estimator.
    shard = sorted(p for p in (damaged / "noisy").rglob("*") if p.is_file()
                   and p.name != "zarr.json")[-1]
    shard.write_bytes(shard.read_bytes()[:50])
    code, out, err = call(["eval", damaged, "--out", tmp_path / "run", "--estimator",
                           "identity", "--estimator", "median"], capsys)
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "corrupt" in lines[0] and "ogmbench verify" in lines[0]
    assert "FAILED" not in err and "results in" not in out


def test_a_second_generate_into_one_store_is_refused_with_one_line(tmp_path, capsys):
    from ogmbench.locks import hold

    out = tmp_path / "s.zarr"
    with hold(tmp_path / ".s.zarr.ogmbench-lock", "a test holding the store"):
        code, stdout, err = call(["generate", out, "--size", "16", "--samples-per-rho", "4"],
                                 capsys)
        assert_usage_error(code, stdout, err, f"store {out}", "another ogmbench process")
        assert not out.exists()
    code, stdout, err = call(["generate", out, "--size", "16", "--samples-per-rho", "4"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # the lock file is gone


@pytest.mark.parametrize("edit, words", [
    ({"rho_values": [0.0, 0.7]}, ["inconsistent", "rho_values"]),
    ({"rho_values": "lots"}, ["inconsistent", "rho_values"]),
    ({"class_names": ["a"]}, ["inconsistent", "class_names"]),
    ({"class_names": ["X1", "X1"]}, ["inconsistent", "distinct"]),
    ({"class_names": ["X1", "\x1b[31mred"]}, ["inconsistent", "printable"]),
    ({"complete": "false"}, ["incomplete"]),
    ({"ogmbench_format": "1"}, ["format '1' (str)", "(an integer)"]),
])
@pytest.mark.parametrize("command", ["info", "eval", "show"])
def test_edited_attributes_are_one_line_never_a_number(store, tmp_path, capsys, edit, words,
                                                       command):
    import zarr

    edited = tmp_path / "e.zarr"
    shutil.copytree(store.path, edited)
    zarr.open_group(str(edited), mode="r+", use_consolidated=False).attrs.update(edit)
    argv = [command, edited] + {"eval": ["--estimator", "identity", "--out", tmp_path / "r"],
                                "show": ["--out", tmp_path / "x.png"], "info": []}[command]
    code, out, err = call(argv, capsys)
    assert_usage_error(code, out, err, *words)
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv", [["generate", ""], ["eval", "STORE", "--out", ""]])
def test_an_empty_output_path_is_named_not_read_as_the_current_folder(store, argv, capsys):
    argv = [store.path if a == "STORE" else a for a in argv]
    code, out, err = call(argv, capsys)
    assert_usage_error(code, out, err, "empty")


def test_overwrite_replaces_the_old_store_only_once_the_new_one_is_complete(tmp_path,
                                                                            monkeypatch):
    import importlib

    writer = importlib.import_module("ogmbench.generate")  # the module, not the function

    settings = dict(family="field", rho=[0.0, 0.9], samples_per_rho=60, size=128)  # 3 shards
    out = tmp_path / "s.zarr"
    old = ogmbench.generate(out, seed=1, **settings).attrs["digest"]
    real = writer.make_shard

    def fails_midway(config, shard):
        if shard > 0:
            raise OSError(28, "No space left on device")
        return real(config, shard)

    monkeypatch.setattr(writer, "make_shard", fails_midway)
    with pytest.raises(OSError, match="No space left"):
        ogmbench.generate(out, seed=2, overwrite=True, **settings)
    assert ogmbench.open_store(out).attrs["digest"] == old  # the old store is whole
    monkeypatch.setattr(writer, "make_shard", real)
    new = ogmbench.generate(out, seed=2, overwrite=True, **settings).attrs["digest"]
    assert new != old and ogmbench.verify_store(out).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # nothing left beside it


def test_overwrite_refuses_a_symbolic_link_with_one_line(store, tmp_path, capsys):
    link = tmp_path / "link.zarr"
    link.symlink_to(store.path)
    code, out, err = call(["generate", link, "--overwrite", "--size", "16",
                           "--samples-per-rho", "4"], capsys)
    assert_usage_error(code, out, err, str(link), "symbolic link")
    assert link.is_symlink() and ogmbench.open_store(store.path).attrs["complete"] is True


@pytest.mark.parametrize("array", ["clean", "noisy", "rho", "phi", "split"])
@pytest.mark.parametrize("command", ["info", "eval", "show"])
def test_a_missing_shard_of_any_array_is_one_line_never_a_number(tmp_path, capsys, array,
                                                                 command):

    out = tmp_path / "s.zarr"
    store = ogmbench.generate(out, rho=[0.0, 0.9], samples_per_rho=60, size=128)
    assert store.layout.n_shards == 3
    # Shard 0 holds train samples only: its split shard is all zeros, the fill value, and
    # is written all the same, so the store verifies intact before the damage.
    assert not store.split[:store.layout.shard].any() and ogmbench.verify_store(out).ok
    key = out / array / "c" / "1"
    (key.rglob("*").__next__() if key.is_dir() else key)  # the shard file exists
    shutil.rmtree(key) if key.is_dir() else key.unlink()
    argv = [command, out] + {"eval": ["--estimator", "identity", "--out", tmp_path / "r"],
                             "show": ["--out", tmp_path / "x.png"], "info": []}[command]
    code, stdout, err = call(argv, capsys)
    assert_usage_error(code, stdout, err, f"the {array} shard 1", "missing", "ogmbench verify")
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("settings", [
    dict(family="urban", params={"cars": 0, "trucks": 0, "buses": 0}, size=32),  # phi NaN
    dict(family="field", size=4, params={"length_scale": 1}),       # tiny maps
])
def test_untouched_stores_with_fill_valued_shards_verify_intact(tmp_path, settings):
    store = ogmbench.generate(tmp_path / "s.zarr", rho=[0.0, 0.5], samples_per_rho=6,
                              seed=0, **settings)
    report = ogmbench.verify_store(store.path)
    assert report.ok, report.message


@pytest.mark.parametrize("spec, words", [
    ("median:size=abc", ["size must be an integer", "'abc'"]),
    ("median:size=-3", ["size must be in [1, 99]", "-3"]),
    ("gaussian:sigma=nan", ["sigma must be a number", "'nan'"]),
    ("mrf:iterations=1e9", ["iterations must be an integer"]),
    ("mrf:iterations=1000000000", ["iterations must be in [0, 1000]"]),
    ("unet:width=abc", ["width must be an integer", "'abc'"]),
    ("unet:batch_size=100000", ["batch_size must be in [1, 4096]"]),
    ("unet:profile=huge", ["profile must be one of quick, default, paper"]),
    ("morph:order=sideways", ["order must be one of open-close, close-open"]),
    ("tv:weight=true", ["weight must be a number", "True"]),
    ("median:size=3,size=5", ["'size' given twice"]),
])
def test_bad_estimator_parameters_are_usage_errors_before_any_work(store, tmp_path, capsys,
                                                                  spec, words):

    code, out, err = call(["eval", store.path, "--estimator", spec, "--out", tmp_path / "r"],
                          capsys)
    assert_usage_error(code, out, err, *words)
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the limit needs SIGALRM")
def test_a_hanging_estimator_times_out_and_the_others_go_on(store, plugins, tmp_path, capsys):
    argv = ["eval", store.path, "--out", tmp_path / "run", "--timeout", "1"]
    for name in ("Sleeps", "Spins", "Swallows"):
        argv += ["--estimator", f"{plugins}:{name}"]
    argv += ["--estimator", "identity"]
    code, out, err = call(argv, capsys)
    assert code == 1 and "Traceback" not in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]
    assert run["identity"]["status"] == "ok"
    for name, where in (("sleeps", "predict"), ("spins", "fit"), ("swallows", "predict")):
        assert run[name]["status"] == "failed"
        assert run[name]["reason"] == f"timed out after 1 s (in {where})"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_a_bad_timeout_is_a_usage_error(store, tmp_path, capsys, value):
    code, out, err = call(["eval", store.path, "--timeout", value, "--out", tmp_path / "r"],
                          capsys)
    assert code == 2 and "--timeout" in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, words", [
    (["--classes", "100000"], ["of memory", "--force"]),
    (["--classes", "100", "--size", "4096"], ["of memory", "--force"]),
    (["--samples-per-rho", "100000000"], ["of disk", "free", "--force"]),
])
def test_an_absurd_request_is_refused_before_anything_is_created(tmp_path, capsys, argv, words):
    code, out, err = call(["generate", tmp_path / "s.zarr", *argv], capsys)
    assert_usage_error(code, out, err, *words)
    assert list(tmp_path.iterdir()) == []


def test_a_benchmark_asking_for_1e8_samples_per_rho_creates_no_store(tmp_path, capsys):
    config = tmp_path / "b.toml"
    config.write_text(benchmark_toml(samples_per_rho=10**8, estimators=("identity", "median"),
                                     reference="identity", prior_controls=()))
    code, out, err = call(["reproduce", config, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "of disk" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not list((tmp_path / "out").rglob("*.zarr"))


@pytest.mark.parametrize("kind", ["symlink", "file", "folder"])
def test_a_foreign_file_at_a_lock_name_is_refused_and_kept(tmp_path, capsys, kind):
    precious = tmp_path / "userfile"
    precious.write_text("precious")
    lock = tmp_path / ".s.zarr.ogmbench-lock"
    if kind == "symlink":
        lock.symlink_to(precious)
    elif kind == "file":
        lock.write_text("precious too")
    else:
        lock.mkdir()
    code, out, err = call(["generate", tmp_path / "s.zarr", "--size", "16",
                           "--samples-per-rho", "4"], capsys)
    assert_usage_error(code, out, err, "is in the way", "not an ogmbench lock file")
    assert precious.read_text() == "precious" and not (tmp_path / "s.zarr").exists()
    assert lock.is_symlink() or lock.is_dir() or lock.read_text() == "precious too"


@pytest.mark.parametrize("edit, words", [
    ({"rho_values": None}, ["rho_values"]),
    ({"family": None}, ["'family'"]),
    ({"config": "x"}, ["'config'"]),
    ({"digest": 5}, ["'digest'"]),
    ({"digest": "deadbeef" * 7}, ["digest", "not a sha256"]),
    ({"shard_digests": [1]}, ["'shard_digests'"]),
])
def test_more_edited_attributes_are_one_line(store, tmp_path, capsys, edit, words):
    import zarr

    edited = tmp_path / "e.zarr"
    shutil.copytree(store.path, edited)
    group = zarr.open_group(str(edited), mode="r+", use_consolidated=False)
    group.attrs.update(edit)
    for command in (["info", edited], ["eval", edited, "--estimator", "identity", "--out",
                                       tmp_path / "r"]):
        code, out, err = call(command, capsys)
        assert_usage_error(code, out, err, *words)
    code, out, err = call(["verify", edited], capsys)
    assert code == 1 and "DAMAGED" in out and "Traceback" not in err


def test_deleting_the_every_shard_marker_does_not_hide_a_missing_clean_shard(store, tmp_path,
                                                                             capsys):
    import zarr

    edited = tmp_path / "e.zarr"
    shutil.copytree(store.path, edited)
    group = zarr.open_group(str(edited), mode="r+", use_consolidated=False)
    group.attrs.put({k: v for k, v in group.attrs.asdict().items()
                     if k != "every_shard_written"})
    shutil.rmtree(edited / "clean" / "c" / "0")
    code, out, err = call(["info", edited], capsys)
    assert_usage_error(code, out, err, "the clean shard 0", "missing")


@pytest.mark.parametrize("name", ["README.md", "results.csv", "index.html"])
def test_reproduce_never_replaces_a_folder_named_like_its_outputs(tmp_path, capsys, name):
    config = tmp_path / "b.toml"
    config.write_text(benchmark_toml(estimators=("identity", "median"), reference="identity",
                                     prior_controls=(), samples_per_rho=10, size=16))
    mine = tmp_path / "out" / name / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    code, out, err = call(["reproduce", config, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "is not a file written by ogmbench reproduce" in err
    assert mine.read_text() == "mine"


def test_a_plugin_whose_constructor_raises_is_a_usage_error(store, tmp_path, capsys):
    plugin = tmp_path / "bad.py"
    plugin.write_text("from ogmbench.api import Estimator\n"
                      "class BadInit(Estimator):\n"
                      "    def __init__(self):\n        raise RuntimeError('init boom')\n")
    code, out, err = call(["eval", store.path, "--estimator", "identity", "--estimator",
                           f"{plugin}:BadInit", "--out", tmp_path / "r"], capsys)
    assert_usage_error(code, out, err, "cannot be built", "RuntimeError: init boom")


@pytest.mark.parametrize("argv, words", [
    (["eval", "STORE", "--timeout", "1e10"], ["--timeout"]),
    (["eval", "STORE", "--checkpoints", ""], ["--checkpoints is empty"]),
    (["eval", ""], ["STORE is empty"]),
    (["info", ""], ["STORE is empty"]),
    (["generate", "OUT", "--rho", "0,,1"], ["empty value"]),
])
def test_more_bad_arguments_are_one_line(store, tmp_path, capsys, argv, words):
    argv = [store.path if a == "STORE" else tmp_path / "n.zarr" if a == "OUT" else a
            for a in argv]
    code, out, err = call(argv + (["--out", tmp_path / "r"] if argv[0] == "eval" and
                                  argv[1] != "" else []), capsys)
    assert code == 2 and "Traceback" not in err and all(w in err for w in words), err
    assert not (tmp_path / "r").exists() and not (tmp_path / "n.zarr").exists()


def _command(command, path, tmp_path):
    return [command, path] + {"eval": ["--estimator", "identity", "--out", tmp_path / "r"],
                              "show": ["--out", tmp_path / "x.png"], "info": []}[command]


@pytest.mark.parametrize("array", ["clean", "noisy"])
@pytest.mark.parametrize("command", ["info", "eval", "show"])
def test_a_shard_that_decodes_but_was_altered_is_one_line_never_a_number(tmp_path, capsys,
                                                                         array, command):
    settings = dict(family="field", rho=[0.0, 0.9], samples_per_rho=6, size=16)
    mine = ogmbench.generate(tmp_path / "mine.zarr", seed=0, **settings).path
    other = ogmbench.generate(tmp_path / "other.zarr", seed=1, **settings).path
    # A shard copied in from another store of the same layout decodes perfectly.
    shard = (Path(array) / "c" / "0" / "0" / "0" / "0")
    shutil.copyfile(other / shard, mine / shard)
    code, out, err = call(_command(command, mine, tmp_path), capsys)
    assert_usage_error(code, out, err, str(mine), "shard 0", "differs from its recorded digest",
                       "ogmbench verify")
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.png").exists()


def test_every_read_of_the_store_api_is_digest_checked(store, tmp_path):
    import zarr

    damaged = Path(shutil.copytree(store.path, tmp_path / "d.zarr"))

    noisy = zarr.open_array(str(damaged / "noisy"), mode="r+")
    noisy[0, 0, 0, 0] = noisy[0, 0, 0, 0] + 0.25  # a plausible value, well encoded
    reads = [lambda s: s.read("noisy", 0, 1), lambda s: s.read("clean", 3, 5),
             lambda s: s.take("noisy", [4, 1], [1]), lambda s: s[2],
             lambda s: next(s.iter_chunks("train")),
             lambda s: ogmbench.TorchDataset(s, "train")[0],
             lambda s: ogmbench.TorchDataset(s, "train", in_memory=True)]
    for read in reads:
        with pytest.raises(ogmbench.StoreError, match="differs from its recorded digest"):
            read(ogmbench.open_store(damaged))


@pytest.mark.parametrize("edit, words", [
    ({"noise": "flip:fp=0.1"}, ["'noise'", "its config says"]),
    ({"family": "urban"}, ["'family'", "its config says"]),
    ({"seed": 7}, ["'seed'", "its config says"]),
    ({"family_params": {"length_scale": 9.0, "occupancy": 0.5}}, ["'family_params'"]),
    ({"samples_per_rho": 7}, ["'samples_per_rho'"]),
    ({"shard_digests": {"0": "0" * 64}}, ["do not add up to its digest"]),
    ({"shard_digests": {"0": "0" * 64, "1": "0" * 64}}, ["shard_digests", "one sha256"]),
    ({"digest": "0" * 64}, ["do not add up to its digest"]),
])
def test_labels_and_digests_that_disagree_with_the_store_are_one_line(store, tmp_path, capsys,
                                                                      edit, words):
    import zarr

    edited = tmp_path / "e.zarr"
    shutil.copytree(store.path, edited)
    zarr.open_group(str(edited), mode="r+", use_consolidated=False).attrs.update(edit)
    for command in ("info", "eval", "show"):
        code, out, err = call(_command(command, edited, tmp_path), capsys)
        assert_usage_error(code, out, err, "inconsistent", *words)
    code, out, err = call(["verify", edited], capsys)
    assert code == 1 and "DAMAGED" in out and "Traceback" not in err


@pytest.mark.parametrize("classes", [2, 3])
def test_a_deleted_or_edited_class_coordinate_is_one_line(tmp_path, capsys, classes):
    import zarr

    out = tmp_path / "s.zarr"
    ogmbench.generate(out, family="field", rho=[0.0, 0.5], samples_per_rho=6, size=16,
                      classes=classes)
    dim = "other_class" if classes == 3 else "class"
    shutil.rmtree(out / dim / "c")
    code, stdout, err = call(["info", out], capsys)
    assert_usage_error(code, stdout, err, f"its '{dim}' coordinate", "ogmbench verify")
    zarr.open_array(str(out / dim), mode="r+")[:] = ["a", "b", "c"][:classes]
    code, stdout, err = call(["eval", out, "--estimator", "identity", "--out", tmp_path / "r"],
                             capsys)
    assert_usage_error(code, stdout, err, f"its '{dim}' coordinate", "'a'")


def test_a_store_being_read_is_never_replaced_and_a_store_being_written_is_not_read(
        store, tmp_path, capsys):
    from ogmbench.store import reading, writing

    out = tmp_path / "s.zarr"
    shutil.copytree(store.path, out)
    digest = ogmbench.open_store(out).attrs["digest"]
    with reading(out), reading(out):  # any number of readers at once
        code, stdout, err = call(["generate", out, "--overwrite", "--size", "16",
                                  "--samples-per-rho", "4", "--seed", "5"], capsys)
        assert_usage_error(code, stdout, err, f"store {out}", "being read",
                           "another ogmbench process")
    assert ogmbench.open_store(out).attrs["digest"] == digest
    with writing(out):
        for command in ("info", "eval", "show", "verify"):
            argv = _command(command, out, tmp_path) if command != "verify" else ["verify", out]
            code, stdout, err = call(argv, capsys)
            assert_usage_error(code, stdout, err, f"store {out}", "being written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # lock files removed


def test_eval_holds_its_store_against_an_overwrite_for_the_whole_run(store, tmp_path, capsys):
    plugin = tmp_path / "overwrites.py"
    plugin.write_text(
        "import numpy as np, ogmbench\n"
        "from ogmbench.api import Estimator\n"
        "class Overwrites(Estimator):\n"
        "    name = 'overwrites'\n"
        "    def fit(self, data, *, target, seed=0, device='cpu'):\n"
        f"        ogmbench.generate({str(tmp_path / 's.zarr')!r}, overwrite=True, size=16,\n"
        "                          samples_per_rho=4, seed=9)\n"
        "    def predict(self, noisy, target):\n"
        "        return np.clip(noisy[:, target], 0, 1).astype(np.float32)\n")
    out = tmp_path / "s.zarr"
    shutil.copytree(store.path, out)
    code, stdout, err = call(["eval", out, "--out", tmp_path / "run", "--estimator",
                              f"{plugin}:Overwrites"], capsys)
    assert code == 1
    reason = json.loads((tmp_path / "run" / "run.json").read_text()
                        )["estimators"]["overwrites"]["reason"]
    # Refused by the store's reading lock; in the jail, where the plugin sees no store
    # there and no folder it may write, before it gets that far.
    from ogmbench.sandbox import jail_status

    if jail_status().startswith("bubblewrap"):
        assert reason.startswith("fit raised") and ("permission denied" in reason
                                                    or "busy" in reason), reason
    else:
        assert "being read by another ogmbench process" in reason
    assert ogmbench.verify_store(out).ok and ogmbench.open_store(out).attrs["digest"] == \
        store.attrs["digest"]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the limit needs SIGALRM")
def test_a_plugin_cannot_escape_its_limit_end_the_run_or_move_it(store, plugins, tmp_path,
                                                                 capsys, monkeypatch):
    import importlib

    # The grace runs from the child's start: on a loaded machine its imports alone took
    # over a second (issue 28), and a well-behaved plugin must not be killed for them.
    monkeypatch.setattr(importlib.import_module("ogmbench.evaluate._units"), "_GRACE", 4.0)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(store.path, "s.zarr")  # relative paths: a plugin's chdir must not matter
    argv = ["eval", "s.zarr", "--out", "run", "--timeout", "1", "--estimator", "identity"]
    for name in ("IgnoresAlarm", "CatchesAll", "Quits", "MovesAway"):
        argv += ["--estimator", f"{plugins}:{name}"]
    argv += ["--estimator", "median"]
    code, out, err = call(argv, capsys)
    assert code == 1 and "Traceback" not in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]
    assert run["identity"]["status"] == run["median"]["status"] == "ok"
    assert run["movesaway"]["status"] == "ok"
    for name in ("ignoresalarm", "catchesall"):
        assert run[name]["status"] == "failed"
        assert run[name]["reason"].startswith("timed out after 1 s (its process did not stop")
    assert run["quits"]["status"] == "failed"
    assert run["quits"]["reason"].startswith("its process ended with exit status 0")
    assert (tmp_path / "run" / "leaderboard.csv").is_file()


def test_a_plugin_runs_in_its_own_process_and_a_built_in_does_not(store, plugins, tmp_path):
    from ogmbench.evaluate._units import isolated as _isolated
    from ogmbench.specs import EstimatorSpec, resolve

    assert _isolated(resolve(f"{plugins}:Quits")) and not _isolated(resolve("median"))
    # A class handed over as an object cannot be built again elsewhere: it runs here.
    handed = resolve(f"{plugins}:Quits")
    local = type("Local", (handed.cls,), {"name": "local"})
    assert not _isolated(EstimatorSpec(text="local", name="local", cls=local, source="object"))


def test_a_missing_folder_is_no_store_not_a_lock_in_the_way(tmp_path, capsys):
    for command in ("info", "verify"):
        code, out, err = call([command, tmp_path / "nodir" / "x.zarr"], capsys)
        assert_usage_error(code, out, err, "no store at")


def test_a_reader_that_cannot_remove_the_lock_file_still_succeeds(store, monkeypatch):
    from ogmbench.store import lock_file, reading

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    with reading(store.path):
        pass
    monkeypatch.undo()
    assert lock_file(store.path).exists()  # left for the next holder, who reuses it
    with reading(store.path):
        pass
    assert not lock_file(store.path).exists()


def test_readers_at_the_same_time_never_refuse_each_other(store):
    import threading

    from ogmbench.locks import BusyError
    from ogmbench.store import reading

    refused = []

    def read_often():
        for _ in range(300):
            try:
                with reading(store.path):
                    pass
            except BusyError as exc:
                refused.append(str(exc))

    threads = [threading.Thread(target=read_often) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert refused == []


def test_a_store_reached_through_a_link_has_the_same_lock(store, tmp_path):
    from ogmbench.locks import BusyError
    from ogmbench.store import reading, writing

    link = tmp_path / "link.zarr"
    link.symlink_to(store.path)
    with reading(link):
        with pytest.raises(BusyError, match="being read"):
            with writing(store.path):
                pass


def test_reads_outside_the_store_are_clipped_or_refused_never_damage(store):
    import pickle

    n = len(store)
    assert store.read("noisy", n, n).shape == (0, 2, 16, 16)
    assert store.read("noisy", 0, n + 600).shape[0] == n
    with pytest.raises(IndexError):
        store.take("noisy", [-1])
    with pytest.raises(IndexError):
        store.take("noisy", [n])
    with pytest.raises(ValueError, match="'bogus' is not an array"):
        store.read("bogus", 0, 1)
    again = pickle.loads(pickle.dumps(store))  # for spawned data-loader workers
    assert (again.read("clean", 0, n) == store.read("clean", 0, n)).all()


def test_a_class_of_a_script_runs_in_this_process(plugins):
    from ogmbench.evaluate._units import isolated as _isolated
    from ogmbench.specs import resolve

    spec = resolve(f"{plugins}:Quits")
    assert _isolated(spec)
    cls = type("Box", (spec.cls,), {"__module__": "__main__"})
    assert not _isolated(type(spec)(text="__main__:Box", name="box", cls=cls, source="module"))


def test_a_plugin_raising_a_store_error_of_its_own_is_a_failed_estimator(store, plugins, tmp_path,
                                                                        capsys):
    code, out, err = call(["eval", store.path, "--out", tmp_path / "run", "--estimator",
                           f"{plugins}:RaisesStoreError", "--estimator", "identity"], capsys)
    assert code == 1 and "Traceback" not in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]
    assert run["raisesstore"]["status"] == "failed" and run["identity"]["status"] == "ok"
    assert "the plugin says a store is bad" in run["raisesstore"]["reason"]


def test_a_plugin_changing_folder_when_imported_does_not_change_what_is_evaluated(
        store, tmp_path, capsys, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    ogmbench.generate(other / "s.zarr", family="field", rho=[0.0, 0.9], samples_per_rho=6,
                      size=16, seed=99)
    plugin = tmp_path / "moves.py"
    plugin.write_text(f"import os\nos.chdir({str(other)!r})\n"
                      "from ogmbench.api import Estimator\n"
                      "class Moves(Estimator):\n"
                      "    def predict(self, noisy, target):\n"
                      "        return noisy[:, target].clip(0, 1)\n")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(store.path, "s.zarr")
    code, out, err = call(["eval", "s.zarr", "--out", "run", "--estimator", f"{plugin}:Moves",
                           "--estimator", "identity"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    assert data["store_digest"] == store.attrs["digest"]


def test_a_pipe_inside_a_store_is_damage_not_a_hang(store, tmp_path, capsys):
    damaged = Path(shutil.copytree(store.path, tmp_path / "d.zarr"))
    shutil.rmtree(damaged / "class" / "c")
    os.mkfifo(damaged / "class" / "c")
    code, out, err = call(["info", damaged], capsys)
    assert_usage_error(code, out, err, "class/c is not a regular file")


def test_overwrite_never_deletes_files_a_user_keeps_inside_a_store(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    ogmbench.generate(out, family="field", rho=[0.0, 0.9], samples_per_rho=6, size=16)
    (out / "NOTES.txt").write_text("mine")
    code, stdout, err = call(["generate", out, "--overwrite", "--size", "16",
                              "--samples-per-rho", "4"], capsys)
    assert_usage_error(code, stdout, err, "NOTES.txt", "did not write")
    assert (out / "NOTES.txt").read_text() == "mine"


def test_show_replaces_only_its_own_pictures_and_never_writes_through_a_link(store, tmp_path,
                                                                           capsys):
    mine = tmp_path / "mine.png"
    mine.write_text("a user's file")
    code, out, err = call(["show", store.path, "--out", mine], capsys)
    assert_usage_error(code, out, err, "was not written by ogmbench show")
    assert mine.read_text() == "a user's file"
    link = tmp_path / "link.png"
    link.symlink_to(mine)
    code, out, err = call(["show", store.path, "--out", link], capsys)
    assert_usage_error(code, out, err, "symbolic link")
    for suffix in ("png", "svg", "pdf"):
        ours = tmp_path / f"ours.{suffix}"
        for _ in range(2):  # the second run replaces the first's picture
            code, out, err = call(["show", store.path, "--out", ours], capsys)
            assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["mine.png", "link.png", "ours.png", "ours.svg", "ours.pdf"])


@pytest.mark.parametrize("edit, words", [
    ("length_scale", ["family parameters"]),
    ("rho", ["rho values"]),
])
def test_labels_and_config_edited_together_are_one_line_never_a_traceback(store, tmp_path,
                                                                          capsys, edit, words):
    import zarr

    edited = tmp_path / "e.zarr"
    shutil.copytree(store.path, edited)
    group = zarr.open_group(str(edited), mode="r+", use_consolidated=False)
    attrs = group.attrs.asdict()
    config = dict(attrs["config"])
    if edit == "length_scale":
        config["family_params"] = {"length_scale": [1, "a"]}
        group.attrs.update({"config": config, "family_params": config["family_params"]})
    else:
        config["rho"] = [0.0, 0.9000001]
        group.attrs.update({"config": config, "rho_values": config["rho"]})
    code, out, err = call(["info", edited], capsys)
    assert_usage_error(code, out, err, "inconsistent", *words)


@pytest.mark.parametrize("argv, words", [
    (["eval", "STORE", "--estimator", "/etc/hostname:X"], ["not a Python file"]),
    (["generate", "OUT", "--noise", "lidar:beams=99999999999"], ["beams"]),
])
def test_yet_more_bad_arguments_are_one_line(store, tmp_path, capsys, argv, words):
    argv = [store.path if a == "STORE" else tmp_path / "o.zarr" if a == "OUT" else a
            for a in argv]
    code, out, err = call(argv, capsys)
    assert_usage_error(code, out, err, *words)
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.parametrize("case", ["nan tolerance", "deep nesting"])
def test_bad_benchmark_files_are_one_line_and_create_nothing(tmp_path, capsys, case):
    text = benchmark_toml()
    if case == "deep nesting":
        text, words = "a = " + "[" * 5000 + "]" * 5000 + "\n" + text, "nest too deep"
    else:
        text, words = text.replace("rtol = 0.05", "rtol = nan"), "finite"
    (tmp_path / "b.toml").write_text(text)
    code, out, err = call(["reproduce", tmp_path / "b.toml", "--out", tmp_path / "o"], capsys)
    assert_usage_error(code, out, err, words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.toml"]


def test_reproduce_asking_too_much_creates_nothing(tmp_path, capsys):
    (tmp_path / "b.toml").write_text(benchmark_toml(samples_per_rho=10**8))
    code, out, err = call(["reproduce", tmp_path / "b.toml", "--out", tmp_path / "o",
                           "--work", tmp_path / "w"], capsys)
    assert_usage_error(code, out, err, "need about")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.toml"]


def test_a_second_reproduce_into_one_report_folder_is_refused(tmp_path, capsys):
    from ogmbench.locks import hold

    (tmp_path / "b.toml").write_text(benchmark_toml())
    out = tmp_path / "o"
    with hold(tmp_path / ".o.ogmbench-lock", "a reproduction holding the report folder"):
        code, stdout, err = call(["reproduce", tmp_path / "b.toml", "--out", out], capsys)
    assert_usage_error(code, stdout, err, f"report folder {out}", "another ogmbench process")


def test_reproduce_never_empties_a_run_directory_that_an_eval_holds(tmp_path):
    from ogmbench.locks import BusyError, hold
    from ogmbench.runs import LOCK_FILE, clear_run

    from ogmbench.runs import open_run

    run = tmp_path / "run"
    settings = {"store": "s.zarr", "store_digest": "0" * 64, "target": 0, "seed": 0,
                "prior_controls": []}
    open_run(run, settings, resume=False, device="cpu", provenance={}).close()
    (run / "samples").mkdir()
    with hold(run / LOCK_FILE, "an eval writing it"):
        with pytest.raises(BusyError):
            clear_run(run)
    assert (run / "samples").is_dir()
    clear_run(run)
    assert sorted(p.name for p in run.iterdir()) == []


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32",
                    reason="POSIX signals")
def test_a_run_stopped_from_outside_stops_like_ctrl_c_and_keeps_what_finished(
        store, plugins, tmp_path, capsys):
    before = signal.getsignal(signal.SIGTERM)
    _stop_when_busy(signal.SIGTERM,
                    tmp_path / "run" / "checkpoints" / "plugin-terminated" / "ready")
    code, out, err = call(["eval", store.path, "--out", tmp_path / "run", "--estimator",
                           "identity", "--estimator", f"{plugins}:Terminated"], capsys)
    assert code == 130 and "interrupted" in err
    run = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]
    assert run["identity"]["status"] == "ok" and "terminated" not in run
    assert signal.getsignal(signal.SIGTERM) is before  # restored


@pytest.mark.parametrize("value", ["true", 1, None])
def test_verify_calls_an_edited_complete_marker_damage(store, tmp_path, capsys, value):
    import zarr

    edited = tmp_path / "e.zarr"
    shutil.copytree(store.path, edited)
    zarr.open_group(str(edited), mode="r+", use_consolidated=False).attrs.update(
        {"complete": value})
    code, out, err = call(["verify", edited], capsys)
    assert code == 1 and "DAMAGED" in out and "'complete'" in out and "Traceback" not in err


@pytest.mark.parametrize("what", ["a file of mine", "a folder"])
def test_reproduce_never_replaces_a_samples_file_it_did_not_write(tmp_path, capsys, what):
    config = tmp_path / "b.toml"
    config.write_text(benchmark_toml(estimators=("identity", "median"), reference="identity",
                                     prior_controls=(), samples_per_rho=10, size=16))
    mine = tmp_path / "out" / "samples.parquet"
    mine.parent.mkdir(parents=True)
    if what == "a folder":
        mine.mkdir()
    else:
        mine.write_bytes(b"my own table")
    code, out, err = call(["reproduce", config, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "samples.parquet exists and was not written by ogmbench" in err
    assert mine.exists() and (mine.is_dir() or mine.read_bytes() == b"my own table")
