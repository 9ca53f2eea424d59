"""Stores, run directories and checkpoints on object storage: a local S3 server (moto in
server mode on 127.0.0.1, started here, as s3fs's own tests do) against local runs."""

import logging
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ogmbench
from ogmbench.evaluate import EvalConfig, run_eval
from ogmbench.places import Remote, location, write_atomic
from ogmbench.benchmark import load_benchmark
from ogmbench import reproduce
from ogmbench.results import read_results
from ogmbench.runs import read_run
from ogmbench.store import StoreError, lock_file, open_store, verify_store

from cli_helpers import assert_usage_error, benchmark_toml, call, snapshot
from store_helpers import SMALL

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

SHARDED = {**SMALL, "size": 96, "samples_per_rho": 60}  # several shards
try:
    import distributed  # noqa: F401
    DASK = True
except ImportError:
    DASK = False


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """The S3 endpoint's URL, with credentials in the environment (as workers get them)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    patch = pytest.MonkeyPatch()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        patch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()  # none made for another endpoint survives
    s3fs.S3FileSystem().mkdir("bench")
    yield "s3://bench"
    s3fs.S3FileSystem.clear_instance_cache()
    patch.undo()
    server.stop()


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("local") / "s.zarr", **SHARDED)


def _objects(url: str) -> dict[str, bytes]:
    """Every object under ``url`` by relative key (a snapshot, as ``snapshot`` of a folder)."""
    place = location(url)
    return {rel: (place / rel).read_bytes() for rel in place.files()}


def test_a_store_on_s3_has_the_bytes_of_a_local_one_and_reads_back(s3, local_store, capsys):
    url = f"{s3}/same.zarr"
    store = ogmbench.generate(url, **SHARDED)
    assert store.layout.n_shards > 1
    assert store.attrs["digest"] == local_store.attrs["digest"]
    here = {k: v for k, v in snapshot(local_store.path).items() if v is not None}
    there = _objects(url)
    assert set(there) == set(here)
    # Every shard and chunk file is the same bytes (metadata hold the write times).
    assert {k: v for k, v in there.items() if "/c/" in k} == {
        k: v for k, v in here.items() if "/c/" in k}
    assert verify_store(url).ok
    code, out, _ = call(["verify", url], capsys)
    assert code == 0 and "intact" in out
    assert not lock_file(url).exists()  # the writer's lock object is gone
    xarray = pytest.importorskip("xarray")
    ds = xarray.open_zarr(url)
    np.testing.assert_array_equal(ds["noisy"].values, local_store.noisy[:])
    np.testing.assert_array_equal(store.take("clean", [5, 0, 170], classes=[1]),
                                  local_store.take("clean", [5, 0, 170], classes=[1]))


@pytest.mark.skipif(not DASK, reason="the dask extra is not installed")
def test_dask_workers_write_and_read_the_same_urls(s3, tmp_path):
    from ogmbench.execution import connect

    url = f"{s3}/dask.zarr"
    estimators = ["identity", "median"]
    small = ogmbench.generate(tmp_path / "small.zarr", **SMALL)
    here, _ = run_eval(small.path, estimators, EvalConfig(out=tmp_path / "run", threads=1))
    # Worker processes, as on other machines: they write the shards, then read the store
    # and write the U-Net's checkpoint at the same URLs.
    with connect("local:2", threads=2) as cluster:
        store = ogmbench.generate(url, **SMALL, dask=cluster)
        there, outcomes = run_eval(url, estimators, EvalConfig(out=f"{s3}/runs/dask", dask=cluster))
    assert store.attrs["digest"] == small.attrs["digest"]
    chunks = {k: v for k, v in snapshot(small.path).items() if "/c/" in k and v}
    assert {k: v for k, v in _objects(url).items() if "/c/" in k} == chunks
    assert [o.status for o in outcomes] == ["ok", "ok"]
    for name in ("identity", "median"):
        _same_rows(read_run(there), read_run(here), name)


def test_eval_from_and_to_s3_equals_a_local_run_and_resumes(s3, tmp_path, capsys):
    url = f"{s3}/eval.zarr"
    ogmbench.generate(url, **SMALL)
    estimators = ["identity", "median", "unet:steps=10"]
    here, _ = run_eval(ogmbench.generate(tmp_path / "s.zarr", **SMALL).path, estimators, EvalConfig(out=tmp_path / "run",
                                                                                                    threads=1))
    there, outcomes = run_eval(url, estimators, EvalConfig(out=f"{s3}/runs/a", threads=1))
    assert [o.status for o in outcomes] == ["ok"] * 3
    assert isinstance(there, Remote)
    local, remote = read_run(here), read_run(there)
    for name in ("identity", "median", "unet"):
        _same_rows(remote, local, name)
    code, out, _ = call(["leaderboard", there], capsys)
    assert code == 0 and "median" in out
    checkpoints = [k for k in location(there).files() if k.startswith("checkpoints/")]
    assert len(checkpoints) == 1 and checkpoints[0].endswith(".pt")
    # --resume keeps what finished
    again, outcomes = run_eval(url, estimators + ["gaussian"], EvalConfig(out=f"{s3}/runs/a",
                                                                          threads=1, resume=True))
    assert [o.status for o in outcomes] == ["skipped"] * 3 + ["ok"]
    assert read_run(again).record("gaussian").ok
    # A new run given those checkpoints loads the U-Net instead of training it.
    other, _ = run_eval(url, ["unet:steps=10"], EvalConfig(out=f"{s3}/runs/b", threads=1,
                                                           checkpoints=f"{s3}/runs/a/checkpoints"))
    loaded = read_run(other)
    assert loaded.record("unet").data["describe"]["checkpoint"]["trained"] is False
    _same_rows(loaded, local, "unet")


def _same_rows(run, reference, name):
    # NaN cells (an undefined metric) are equal here, as pandas compares them.
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(run.samples(name).to_pandas(),
                                  reference.samples(name).to_pandas(), check_exact=True)


def test_a_second_writer_is_refused_and_a_foreign_object_is_never_touched(s3, capsys):
    url = f"{s3}/busy.zarr"
    lock = lock_file(url)
    assert lock.create(b"ogmbench lock, pid 4242 on elsewhere since 2026-01-01T00:00:00Z\n")
    code, out, err = call(["generate", url, "--family", "field", "--samples-per-rho", "4",
                           "--size", "16"], capsys)
    assert_usage_error(code, out, err, "being written by another ogmbench process",
                       "pid 4242 on elsewhere", f"delete {lock}")
    assert lock.exists() and not location(url).exists()
    lock.write_bytes(b"my own notes")  # someone else's object under the lock's name
    code, out, err = call(["generate", url, "--family", "field", "--samples-per-rho", "4",
                           "--size", "16"], capsys)
    assert_usage_error(code, out, err, "is in the way", "not an ogmbench lock file")
    assert lock.read_bytes() == b"my own notes"
    lock.unlink()
    # A run directory holding someone else's objects is refused, and they stay.
    foreign = location(f"{s3}/theirs/notes.txt")
    foreign.write_bytes(b"mine")
    code, out, err = call(["eval", f"{s3}/none.zarr", "--out", f"{s3}/theirs"], capsys)
    assert code == 2 and "Traceback" not in err
    assert foreign.read_bytes() == b"mine"


def test_overwrite_replaces_only_an_ogmbench_store(s3, capsys):
    url = f"{s3}/over.zarr"
    small = {**SMALL, "samples_per_rho": 4}
    ogmbench.generate(url, **small)
    stray = location(url) / "notes.txt"
    stray.write_bytes(b"keep me")
    code, out, err = call(["generate", url, "--family", "field", "--samples-per-rho", "4",
                           "--size", "16", "--overwrite"], capsys)
    assert_usage_error(code, out, err, "notes.txt", "did not write")
    assert stray.read_bytes() == b"keep me" and verify_store(url).ok
    stray.unlink()
    # Objects named like the store, beside its prefix, are other objects: kept.
    beside = [location(url), location(f"{url}.bak")]
    for obj in beside:
        obj.write_bytes(b"mine")
    store = ogmbench.generate(url, **{**small, "seed": 99}, overwrite=True)
    assert store.attrs["config"]["seed"] == 99 and verify_store(url).ok
    assert all(obj.read_bytes() == b"mine" for obj in beside)
    for obj in beside:
        obj.unlink()


def test_a_damaged_or_replaced_store_never_gives_a_number(s3, capsys, tmp_path):
    url = f"{s3}/damaged.zarr"
    small = {**SMALL, "samples_per_rho": 4}
    before = ogmbench.generate(url, **small).read("noisy", 0, 2)
    reader = open_store(url)
    # Replaced under an open reader (no reader's lock on object storage): its next read
    # is refused, not served from the new store.
    ogmbench.generate(url, **{**small, "seed": 7}, overwrite=True)
    with pytest.raises(StoreError, match="differs from its recorded digest"):
        reader.read("noisy", 0, 2)
    with pytest.raises(StoreError, match="differs from its recorded digest"):
        reader.take("noisy", [1])
    assert not np.array_equal(open_store(url).read("noisy", 0, 2), before)
    # One chunk file altered: verify says so and eval writes nothing.
    chunk = location(url) / "noisy/c/0/0/0/0"
    data = bytearray(chunk.read_bytes())
    data[-20] ^= 0xFF
    chunk.write_bytes(bytes(data))
    assert not verify_store(url).ok
    code, out, err = call(["eval", url, "--estimator", "identity", "--out", tmp_path / "r"],
                          capsys)
    assert code == 2 and "Traceback" not in err and url in err
    assert not (tmp_path / "r").exists()


def test_reproduce_with_work_on_s3_gives_the_local_results(s3, tmp_path):
    config = tmp_path / "bench.toml"
    config.write_text(benchmark_toml(estimators=("identity", "unet"), steps=10,
                                     prior_controls=()))
    here, _ = reproduce(config, out=tmp_path / "here", threads=1)
    there, _ = reproduce(config, out=tmp_path / "there", work=f"{s3}/work", threads=1)
    for name in ("results.csv", "tables.md"):
        assert (there / name).read_bytes() == (here / name).read_bytes(), name
    work = location(f"{s3}/work").files()
    assert any(k.startswith("stores/") for k in work) and any(
        k.startswith("checkpoints/") for k in work)
    # Other settings: the store is regenerated and the run started afresh in place.
    config.write_text(benchmark_toml(estimators=("identity",), reference="identity",
                                     prior_controls=(), samples_per_rho=16))
    messages = []
    changed, _ = reproduce(config, out=tmp_path / "there", work=f"{s3}/work", threads=1,
                           log=messages.append)
    assert any("has other settings" in m for m in messages)
    assert any("starting afresh" in m for m in messages)
    bench = load_benchmark(config)
    results = read_results(changed / "results.csv")
    assert set(results["config_hash"]) == {bench.config_hash(bench.datasets[0])}


def test_urls_that_cannot_be_used_are_one_line(s3, capsys, tmp_path):
    store = ogmbench.generate(tmp_path / "s.zarr", **{**SMALL, "samples_per_rho": 4})
    (tmp_path / "b.toml").write_text(benchmark_toml())
    for args, words in ((["generate", "nosuch://b/x.zarr"], ["cannot open nosuch://b/x.zarr"]),
                        (["generate", "s3://"], ["names no bucket"]),
                        (["generate", "://x"], ["names no scheme"]),
                        (["generate", "s3://no-such-bucket/x.zarr"], ["no bucket"]),
                        (["generate", s3], ["is a bucket", "path inside it"]),
                        (["generate", f"{s3}/a.zarr/."], ["'.'"]),
                        (["generate", f"{s3}//a.zarr"], ["empty"]),
                        (["generate", f"{s3}/x/../a.zarr"], ["'..'"]),
                        (["generate", "s3:/bench/a.zarr"], ["one slash missing"]),
                        (["generate", "http://127.0.0.1:1/bench/a.zarr"], ["http(s)"]),
                        (["generate", "file://elsewhere/tmp/a.zarr"], ["another host"]),
                        (["info", f"{s3}/absent.zarr"], ["no store at"]),
                        (["eval", store.path, "--checkpoints", "s3://no-such-bucket/ck",
                          "--out", tmp_path / "r"], ["no bucket"]),
                        (["show", store.path, "--out", f"{s3}/x.png"], ["--out", "local path"]),
                        (["reproduce", tmp_path / "b.toml", "--check", f"{s3}/results.csv"],
                         ["--check", "local path"]),
                        (["reproduce", tmp_path / "b.toml", "--out", f"{s3}/report"],
                         ["--out", "local folder"])):
        code, out, err = call(args, capsys)
        assert_usage_error(code, out, err, *words)
    assert not (tmp_path / "r").exists()


def test_an_unreachable_endpoint_is_one_line_and_exit_1(s3, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        for args in (["generate", f"{s3}/x.zarr"], ["info", f"{s3}/x.zarr"],
                     ["eval", f"{s3}/x.zarr", "--out", tmp_path / "r"]):
            code, out, err = call(args, capsys)
            assert code == 1 and "Traceback" not in err, err
            assert len(err.strip().splitlines()) == 1 and "127.0.0.1:9" in err, err
    finally:
        s3fs.S3FileSystem.clear_instance_cache()


def test_a_writer_stopped_by_sigterm_releases_its_lock(s3, tmp_path):
    url = f"{s3}/stopped.zarr"
    command = [sys.executable, "-m", "ogmbench", "generate", url, "--family", "field",
               "--size", "64", "--samples-per-rho", "300", "--rho", "0,0.9"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = lock_file(url)
    deadline = time.monotonic() + 60
    first_shard = location(url) / "noisy/c/0/0/0/0"  # of several: it goes on a while
    while not first_shard.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.exists()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and b"interrupted" in err and b"Traceback" not in err
    assert not lock.exists()
    store = ogmbench.generate(url, resume=True)
    assert verify_store(url).ok and len(store) == 600


def test_a_remote_place_behaves_like_a_path(s3):
    place = location(f"{s3}/a/b.zarr/")
    assert str(place) == f"{s3}/a/b.zarr" and place.name == "b.zarr"
    assert place.parent == location(f"{s3}/a") and place / "c" == location(f"{s3}/a/b.zarr/c")
    assert pickle.loads(pickle.dumps(place)) == place
    assert location("file:///tmp/x") == location("/tmp/x") and not isinstance(
        location("file:///tmp/x"), Remote)
    assert not place.exists() and not place.is_dir()
    write_atomic(place / "f", b"one")
    assert place.is_dir() and (place / "f").is_file() and (place / "f").read_bytes() == b"one"
    assert not (place / "f").create(b"two") and (place / "f").read_bytes() == b"one"
    place.remove_tree()
    assert not place.exists()
