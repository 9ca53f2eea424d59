"""Dask execution: the same bytes as a local run, per-unit failures, killed workers."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import ogmbench
from ogmbench import execution
from ogmbench.evaluate import EvalConfig, run_eval
from ogmbench.execution import connect
from ogmbench import reproduce
from ogmbench.runs import read_run

from cli_helpers import assert_usage_error, benchmark_toml, call, estimator_file, snapshot
from store_helpers import SMALL, arrays

pytest.importorskip("distributed")
pytest.importorskip("torch")

SHARDED = {**SMALL, "size": 128, "samples_per_rho": 60}  # several shards
LEARNED = ["identity", "median", "unet", "concat:prior=shuffled"]


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, as ``--dask local:2`` on 2 cores."""
    with connect("local:2", threads=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def local_run(field_store, tmp_path_factory):
    """The learned and classical estimators run here on one thread: the reference bytes."""
    out = tmp_path_factory.mktemp("local") / "run"
    run_eval(field_store.path, LEARNED, EvalConfig(out=out, threads=1, profile="quick",
                                                   train_seeds=2,
                                                   keep=[int(field_store.indices("test")[0])],
                                                   prior_controls=["zeros"]))
    return out


def _samples(run_dir: Path) -> dict:
    return {k: v for k, v in snapshot(run_dir).items() if k.startswith(("samples/", "kept/"))}


def _kill_a_busy_worker(client, prefix: str, killed: threading.Event,
                        timeout: float = 60) -> None:
    """kill -9 the process of a worker that is running a unit whose key starts with prefix."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(k).startswith(prefix) for k in keys):
                time.sleep(0.3)  # into the unit, not at its very start
                os.kill(pids[worker], signal.SIGKILL)
                killed.set()
                return
        time.sleep(0.02)


class _Killing(threading.Thread):
    """The killer beside a run; ``join`` fails the test when it found nothing to kill (a
    failure raised in a thread would not)."""

    def __init__(self, client, prefix: str):
        self.killed, self.prefix = threading.Event(), prefix
        super().__init__(target=_kill_a_busy_worker, args=(client, prefix, self.killed))
        self.start()

    def join(self, timeout=None):
        super().join(timeout)
        assert self.killed.is_set(), f"no worker ran a {self.prefix} unit to kill"


def test_generate_gives_the_bytes_of_a_local_run_for_1_2_4_workers_and_a_killed_one(cluster,
                                                                                   tmp_path):
    local = ogmbench.generate(tmp_path / "local.zarr", **SHARDED)
    assert local.layout.n_shards > 2
    # kill -9 of a worker writing a shard: Dask reruns the shard elsewhere.
    killer = _Killing(cluster.client, "ogmbench-shard")
    stores = [ogmbench.generate(tmp_path / "two.zarr", dask=cluster, **SHARDED)]
    killer.join()
    for n in (1, 4):
        with connect(f"local:{n}", threads=n) as ex:
            stores.append(ogmbench.generate(tmp_path / f"w{n}.zarr", dask=ex, **SHARDED))
    for store in stores:
        assert store.attrs["digest"] == local.attrs["digest"]
        assert ogmbench.verify_store(store.path).ok
        for name, value in arrays(local).items():
            np.testing.assert_array_equal(arrays(store)[name], value, err_msg=name)


def test_eval_units_give_the_bytes_of_a_one_thread_local_run_a_worker_killed_or_not(
        cluster, field_store, local_run, tmp_path):
    out = tmp_path / "dask"
    killer = _Killing(cluster.client, "ogmbench-eval")  # in a training: it is rerun
    _, outcomes = run_eval(field_store.path, LEARNED, EvalConfig(out=out, dask=cluster,
                                                                 profile="quick", train_seeds=2,
                                                                 keep=[int(field_store.indices("test")[0])],
                                                                 prior_controls=["zeros"]))
    killer.join()
    assert [o.status for o in outcomes] == ["ok"] * 4
    assert _samples(out) == _samples(local_run)
    run = read_run(out)
    assert run.get("execution")["where"] == "dask local:2"
    assert [r.name for r in run.records()] == ["identity", "median", "unet", "concat-shuffled"]
    here = read_run(local_run)
    for name in ("unet", "concat-shuffled"):
        ours, theirs = run.record(name).data, here.record(name).data
        assert [s["torch_threads"] for s in ours["train_seeds"]] == [1, 1]
        assert ours["key"] == theirs["key"] and ours["converged"] == theirs["converged"]
        # The same training, step by step (the learning curve of the second seed).
        curves = [r["train_seeds"][1]["describe"]["curve"] for r in (ours, theirs)]
        assert curves[0] == curves[1]


def test_failures_and_time_limits_stay_per_unit(cluster, field_store, tmp_path):
    broken = estimator_file(tmp_path / "broken.py", "Broken", "1 / 0")
    slow = estimator_file(tmp_path / "slow.py", "Slow",
                          "__import__('time').sleep(60) or noisy[:, target]")
    _, outcomes = run_eval(field_store.path, ["identity", f"{broken}:Broken", f"{slow}:Slow"], EvalConfig(out=tmp_path / "run",
                                                                                                          dask=cluster,
                                                                                                          timeout=3))
    status = {o.name: (o.status, o.record.get("reason", "")) for o in outcomes}
    assert status["identity"][0] == "ok"
    assert status["broken"][0] == "failed" and "ZeroDivisionError" in status["broken"][1]
    assert status["slow"][0] == "failed" and "timed out after 3 s" in status["slow"][1]


def test_reproduce_on_dask_gives_the_results_of_a_one_thread_local_run(tmp_path):
    config = tmp_path / "bench.toml"
    config.write_text(benchmark_toml(estimators=("identity", "unet", "concat"), train_sizes=(4,),
                                     scaling=("concat",), steps=10, prior_controls=()))
    here, _ = reproduce(config, out=tmp_path / "here", threads=1)
    there, _ = reproduce(config, out=tmp_path / "there", dask="local:2", threads=2)
    for name in ("results.csv", "tables.md"):
        assert (there / name).read_bytes() == (here / name).read_bytes(), name


def test_command_line_options_and_an_unreachable_scheduler(capsys, tmp_path, monkeypatch,
                                                          field_store):
    for args, words in ((["--dask", ""], ["--dask is empty"]),
                        (["--dask", "nowhere"], ["neither local"]),
                        (["--dask", "local:x"], ["neither local"]),
                        (["--dask", "host:abc"], ["neither local"]),
                        (["--dask", "http://host:1"], ["neither local"]),
                        (["--dask", "local:3", "--threads", "2"], ["3 workers", "--threads"]),
                        (["--dask", "local:0"], ["must be >= 1"]),
                        (["--threads", "0"], ["--threads"]),
                        (["--workers", "3", "--threads", "2"], ["workers (3) exceed threads (2)"])):
        code, out, err = call(["generate", tmp_path / "s.zarr", *args], capsys)
        assert_usage_error(code, out, err, *words)
        assert not (tmp_path / "s.zarr").exists()
    monkeypatch.setattr(execution, "CONNECT_TIMEOUT", 1.0)
    code, out, err = call(["eval", field_store.path, "--estimator", "identity", "--out",
                           tmp_path / "run", "--dask", "tcp://127.0.0.1:9"], capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        err.strip().splitlines()[-1]] and "cannot reach the Dask scheduler" in err
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "garbage")
    code, out, err = call(["generate", tmp_path / "t.zarr", "--size", "16"], capsys)
    assert_usage_error(code, out, err, "$DASK_SCHEDULER_ADDRESS 'garbage'")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    code, out, err = call(["generate", tmp_path / "t.zarr", "--size", "16"], capsys)
    assert code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_piped_commands_say_how_a_long_stage_goes(capsys, tmp_path, monkeypatch, field_store):
    from ogmbench.cli import _progress

    monkeypatch.setattr(_progress.EvalBars, "EVERY", 0.0)  # a line at every update, not every 2 min
    code, out, err = call(["eval", field_store.path, "--estimator", "unet", "--profile", "quick",
                           "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert "unet train: " in err and "unet: ok" in err
    code, out, err = call(["generate", tmp_path / "s.zarr", "--size", "16",
                           "--samples-per-rho", "4"], capsys)
    assert code == 0, err
    assert "generating: 16/16 samples" in err  # 4 rho values x 4


def test_a_profile_names_where_reproduce_runs(capsys, tmp_path, monkeypatch):
    config = tmp_path / "bench.toml"
    text = benchmark_toml(estimators=("identity", "median"), reference="median",
                          prior_controls=(), samples_per_rho=10, size=16)
    config.write_text(text.replace('device = "cpu"', 'device = "cpu"\ndask = "nowhere"'))
    code, out, err = call(["reproduce", config, "--out", tmp_path / "out"], capsys)
    assert_usage_error(code, out, err, "[profile.default] dask", "neither local")
    config.write_text(text.replace('device = "cpu"', 'device = "cpu"\ndask = "local:1"'))
    code, out, err = call(["reproduce", config, "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert read_run(tmp_path / "out" / "work" / "runs" / "field-g").get("execution")["where"] \
        == "dask local:1"
    # The command line wins over the file.
    code, out, err = call(["reproduce", config, "--out", tmp_path / "again", "--work",
                           tmp_path / "out" / "work", "--dask", "local:2"], capsys)
    assert code == 0, err
    assert read_run(tmp_path / "out" / "work" / "runs" / "field-g").get("execution")["where"] \
        == "dask local:2"


def _die(_):
    os._exit(1)


def test_a_unit_whose_workers_keep_dying_is_handed_back_not_raised():
    import dask

    # Dask gives up on a unit after its workers died allowed-failures + 1 times.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with connect("local:1", threads=1) as ex:
            (i, lost), = list(ex.run(_die, [(0,)], names=["doomed"], keys=["ogmbench-test-die"]))
    assert i == 0 and isinstance(lost, execution.UnitLost)
    assert "died each time it ran" in str(lost)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_scheduler_that_dies_is_one_line_and_the_run_resumes(capsys, tmp_path, monkeypatch,
                                                               field_store):
    """A scheduler and a worker of the test's own, in processes it can kill -9."""
    import subprocess
    import sys

    import distributed

    address = f"tcp://127.0.0.1:{_free_port()}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--dashboard-address", ":0"], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--dashboard-address", ":0"], **quiet)
    out = tmp_path / "run"
    def kill_in_the_training():
        # Its own client, closed before the kill (a client outliving its scheduler
        # waits to reconnect).
        with distributed.Client(address, timeout="30s") as watcher:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                busy = [k for keys in watcher.processing().values() for k in keys]
                if (any(str(k).startswith("ogmbench-eval") for k in busy)
                        and (out / "run.json").exists()
                        and "identity" in (out / "run.json").read_text()):
                    in_training.set()
                    break
                time.sleep(0.05)
        time.sleep(0.5)
        scheduler.kill()

    in_training = threading.Event()

    try:
        with distributed.Client(address, timeout="30s") as ready:
            ready.wait_for_workers(1, timeout=30)
        killer = threading.Thread(target=kill_in_the_training)
        killer.start()
        monkeypatch.setattr(execution, "CONNECT_TIMEOUT", 2.0)  # to give up reconnecting
        code, stdout, err = call(["eval", field_store.path, "--estimator", "identity",
                                  "--estimator", "unet:steps=400", "--profile", "quick",
                                  "--out", out, "--dask", address], capsys)
        killer.join()
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait()
    assert in_training.is_set()  # killed while unet trained, identity's record written
    assert code == 1 and "Traceback" not in err
    assert "the Dask scheduler at" in err.strip().splitlines()[-1]
    assert "went away while unet ran" in err.strip().splitlines()[-1]
    code, stdout, err = call(["eval", field_store.path, "--estimator", "identity",
                              "--estimator", "unet:steps=400", "--profile", "quick",
                              "--out", out, "--resume", "--threads", "1"], capsys)
    assert code == 0, err
    assert "identity: done in an earlier run, kept" in err
