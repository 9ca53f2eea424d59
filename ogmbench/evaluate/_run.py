"""``run_eval``: a validated config in, a run directory out."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import sandbox
from ..api import resolve_device
from ..controls import partners
from ..errors import ConfigError, StoreError
from ..eval_config import (
    EvalConfig, EvalError, check_specs, check_store, run_settings, train_indices,
)
from ..execution import Execution, check_threads, threads_restored, using
from ..places import check_bucket, location
from ..runs import RunDirError, default_run_dir, holds_files, open_run, read_run
from ..scoring import Job, TestSet, evaluate_job, fit_data_maker
from ..specs import EstimatorSpec, default_estimators, resolve_all
from ..store import Store, open_store, reading
from ..tuning import EstimatorFailure, TimedOut, as_failure, deadline, user_interrupts
from ._plan import plan, reusable
from ._units import evaluate_isolated, isolated, run_on_dask


@dataclass
class Outcome:
    """What happened to one estimator in a run."""

    name: str
    status: str  # "ok", "failed" or "skipped" (done in an earlier run, resumed)
    record: dict[str, Any] = field(default_factory=dict)


def run_eval(
    store: str | os.PathLike,
    estimators: Sequence[str | EstimatorSpec] | None = None,
    config: EvalConfig | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, list[Outcome]]:
    """Evaluate estimators on a store's test split and write a run directory.

    Each estimator is tuned and fitted on train/val and scored on the streamed test
    split (:mod:`ogmbench.scoring`); locally one estimator runs at a time (a plugin in
    its own process), on a Dask cluster every (estimator, training seed) is a unit and
    this process only merges and writes.  Each estimator's rows are saved whole once it
    is done, so a killed run resumes (``EvalConfig(resume=True)``) without recomputing
    finished estimators.

    Parameters
    ----------
    store : path
        A complete ogmbench store with train, val and test samples.
    estimators : list of str or EstimatorSpec, optional
        Registry names, ``pkg.module:Class`` or ``path/file.py:Class`` (optionally with
        ``:key=value,...``), or specs already resolved; default: all registered
        estimators.
    config : EvalConfig, optional
        The run's settings (target, run directory, controls, seeds, device, ...);
        default ``EvalConfig()``.
    progress : callable, optional
        ``progress(stage, done, total[, message])``: test samples scored per estimator,
        or training steps (stage ``"<name> train"``, message e.g. the loss).
    log : callable, optional
        Receives one-line status messages.

    Returns
    -------
    run_dir : Path
    outcomes : list of Outcome

    Examples
    --------
    >>> run_dir, outcomes = run_eval("field.zarr", ["identity", "median"],
    ...                              EvalConfig(out="runs/field"))  # doctest: +SKIP
    """
    config = EvalConfig() if config is None else config
    log = log or (lambda message: None)
    try:
        lock = reading(store)
    except StoreError as exc:  # no path at all
        raise EvalError(str(exc)) from None
    # Read-locked throughout: a generate --overwrite of this store is refused meanwhile.
    with lock:
        opened, specs, test, train = _prepare(store, estimators, config, log)
        # Cheap checks first: a cluster is joined (or started) only for work that can run.
        with using(config.dask, config.threads) as execution, threads_restored():
            device = run_device(config.device, execution)
            run, run_dir, shared, settings, config = _start(opened, config, execution, device,
                                                            test, train, progress)
            # The run directory is ours until the end; a plugin raising KeyboardInterrupt
            # fails, the user's Ctrl-C stops the run.
            with contextlib.closing(run), user_interrupts():
                outcomes, planned = _plan_all(run, specs, config, settings, shared.prior, log)
                _note_sandbox(run, planned, log)
                if execution.dask:
                    results = run_on_dask(execution, planned, shared, device, config.timeout,
                                          log)
                else:
                    results = ((job, record, _run_here(job, shared, device, config.timeout))
                               for job, record in planned)
                for job, record, result in results:
                    _record(run, job.spec.name, record, result, shared.keep, log)
                    outcomes[job.spec.name] = Outcome(job.spec.name, record["status"], record)
                run.order([spec.name for spec in specs])
                run.finish()
            return run_dir, [outcomes[spec.name] for spec in specs]


def _prepare(store, estimators, config: EvalConfig, log):
    """The opened store, resolved estimators, test and train samples, with every check
    that needs no run directory done (the store's shards against their digests last)."""
    opened = _open(store)
    limit = (config.dask.threads if isinstance(config.dask, Execution)
             else check_threads(config.threads))
    test = check_store(opened, config, limit)
    train = train_indices(opened, config.train_size)
    try:
        specs = resolve_all(list(estimators) if estimators
                            else default_estimators(log, opened.frames, opened.attrs),
                            training=config.run_wide)
    except ConfigError as exc:
        raise EvalError(str(exc)) from None
    check_specs(opened, specs)
    try:  # every shard against its digest: after the cheap checks, before any writing
        opened.check()
    except StoreError as exc:
        raise EvalError(str(exc)) from None
    return opened, specs, test, train


def _start(opened: Store, config: EvalConfig, execution, device: str, test, train, progress):
    """The run directory opened (or resumed) and what every estimator is scored on."""
    run_dir = (location(config.out) if config.out is not None
               else default_run_dir(opened.path, config.target))
    config = _resumed(config, run_dir)
    settings = run_settings(opened, config)
    checkpoint_dir = (location(config.checkpoints) if config.checkpoints is not None
                      else run_dir / "checkpoints")
    for place in (run_dir, checkpoint_dir):  # before hours of training, not after
        check_bucket(place)
    if checkpoint_dir.exists() and not checkpoint_dir.is_dir():
        raise EvalError(f"--checkpoints {checkpoint_dir} exists and is not a directory")
    target = int(config.target)
    run = open_run(run_dir, settings, resume=config.resume, device=device, provenance={
        "family": opened.attrs["family"], "noise": opened.attrs["noise"],
        "class_names": opened.class_names, "target_name": opened.class_names[target]})
    prior = [k for k in range(opened.classes) if k != target]
    partner_of = partners(opened, config.seed)
    shared = TestSet(opened, target, prior, test, partner_of, train,
                     fit_data_maker(opened, target, checkpoint_dir, progress, partner_of, train),
                     int(config.workers), list(config.keep), progress,
                     1 if execution.dask else execution.threads)
    run.note("execution", execution.describe())
    return run, run_dir, shared, settings, config


def _resumed(config: EvalConfig, run_dir) -> EvalConfig:
    """A resume that names no prior control keeps the run's (adding an estimator to a run
    does not recompute, without its controls, those that used them)."""
    if not config.resume or config.prior_controls or not holds_files(run_dir):
        return config
    try:
        recorded = read_run(run_dir).data.get("prior_controls") or []
    except RunDirError:
        return config  # open_run says what is wrong with it
    return replace(config, prior_controls=tuple(recorded))


def _plan_all(run, specs, config: EvalConfig, settings, prior, log):
    """Every estimator's job, but those a resumed run already holds (their outcomes)."""
    outcomes: dict[str, Outcome] = {}
    planned = []
    for spec in specs:
        job, record, keys = plan(spec, config, settings, prior)
        if config.resume and reusable(run, spec.name, keys, list(config.keep)):
            log(f"{spec.name}: done in an earlier run, kept")
            outcomes[spec.name] = Outcome(spec.name, "skipped",
                                          dict(run.record(spec.name).data))
        else:
            planned.append((job, record))
    return outcomes, planned


def _note_sandbox(run, planned, log) -> None:
    """Where plugins run, in run.json; a warning where no jail can start here."""
    if not any(isolated(job.spec) for job, _ in planned):
        return
    status = sandbox.jail_status()
    run.note("sandbox", status)
    if not status.startswith("bubblewrap"):
        log(f"warning: plugins run as a {status}")


def run_device(device: str, execution: Execution) -> str:
    """The device a run trains on (what ``run.json`` records as its ``device``).

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
    execution : Execution
        On a Dask cluster whose workers declare a ``GPU`` resource, ``auto`` and
        ``cuda`` are the workers' GPUs (this process may have none); otherwise this
        machine decides (:func:`~ogmbench.api.resolve_device`).

    Returns
    -------
    str

    Raises
    ------
    EvalError
        ``cuda`` where neither this machine nor any worker has a GPU.
    """
    if execution.dask and device in ("auto", "cuda") and execution.offers("GPU"):
        return "cuda"
    try:
        # After loading: an estimator module that needs torch has imported it by now.
        return resolve_device(device)
    except ConfigError as exc:
        where = " and no Dask worker declares a GPU resource" if execution.dask else ""
        raise EvalError(f"{exc}{where}") from None


def _run_here(job: Job, shared: TestSet, device: str, timeout):
    """A job in this process (or a plugin's child): its result, or its EstimatorFailure."""
    try:
        try:
            if isolated(job.spec):
                return evaluate_isolated(job, shared, device, timeout)
            with deadline(timeout):  # fit and predict together
                return evaluate_job(job, shared, device)
        except TimedOut as exc:  # struck between the estimator's own calls
            raise as_failure(exc, "the test loop") from None
    except EstimatorFailure as exc:
        return exc


def _record(run, name: str, record: dict, result, keep: list[int], log) -> None:
    """Write a job's rows and kept estimates, then its record (last: the record says the
    rows are complete)."""
    if isinstance(result, EstimatorFailure):
        record.update(status="failed", reason=str(result))
        log(f"{name}: FAILED: {result}")
    else:
        rows, kept, facts = result
        record.update(facts, columns=list(rows))
        record.update(status="ok", **run.write_samples(name, rows, record))
        if keep:
            record.update(kept=keep, **run.write_kept(name, np.stack([kept[i] for i in keep])))
        log(f"{name}: ok ({record['timings']['test_samples_per_s']:.1f} samples/s)")
    run.set_record(name, record)


def _open(store) -> Store:
    try:
        return open_store(store)
    except StoreError as exc:
        raise EvalError(str(exc)) from None
