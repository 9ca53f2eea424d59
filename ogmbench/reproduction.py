"""``ogmbench reproduce``: a benchmark file -> stores -> runs -> results, tables, figures.

The output directory holds what a reader needs (``results.csv``, ``tables.md``,
``tables.tex``, ``figures/``, ``index.html``, ``README.md``) and, under ``work/``
unless ``work`` says otherwise, what a rerun reuses: the stores, the run directories and
the checkpoints.  A store is reused when its recorded generation settings equal the
benchmark's, a run when it was made from that store with the same settings (finished
estimators are kept, as with ``eval --resume``), a checkpoint when its key matches.

Generated files are first written, all of them, to a staging folder inside the output
directory and only then moved into place (one ``os.replace`` per output, milliseconds in
all): a failed or interrupted reproduction leaves the previous report as it was.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .benchmark import Benchmark, BenchmarkError, load_benchmark, resolve_extra
from .errors import ConfigError, RunFailure, StoreError
from .eval_config import run_settings
from .evaluate import EvalConfig, run_device, run_eval
from .execution import ENV_ADDRESS, Execution, check_workers, using
from .generate import generate
from .resources import check_resources
from .leaderboard import LeaderboardError
from .locks import hold
from .places import Place, check_bucket, is_url, local_only, location, read_regular
from .report import write_report
from .report.folder import check_out, check_work, make_staging, publish
from .results import (
    DriftList, check_results, collect_samples, concat_samples as pd_concat,
    read_results, read_samples, results_from_samples, results_text, write_results,
    write_samples,
)
from .runs import RunDirError, clear_run, differing, holds_files, read_run
from .sealing import SEALED, forget, pending, read_record, record, unsealed_record
from .seeding import rho_id
from .store import open_group, open_store

__all__ = ["reproduce", "ReproduceFailure", "gallery_samples"]



def reproduce(
    config: str | os.PathLike,
    *,
    profile: str = "default",
    out: str | os.PathLike | None = None,
    work: str | os.PathLike | None = None,
    check: str | os.PathLike | None = None,
    estimators: Sequence[str] = (),
    beside: str | os.PathLike | None = None,
    sealed: bool = False,
    workers: int = 1,
    threads: int | None = None,
    dask: str | None = None,
    progress: Callable[..., None] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, DriftList | None]:
    """Run one profile of a benchmark file end to end and write its report.

    Parameters
    ----------
    config : path
        Benchmark file (TOML; see :mod:`ogmbench.benchmark`).
    profile : str
        Profile to run (``default``: 2 CPU cores; ``paper``: one GPU).
    out : path, optional
        Output directory (default ``runs/<benchmark>-<profile>``).
    work : path or URL, optional
        Stores, runs and checkpoints (default ``OUT/work``); reused when they match.
        An fsspec URL (``s3://bucket/work``) keeps them on object storage.
    check : path, optional
        Published ``results.csv`` to compare with (see :func:`check_results`).
    estimators : sequence of str
        Estimators to add to the benchmark's (``eval --estimator`` syntax).
    beside : path, optional
        A published report folder of this profile (with its ``samples.parquet``): only
        ``estimators`` are trained and scored, on stores rebuilt to the published digests,
        and the report shows them beside the published rows, paired on the same test
        samples (no sweep).
    sealed : bool
        Draw every test split from a secret seed (:mod:`ogmbench.sealing`): its commitment
        is logged and kept before any store is made, and the report's ``sealed.json``
        reveals it.  Not with ``check`` or ``beside``, which compare with known samples.
    workers : int
        Processes generating stores and threads sharing test chunks; results do not
        depend on it.
    threads : int, optional
        Cores the reproduction may use (default: all this process may run on); see
        :class:`ogmbench.eval_config.EvalConfig`.
    dask : str, optional
        Run on a Dask cluster (``local``, ``local:N`` or a scheduler address; default
        ``$DASK_SCHEDULER_ADDRESS``, else the profile's ``dask``, else locally): stores
        shard by shard, and every run's (estimator, training seed) units at once, the
        sweep's included.  The workers must see ``work`` at the same path.
    progress, log : callable, optional
        As :func:`ogmbench.evaluate.run_eval` takes them.

    Returns
    -------
    out : Path
    drift : DriftList (a list of Drift, with ``compared``), or None without ``check``
    """
    log = log or (lambda message: None)
    bench = load_benchmark(config, profile)
    extra = resolve_extra(bench, estimators)
    if sealed and (check is not None or beside is not None):
        raise BenchmarkError(f"--sealed draws test samples nobody has seen, and "
                             f"{'--check' if check is not None else '--beside'} compares with "
                             "published ones: leave one of them out")
    published = (read_results(local_only(check, "--check"), bench) if check is not None
                 else None)
    beside_rows = _beside(bench, beside, extra) if beside is not None else None
    if beside is not None:  # named in the report's command: it is how it was made
        beside_rows.attrs["folder"] = str(beside)
    check_workers(workers)  # against the cores when the stores and runs are made

    out, work = _places(bench, out, work)
    if dask is None:  # the flag, else the environment, else the profile's setting
        dask = os.environ.get(ENV_ADDRESS) or bench.dask
    if not dask:  # a profile for a GPU on a machine without one, before anything is made
        _check_device(bench, Execution(threads=1))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchmarkError(f"cannot create --out {out}: {exc.strerror}") from None
    # One reproduction per report folder at a time (the lock sits beside it).
    with hold(out.absolute().parent / f".{out.absolute().name}.ogmbench-lock",
              f"report folder {out}"), using(dask, threads) as execution:
        _check_device(bench, execution)  # a cluster's workers may offer the GPU
        seal = _seal(out, log) if sealed else None
        if seal is not None:
            bench = bench.with_test_seed(seal.test_seed)
        return _reproduce(bench, config, out, work, extra, published, workers, execution,
                          progress, log, beside_rows, seal)


def _places(bench, out, work) -> tuple[Path, Place]:
    """The report folder and the work folder, checked before anything is created: ours
    to write, and room for the profile's stores."""
    if out is not None and not str(out).strip():
        raise BenchmarkError("--out is empty; give a directory")
    if work is not None and not str(work).strip():
        raise BenchmarkError("--work is empty; give a directory")
    if out is not None and is_url(out):
        raise BenchmarkError(f"--out {out}: the report is written to a local folder (it is "
                             "published by renaming); --work may be a URL")
    out = Path(out) if out is not None else Path("runs") / f"{bench.name}-{bench.profile}"
    check_out(out)
    work = location(work) if work is not None else out / "work"
    check_work(work, out)
    check_bucket(work)
    for dataset in bench.datasets:  # before anything is created
        try:
            check_resources(dataset.config, work / "stores" / f"{dataset.name}.zarr")
        except ConfigError as exc:
            raise BenchmarkError(f"dataset {dataset.name!r}: {exc}") from None
    return out, work


def _check_device(bench, execution) -> None:
    try:
        run_device(bench.device, execution)
    except ConfigError as exc:
        raise BenchmarkError(f"profile {bench.profile}: {exc}") from None


def _seal(out: Path, log):
    """The seal of a sealed reproduction, told before anything is made from it."""
    seal, resumed = pending(out)
    what = ("resuming the sealed reproduction whose test seed is committed as" if resumed
            else "test splits drawn from a secret seed, committed as")
    log(f"sealed: {what} {seal.commitment} ({seal.drawn}); post this line before the report "
        f"is out, which reveals the seed in {out / SEALED}")
    return seal


def _planned_runs(bench, work, specs, sweep: bool) -> list[tuple]:
    """(key, run directory, dataset, estimators, train size) of every run: each dataset's
    main run, then, with ``sweep``, the data-scaling sweep's on train subsets."""
    runs = []
    for dataset in bench.datasets:
        # Estimators that read the past run on the datasets of sequences only.
        runs.append((dataset.name, work / "runs" / dataset.name, dataset,
                     [s for s in specs if dataset.runs(s)], None))
        for size in bench.train_sizes if sweep else ():  # the same test set
            runs.append(((dataset.name, size), work / "scaling" / dataset.name / f"train{size}",
                         dataset, [s for s in bench.scaling_specs if dataset.runs(s)], size))
    return runs


def _beside(bench, folder, extra):
    """The per-sample rows of a published report of this profile (``--beside``)."""
    if not extra:
        raise BenchmarkError("--beside scores the estimators given with --estimator beside "
                             "the published ones: give at least one")
    path = local_only(folder, "--beside") / "samples.parquet"
    if not path.exists():
        raise BenchmarkError(f"--beside {folder}: no samples.parquet (it was published before "
                             "per-sample scores: reproduce its profile to add them)")
    rows = read_samples(path)
    missing = sorted({d.name for d in bench.datasets} - set(rows["dataset"]))
    if missing:  # most likely the folder of another profile
        raise BenchmarkError(f"--beside {folder}: it holds the rows of dataset "
                             f"{', '.join(sorted(set(rows['dataset'])))}, not of "
                             f"{', '.join(missing)}: give the folder published for profile "
                             f"{bench.profile}")
    seal = read_record(local_only(folder, "--beside") / SEALED)
    if seal is not None and seal.get("test_seed") != bench.test_seed:
        raise BenchmarkError(f"--beside {folder}: its test splits come from test seed "
                             f"{seal.get('test_seed')}, profile {bench.profile} has "
                             f"{bench.test_seed}: set test_seed = {seal.get('test_seed')} in "
                             f"[profile.{bench.profile}] of {bench.path}")
    _check_rederives(folder, bench, rows)
    rows.attrs["seal"] = seal
    return rows


def _check_rederives(folder, bench, rows) -> None:
    """Refuse a published folder whose samples.parquet does not give its results.csv
    again, byte for byte: one of them was edited, and the rows beside which a new
    estimator is scored would not be the published ones."""
    path = local_only(folder, "--beside") / "results.csv"
    try:
        published = read_regular(path)
    except OSError as exc:
        raise BenchmarkError(f"--beside {folder}: cannot read its results.csv ({exc})") from None
    if results_text(results_from_samples(bench, rows), bench).encode() != published:
        raise BenchmarkError(f"--beside {folder}: its samples.parquet does not give its "
                             f"results.csv again under {bench.path.name} (one of them was "
                             "edited, the benchmark file is not the one it was published "
                             "with, or another ogmbench published it): give a folder as "
                             "published, with its benchmark.toml")


def _reproduce(bench, config, out, work, extra, published, workers, execution, progress, log,
               beside_rows=None, seal=None):
    # Beside a published report: only the added estimators, the rest is published.
    specs = extra if beside_rows is not None else list(bench.specs) + extra
    stores = {dataset.name: _ensure_store(work / "stores" / f"{dataset.name}.zarr", dataset,
                                          workers, execution, log)
              for dataset in bench.datasets}
    if beside_rows is not None:
        _check_digests(stores, beside_rows)
    runs = _planned_runs(bench, work, specs, sweep=beside_rows is None)

    def one(key, run_dir, dataset, chosen, size):
        return _ensure_run(run_dir, stores[dataset.name], dataset, bench, chosen, workers,
                           execution, work / "checkpoints", progress, log, train_size=size)

    if execution.dask:
        # Every run's units are on the cluster at once: this process only waits and
        # writes, one thread per run directory.  The first failure (or Ctrl-C) closes
        # the connection, which cancels every unit still pending, and is raised.
        pool = ThreadPoolExecutor(len(runs))
        futures = [pool.submit(one, *run) for run in runs]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and f.exception() is not None]
            if failed:
                raise failed[0].exception()
            done = [f.result() for f in futures]
        except BaseException:
            execution.close()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        done = [one(*run) for run in runs]
    run_dirs, ran, sweep = {}, {}, {}
    for (key, *_), (run_dir, names) in zip(runs, done):
        if isinstance(key, tuple):
            sweep[key] = run_dir, names
        else:
            run_dirs[key], ran[key] = run_dir, names
    log("aggregating")
    try:
        samples = collect_samples(bench, run_dirs, ran, sweep)
        if beside_rows is not None:  # the published rows first, as they were published
            samples = pd_concat([beside_rows, samples])
        results = results_from_samples(bench, samples)
    except (LeaderboardError, RunDirError) as exc:  # a damaged run directory in the work folder
        raise ReproduceFailure(f"{exc}; delete {work / 'runs'} and {work / 'scaling'} to "
                               "recompute") from None

    staging = make_staging(out)
    write_results(results, staging / "results.csv", bench)
    write_samples(samples, staging / "samples.parquet", bench)
    sealing = (record(seal) if seal is not None else
               unsealed_record(bench.test_seed, None if beside_rows is None
                               else beside_rows.attrs.get("seal")))
    (staging / SEALED).write_text(json.dumps(sealing, indent=1) + "\n")
    command = ["ogmbench", "reproduce", str(config), "--profile", bench.profile]
    command += [a for spec in extra for a in ("--estimator", spec.text)]
    if beside_rows is not None:
        command += ["--beside", beside_rows.attrs["folder"]]
    write_report(bench, results, run_dirs, staging, log=log, command=command,
                 published_at=out, seal=sealing)
    publish(staging, out)
    forget(out)  # revealed: the pending secret has done its work
    drift = check_results(published, results, bench) if published is not None else None
    return out, drift


def _check_digests(stores, rows) -> None:
    """Paired only on the same samples: every rebuilt store has the published digest."""
    for name, store in stores.items():
        published = set(rows.loc[rows["dataset"] == name, "store_digest"])
        if published != {store.attrs["digest"]}:
            raise ReproduceFailure(
                f"dataset {name}: the store regenerates to {store.attrs['digest'][:16]} here, "
                f"the published one is {', '.join(d[:16] for d in sorted(published))}: this "
                "machine makes other bytes, so the new rows cannot be paired with the "
                "published ones")


# --------------------------------------------------------------------------- stores, runs


def _ensure_store(path: Path, dataset, workers: int, execution, log):
    config = dataset.config
    if execution.dask:
        workers = 1  # the cluster generates; no local pool besides
    if path.exists():
        try:
            store = open_store(path)
        except StoreError:
            store = None
        if store is not None and store.attrs.get("config") == config.to_json():
            log(f"{dataset.name}: store {path} matches, reused")
            return store
        if store is None:
            try:
                recorded = open_group(path).attrs.asdict().get("config")
            except (StoreError, OSError, ValueError):
                recorded = None
            if recorded == config.to_json():
                log(f"{dataset.name}: finishing the interrupted store {path}")
                return generate(path, workers=workers, dask=execution, resume=True)
        log(f"{dataset.name}: store {path} has other settings, regenerating")
        return generate(path, config, workers=workers, dask=execution, overwrite=True)
    log(f"{dataset.name}: generating {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return generate(path, config, workers=workers, dask=execution)


def gallery_samples(store) -> list[int]:
    """The first test sample of every rho: the samples shown in the galleries.

    Parameters
    ----------
    store : Store

    Returns
    -------
    list of int
        Sample indices, in increasing rho.
    """
    test = store.indices("test")
    rho = rho_id(np.asarray(store.rho[:])[test])
    return [int(test[np.flatnonzero(rho == r)[0]]) for r in np.unique(rho)]


def _ensure_run(run_dir: Path, store, dataset, bench: Benchmark, specs, workers, execution,
                checkpoints, progress, log, train_size: int | None = None
                ) -> tuple[Path, list[str]]:
    if run_dir.is_symlink():
        raise BenchmarkError(f"{run_dir} is in the way: a symbolic link, not a run directory "
                             "of this reproduction; move it or choose another --work")
    config = EvalConfig(
        target=dataset.target, out=run_dir,
        prior_controls=dataset.controls(bench.prior_controls) if train_size is None else (),
        seed=bench.seed, device=bench.device, workers=workers, dask=execution,
        profile=bench.training,
        training={k: v for k, v in bench.training_params.items() if k != "profile"},
        checkpoints=checkpoints, train_seeds=bench.train_seeds, train_size=train_size,
        keep=gallery_samples(store) if train_size is None else (), timeout=bench.timeout)
    resume = _resumable(run_dir, store, dataset, bench, config, execution, log)
    what = dataset.name if train_size is None else f"{dataset.name} ({train_size} train per rho)"
    log(f"{what}: evaluating {len(specs)} estimator{'s' if len(specs) != 1 else ''}"
        + (" (finished ones are kept)" if resume else ""))
    _, outcomes = run_eval(store.path, specs, replace(config, resume=resume), progress=progress,
                           log=lambda m: log(f"{what}: {m}"))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise ReproduceFailure("; ".join(f"{o.name} failed on {what}: "
                                         f"{o.record.get('reason')}" for o in failed)
                               + f" (results so far are kept in {run_dir})")
    # The run directory may hold estimators of earlier reproductions (an --estimator
    # added once): the report shows only those of this one.
    return run_dir, [o.name for o in outcomes]


def _resumable(run_dir: Path, store, dataset, bench: Benchmark, config: EvalConfig,
               execution, log) -> bool:
    """Whether the run directory goes on (the run's own rule, :func:`runs.differing`),
    else it is emptied (only an ogmbench run directory) for a fresh run."""
    if not run_dir.exists():
        return False
    try:
        previous = read_run(run_dir).data
    except RunDirError:
        if holds_files(run_dir):
            raise BenchmarkError(f"{run_dir} is in the way: it is not an ogmbench run "
                                 "directory (no readable run.json); move it or choose "
                                 "another --work") from None
        previous = {}
    # Another device trains the learned estimators differently: a new run.  (Loading
    # the benchmark imported the learned estimators, so "auto" resolves as in eval.)
    if not differing(previous, run_settings(store, config), run_device(bench.device, execution)):
        return True
    log(f"{dataset.name}: {run_dir} was made from another store, seed or device, "
        "starting afresh")
    if holds_files(run_dir):
        clear_run(run_dir)
    return False


class ReproduceFailure(RunFailure):
    """An estimator failed: no report is written (exit 1, not a usage error)."""
