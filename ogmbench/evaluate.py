"""``ogmbench eval``: tune and fit estimators on train/val, stream the test split, score.

Per estimator and training seed: tune its grid and pick the IoU threshold on val
(:mod:`ogmbench.tuning`), then stream the test split chunk by chunk, with the prior
controls applied, and score every sample.  Locally one estimator runs at a time (a
plugin in its own process); on a Dask cluster every (estimator, training seed) is a
unit (:mod:`ogmbench.execution`) and this process only merges and writes.  What is
written where is :mod:`ogmbench.runs`' business: each estimator's rows are saved whole
once it is done, so a killed run resumes (``resume=True``) without recomputing finished
estimators.  (Over 400 lines: the documented ``run_eval`` signature, and one job run
three ways from one payload.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import metrics, sandbox, seeding
from .api import CONTROLS, PAST_CONTROLS, FitData, Split, last_frame, resolve_device
from .curves import all_converged
from .errors import ConfigError, RunFailure, StoreError, UsageError
from .execution import (
    Execution, UnitLost, check_threads, fit_malloc, threads_restored, torch_threads,
    unit_threads, using,
)
from .places import Place, absolute, check_bucket, location
from .runs import default_run_dir, json_default, jsonable, open_run
from .specs import EstimatorSpec, default_estimators, resolve, resolve_all, runs_on
from .store import Store, open_store, reading
from .tuning import (
    MAX_TIMEOUT, EstimatorFailure, TimedOut, as_failure, checked_predict, deadline, tune, user_interrupts,
    val_threshold,
)

__all__ = ["EvalError", "Outcome", "run_eval", "run_device", "apply_control", "train_indices"]

class EvalError(ConfigError):
    """An evaluation cannot start (bad store, target, estimator or run directory)."""


@dataclass
class Outcome:
    """What happened to one estimator in a run."""

    name: str
    status: str  # "ok", "failed" or "skipped" (done in an earlier run, resumed)
    record: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- controls


def apply_control(control: str, noisy: np.ndarray, prior: list[int],
                  partner: np.ndarray | None, clean: np.ndarray, target: int = 0) -> np.ndarray:
    """A copy of ``noisy`` with one prior source shuffled, zeroed or made clean.

    Parameters
    ----------
    control : str
        One of :data:`~ogmbench.api.CONTROLS`: ``shuffled``, ``zeros`` and ``oracle``
        replace the prior classes (in every frame of a sequence); ``past-shuffled``,
        ``past-zeros`` and ``past-oracle`` replace the target class's past frames.
    noisy, clean : ndarray
        A block as the store holds it: (n, C, H, W), or sequences (n, T, C, H, W).
    prior : list of int
        The prior classes.
    partner : ndarray, optional
        For a shuffled control, the partner samples' values of what is replaced
        (:func:`_partner_maps`).
    target : int
        The target class (whose past frames the ``past-`` controls replace).
    """
    out = noisy.copy()
    kind = control.removeprefix("past-")
    where = ((slice(None), slice(0, -1), target) if control in PAST_CONTROLS
             else (Ellipsis, prior, slice(None), slice(None)))
    if kind == "zeros":
        out[where] = 0.0
    elif kind == "oracle":
        out[where] = clean[where]
    elif kind == "shuffled":
        out[where] = partner
    return out


def _partner_maps(store: Store, indices: np.ndarray, control: str, prior: list[int],
                  target: int) -> np.ndarray:
    """What a shuffled ``control`` takes from the partner samples ``indices``."""
    if control in PAST_CONTROLS:
        return store.take("noisy", indices, [target])[:, :-1, 0]
    return store.take("noisy", indices, prior)


def _replace(store: Store, noisy: np.ndarray, clean: np.ndarray, index: np.ndarray,
             controls: Sequence[str], prior: list[int], target: int, partner_of: np.ndarray):
    """``noisy`` with each of ``controls`` applied, and whose motion its past now has
    (the sample indices to take warps from: a shuffled past brings its partner's)."""
    motion = index
    for control in controls:
        partner = None
        if control.endswith("shuffled"):
            partner = _partner_maps(store, partner_of[index], control, prior, target)
            if control in PAST_CONTROLS:
                motion = partner_of[index]
        noisy = apply_control(control, noisy, prior, partner, clean, target)
    return noisy, motion


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation without fixed points (n >= 2): a random cycle."""
    order = rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    return partner


# --------------------------------------------------------------------------- the run


@dataclass
class _Test:
    """What every estimator of a run is scored on: the store's test split and its prior."""

    store: Store
    target: int
    prior: list[int]
    indices: np.ndarray
    partner_of: np.ndarray  # whose prior each sample gets when shuffled (within its split)
    train: np.ndarray  # the train samples fitted on
    fit_data: Callable[[EstimatorSpec], FitData]
    workers: int
    keep: list[int]
    progress: Callable[..., None] | None
    # torch's threads, to fit and predict: a learned estimator's bits depend on them
    # (parallel reductions), so they do not depend on ``workers``.
    threads: int = 1


@dataclass
class _Job:
    """One estimator of a run: its spec, parameters, seeds and controls."""

    spec: EstimatorSpec
    fixed: dict[str, Any]
    seeds: list[int]
    controls: list[str]


def run_eval(
    store: str | os.PathLike,
    estimators: Sequence[str | EstimatorSpec] | None = None,
    *,
    target: int = 0,
    out: str | os.PathLike | None = None,
    prior_controls: Sequence[str] = (),
    seed: int = 0,
    device: str = "auto",
    workers: int = 1,
    threads: int | None = None,
    dask: str | Execution | None = None,
    resume: bool = False,
    profile: str | None = None,
    training: dict[str, Any] | None = None,
    checkpoints: str | os.PathLike | None = None,
    train_seeds: int = 1,
    train_size: int | None = None,
    keep: Sequence[int] = (),
    timeout: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, list[Outcome]]:
    """Evaluate estimators on a store's test split and write a run directory.

    Parameters
    ----------
    store : path
        A complete ogmbench store with train, val and test samples.
    estimators : list of str or EstimatorSpec, optional
        Registry names, ``pkg.module:Class`` or ``path/file.py:Class`` (optionally with
        ``:key=value,...``), or specs already resolved; default: all registered
        estimators.
    target : int
        Class to denoise; every other class is the prior.
    out : path, optional
        Run directory (default ``runs/<store>-target<target>``).
    prior_controls : sequence of {"shuffled", "zeros", "oracle"}
        Re-run every estimator that uses the prior with the test priors shuffled across
        samples, zeroed, or replaced by the clean prior.
    seed : int
        Seeds fitting and the shuffled control.  (Bootstrap resampling in the
        leaderboard is seeded by each group's key, so tables are reproducible.)
    device : {"auto", "cpu", "cuda"}
        Handed to ``fit`` (classical estimators ignore it).
    workers : int
        Threads splitting each test chunk between ``predict`` calls (of the estimators
        that are not learned; those predict batched on torch's threads).
    threads : int, optional
        Cores the run may use (default: all this process may run on): torch trains and
        predicts on all of them; ``workers`` (at most ``threads``) share the classical
        estimators' test chunks.  A learned estimator's numbers are bitwise
        reproducible for a given number of torch threads (recorded per training seed
        as ``torch_threads``), not across thread counts: torch's parallel reductions
        add in another order, and a converged training drifts like another seed's,
        less (measured: test MSE within 0.3%, inside the benchmark's tolerance).
    dask : str or Execution, optional
        Run every (estimator, training seed) as a unit on a Dask cluster: ``local``,
        ``local:N``, a scheduler address or an open
        :class:`~ogmbench.execution.Execution` (see :mod:`ogmbench.execution`).  Its
        workers must see the store and the checkpoint folder at the same paths; each
        CPU unit trains on one torch thread, a ``cuda`` one on a worker's ``GPU``
        resource.
    resume : bool
        Continue a run directory: finished estimators are not recomputed.
    profile : str, optional
        Training profile handed to every estimator that has a ``profile`` parameter
        (the learned ones: ``quick``, ``default``, ``paper``).
    training : dict, optional
        More parameters handed to every estimator with a ``profile`` parameter, e.g.
        ``{"steps": 500}``.  Like ``profile`` they apply to the run as a whole: they are
        part of each estimator's key but not of its leaderboard label, and an
        estimator's own ``name:key=value`` wins.
    checkpoints : path, optional
        Where learned estimators keep their checkpoints (default ``RUN_DIR/checkpoints``);
        point several runs at one folder to train once per store, target, seed and
        configuration.
    train_seeds : int
        Trainings per stochastic (learned) estimator, each with its own seed; the
        leaderboard reports the mean over them with an interval across them.
    train_size : int, optional
        Train on the first ``train_size`` train samples of each rho only (the data-scaling
        sweep); val and test are the whole splits.  Default: the whole train split.
    keep : sequence of int
        Test sample indices whose estimates (first training seed, no prior control) are
        saved per estimator to ``RUN_DIR/kept/<name>.npy`` (for galleries).
    timeout : float, optional
        Seconds each estimator may take, fit and predict together; one that takes longer
        is recorded as failed ("timed out after N s") and the others go on.
    progress : callable, optional
        ``progress(stage, done, total[, message])``: test samples scored per estimator,
        or training steps (stage ``"<name> train"``, message e.g. the loss).
    log : callable, optional
        Receives one-line status messages.

    Returns
    -------
    run_dir : Path
    outcomes : list of Outcome
    """
    log = log or (lambda message: None)
    if out is not None and not str(out).strip():
        raise EvalError("--out is empty; give a run directory")
    if checkpoints is not None and not str(checkpoints).strip():
        raise EvalError("--checkpoints is empty; give a folder")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= MAX_TIMEOUT):
        raise EvalError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}], "
                        f"got {timeout!r}")
    try:
        lock = reading(store)
    except StoreError as exc:  # no path at all
        raise EvalError(str(exc)) from None
    # Read-locked throughout: a generate --overwrite of this store is refused meanwhile.
    with lock:
        opened = _open(store)
        limit = dask.threads if isinstance(dask, Execution) else check_threads(threads)
        test = _check_settings(opened, target, seed, prior_controls, workers, train_seeds, keep,
                               limit)
        train = train_indices(opened, train_size)
        prior_controls = list(dict.fromkeys(prior_controls))  # a repeated control counts once
        keep = [int(i) for i in keep]
        run_wide = {**({"profile": profile} if profile else {}), **(training or {})}
        try:
            specs = resolve_all(list(estimators) if estimators
                                else default_estimators(log, opened.frames),
                                training=run_wide)
        except ConfigError as exc:
            raise EvalError(str(exc)) from None
        _check_specs(opened, specs)
        try:  # every shard against its digest: after the cheap checks, before any writing
            opened.check()
        except StoreError as exc:
            raise EvalError(str(exc)) from None

        # Cheap checks first: a cluster is joined (or started) only for work that can run.
        with using(dask, threads) as execution, threads_restored():
            device = run_device(device, execution)
            run_dir = location(out) if out is not None else default_run_dir(opened.path, target)
            settings = {"store": absolute(opened.path), "store_digest": opened.attrs["digest"],
                        "target": int(target), "seed": int(seed),
                        "prior_controls": sorted(prior_controls)}
            if train_size is not None:  # absent otherwise: runs made before the sweep resume
                settings["train_size"] = int(train_size)
            checkpoint_dir = (location(checkpoints) if checkpoints is not None
                              else run_dir / "checkpoints")
            for place in (run_dir, checkpoint_dir):  # before hours of training, not after
                check_bucket(place)
            if checkpoint_dir.exists() and not checkpoint_dir.is_dir():
                raise EvalError(f"--checkpoints {checkpoint_dir} exists and is not a directory")
            run = open_run(run_dir, settings, resume=resume, device=device, provenance={
                "family": opened.attrs["family"], "noise": opened.attrs["noise"],
                "class_names": opened.class_names, "target_name": opened.class_names[target]})

            prior = [k for k in range(opened.classes) if k != target]
            partner_of = _partners(opened, seed)
            shared = _Test(opened, int(target), prior, test, partner_of, train,
                           _fit_data(opened, target, checkpoint_dir, progress, partner_of, train),
                           int(workers), keep, progress, 1 if execution.dask else execution.threads)
            run.note("execution", execution.describe())
            outcomes: dict[str, Outcome] = {}
            planned = []
            # The run directory is ours until the end; a plugin raising KeyboardInterrupt fails,
            # the user's Ctrl-C stops the run.
            with contextlib.closing(run), user_interrupts():
                for spec in specs:
                    job, record = _plan(spec, run_wide, settings, train_seeds, seed, prior,
                                        prior_controls)
                    previous = run.record(spec.name)
                    if (resume and previous is not None
                            and previous.data.get("key") in (record["key"], record.pop("_legacy"))
                            and run.has_results(spec.name, keep)):
                        log(f"{spec.name}: done in an earlier run, kept")
                        outcomes[spec.name] = Outcome(spec.name, "skipped", dict(previous.data))
                    else:
                        record.pop("_legacy", None)
                        planned.append((job, record))
                if execution.dask:
                    results = _run_on_dask(execution, planned, shared, device, timeout, log)
                else:
                    results = ((job, record, _run_here(job, shared, device, timeout))
                               for job, record in planned)
                for job, record, result in results:
                    _record(run, job.spec.name, record, result, keep, log)
                    outcomes[job.spec.name] = Outcome(job.spec.name, record["status"], record)
                run.order([spec.name for spec in specs])
                run.finish()
            return run_dir, [outcomes[spec.name] for spec in specs]


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


def _plan(spec, run_wide, settings, train_seeds, seed, prior, prior_controls):
    """An estimator's job and the start of its record (its key decides reuse)."""
    fixed, from_run = spec.with_training(run_wide)
    cls = spec.cls
    # A twin is scored on its own prior sources only (test-time controls measure how much
    # a model trained on the real priors relies on each); the others get the controls of
    # the sources they read: the classes' if they use the prior (and there is one), the
    # past's if they read the past.
    controls = [] if spec.replaced else [
        c for c in prior_controls
        if (cls.uses_past if c in PAST_CONTROLS else cls.uses_prior and prior)]
    # Controls only matter to estimators they apply to; the store counts by its digest,
    # not its path (a moved store is the same data).
    own = {k: v for k, v in settings.items()
           if k != "store" and (cls.uses_prior or k != "prior_controls")}
    if cls.uses_past:
        own["prior_controls"] = sorted(controls)
    extra = {"_train_seeds": int(train_seeds)}
    if spec.prior != "noisy":
        extra["_prior"] = spec.prior
    if spec.past != "noisy":
        extra["_past"] = spec.past
    source = spec.source
    if source.startswith("file "):
        path = Path(source[5:]).resolve()
        source = f"file {path} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]})"
        extra["_source"] = source
    record = {"spec": spec.text, "source": source,
              "class": f"{cls.__module__}:{cls.__qualname__}", "version": cls.version,
              "uses_prior": cls.uses_prior, "stochastic": cls.stochastic,
              **({"uses_past": True, "past_source": spec.past} if cls.uses_past else {}),
              "key": _estimator_key(cls, own, {**fixed, **extra}),
              # Runs made before ogmbench keyed the store by digest only (the key had the
              # path too) still resume in place.
              "_legacy": _estimator_key(cls, {**own, "store": settings["store"]},
                                        {**fixed, **extra}),
              "fixed_params": fixed, "run_params": from_run, "prior_source": spec.prior}
    job = _Job(spec, fixed, seeding.train_seeds(seed, train_seeds if cls.stochastic else 1),
               ["none"] + controls)
    return job, record


def _run_here(job: _Job, shared: _Test, device: str, timeout):
    """A job in this process (or a plugin's child): its result, or its EstimatorFailure."""
    try:
        try:
            if _isolated(job.spec):
                return _evaluate_isolated(job, shared, device, timeout)
            with deadline(timeout):  # fit and predict together
                return _evaluate(job, shared, device)
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
        record.update(facts)
        record.update(status="ok", samples_file=run.write_samples(name, rows))
        if keep:
            kept_file = run.write_kept(name, np.stack([kept[i] for i in keep]))
            record.update(kept=keep, kept_file=kept_file)
        log(f"{name}: ok ({record['timings']['test_samples_per_s']:.1f} samples/s)")
    run.set_record(name, record)


def _run_on_dask(execution, planned, shared: _Test, device: str, timeout, log):
    """Every (estimator, training seed) of the run as a Dask unit; yield each job's
    ``(job, record, result)`` once all its seeds are in (in any order)."""
    units, names, keys, owner, resources = [], [], [], [], []
    # One training per GPU where workers declare their GPUs (dask worker --resources
    # GPU=1, or dask-cuda's LocalCUDACluster); without any, Dask places units freely.
    gpu = device.startswith("cuda") and execution.offers("GPU")
    for j, (job, record) in enumerate(planned):
        payload = _payload(job, shared, device, timeout, _isolated(job.spec))
        # Content-addressed: everything the unit reads (its estimator key, the store's
        # digest, the samples, kept ones, limits, checkpoint folder) and its seed.
        digest = hashlib.sha256(pickle.dumps({k: v for k, v in payload.items()
                                              if k != "progress"})
                                + shared.store.attrs["digest"].encode()).hexdigest()[:24]
        for seed_index in range(len(job.seeds)):
            units.append((payload, seed_index))
            names.append(job.spec.name if len(job.seeds) == 1
                         else f"{job.spec.name} (training seed {seed_index})")
            keys.append(f"ogmbench-eval-{record['key']}-{digest}-{seed_index}")
            owner.append(j)
            resources.append({"GPU": 1} if gpu and job.spec.cls.stochastic else None)
    parts: dict[int, dict[int, Any]] = {j: {} for j in range(len(planned))}
    for i, part in execution.run(_dask_unit, units, names=names, keys=keys,
                                 resources=resources):
        j = owner[i]
        job, record = planned[j]
        if isinstance(part, UnitLost):
            part = EstimatorFailure(str(part))
        parts[j][units[i][1]] = part
        if len(job.seeds) > 1:
            log(f"{names[i]}: finished")
        if len(parts[j]) == len(job.seeds):
            done = [parts[j][k] for k in range(len(job.seeds))]
            failed = [p for p in done if isinstance(p, EstimatorFailure)]
            yield job, record, failed[0] if failed else _merged(done)


def _payload(job: _Job, test: _Test, device: str, timeout, isolated: bool) -> dict[str, Any]:
    """What a process that did not make the run needs to evaluate a job (a plugin's
    child, a Dask worker): plain data, the store by path."""
    cls = job.spec.cls
    fit = test.fit_data(job.spec)
    return {
        "spec": job.spec.text, "class": f"{cls.__module__}:{cls.__qualname__}",
        "fixed": job.fixed, "seeds": job.seeds, "controls": job.controls, "device": device,
        "store": absolute(test.store.path), "digest": test.store.attrs["digest"],
        "target": test.target, "prior": test.prior,
        "indices": test.indices, "partner_of": test.partner_of, "workers": test.workers,
        "keep": test.keep, "checkpoints": absolute(fit.cache_dir),
        "train": test.train, "progress": test.progress is not None, "timeout": timeout,
        "isolated": isolated, "threads": test.threads,
    }


def _dask_unit(payload: dict[str, Any], seed_index: int):
    """One Dask unit: one training seed of one estimator, fitted (or its checkpoint
    loaded) and scored on the test split.  Returns its part, or its EstimatorFailure.

    On a CPU worker each unit gets one torch thread (a worker runs as many units at
    once as it has threads); a GPU unit (one per GPU) the worker's threads.
    """
    fit_malloc()
    cuda = payload["device"].startswith("cuda")
    threads = unit_threads(1) if cuda else 1
    torch_threads(threads)
    # A CPU unit is one thread: a worker runs as many units at once as it has threads.
    payload = {**payload, "progress": False, "seed_index": seed_index, "threads": threads,
               "workers": payload["workers"] if cuda else 1}
    timeout = payload["timeout"]
    try:
        if not payload["isolated"] and timeout is None:
            return _unit_child(payload, lambda *args: None)
        # In a child process: a plugin cannot harm the worker, and a time limit holds
        # (an alarm cannot ring in a worker's thread; the sandbox's timer kills it).
        return sandbox.call("ogmbench.evaluate:_unit_child", payload,
                            limit=None if timeout is None else timeout + _GRACE)
    except EstimatorFailure as exc:
        return exc
    except sandbox.ChildDied as exc:
        if exc.timed_out:
            return EstimatorFailure(f"timed out after {timeout:g} s (its process did not stop "
                                    "at the limit and was killed)")
        return EstimatorFailure(f"{exc} (fit, predict or the test loop)")
    except (UsageError, RunFailure, OSError) as exc:
        if isinstance(exc, StoreError):
            raise
        return EstimatorFailure(f"its process failed: {type(exc).__name__}: {exc}")


def _unit_child(payload: dict[str, Any], send):
    """A job from its payload, in a process that did not make the run (a plugin's child,
    a Dask worker or a child of one): one training seed where the payload names one
    (``seed_index``, a Dask unit), else every seed (:func:`_evaluate`)."""
    test, job = _from_payload(payload, send)
    try:
        with deadline(payload["timeout"]):
            if "seed_index" in payload:
                return _evaluate_seed(job, test, payload["device"], payload["seed_index"])
            return _evaluate(job, test, payload["device"])
    except TimedOut as exc:  # struck between the estimator's own calls
        raise as_failure(exc, "the test loop") from None


def _check_specs(store: Store, specs) -> None:
    """An estimator that reads the past needs sequences; a blind twin needs another
    sample to take its prior from in every split it reads."""
    for spec in specs:
        if not runs_on(spec.cls, store.frames):
            raise EvalError(f"{spec.name} reads past frames, and {store.path} holds single "
                            "maps: give it a store of sequences (generate --frames T)")
        if "shuffled" not in (spec.prior, spec.past):
            continue
        for split in ("train", "val", "test"):
            if store.indices(split).size == 1:
                raise EvalError(f"{spec.name} takes its prior from another sample of the "
                                f"same split, and {store.path} has a single {split} sample")


def _check_settings(store: Store, target, seed, controls, workers, train_seeds, keep, threads):
    """Refuse impossible settings before any work; return the test sample indices."""
    classes = store.classes
    if not (isinstance(target, (int, np.integer)) and 0 <= target < classes):
        raise EvalError(f"target must be a class index in 0..{classes - 1} "
                        f"({', '.join(store.class_names)}), got {target}")
    test = store.indices("test")
    if test.size == 0:
        raise EvalError(f"{store.path} has no test samples (split fractions "
                        f"{store.attrs['split_fractions']}); regenerate with a test fraction")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise EvalError(f"seed must be a non-negative integer, got {seed}")
    for control in controls:
        if control not in CONTROLS:
            raise EvalError(f"unknown prior control {control!r} (allowed: {', '.join(CONTROLS)})")
        if control in PAST_CONTROLS and store.frames == 1:
            raise EvalError(f"the {control} control replaces past frames, and {store.path} "
                            "holds single maps (generate --frames T)")
        if control.endswith("shuffled") and test.size < 2:
            raise EvalError(f"the {control} prior control needs at least 2 test samples")
    if int(workers) != workers or workers < 1:
        raise EvalError(f"workers must be an integer >= 1, got {workers}")
    if workers > threads:
        raise EvalError(f"workers ({workers}) exceed threads ({threads}), the cores this run "
                        "may use: ask for fewer workers or more threads")
    if int(train_seeds) != train_seeds or not 1 <= train_seeds <= 100:
        raise EvalError(f"train-seeds must be an integer in [1, 100], got {train_seeds}")
    outside = sorted(set(int(i) for i in keep) - set(test.tolist()))
    if outside:
        raise EvalError(f"keep: {outside[:5]} are not test sample indices")
    return test


def _evaluate(job: _Job, test: _Test, device: str):
    """Fit (per training seed), pick the val threshold, stream the test split.

    Returns the rows, {sample index: estimate} of the kept samples, and what the run
    records of the fit (per-seed choices and timings).
    """
    return _merged([_evaluate_seed(job, test, device, i) for i in range(len(job.seeds))])


def _evaluate_seed(job: _Job, test: _Test, device: str, seed_index: int) -> dict[str, Any]:
    """One training seed of :func:`_evaluate`: a unit of work on its own (Dask)."""
    name, cls = job.spec.name, job.spec.cls
    store, target, prior = test.store, test.target, test.prior
    columns: dict[str, list] = {k: [] for k in _COLUMNS}
    kept: dict[int, np.ndarray] = {}
    keep = set(test.keep) if seed_index == 0 else set()
    totals = {"fit_s": 0.0, "predict_s": 0.0, "test_s": 0.0}
    per_seed = test.indices.size * len(job.controls)
    done, total = seed_index * per_seed, per_seed * len(job.seeds)
    data = test.fit_data(job.spec)
    fit_seed = job.seeds[seed_index]
    torch_threads(test.threads)
    start = time.perf_counter()
    what = "fit"
    try:
        model, chosen, table = tune(cls, data, target=target, seed=fit_seed, device=device,
                                    fixed=job.fixed)
        totals["fit_s"] += time.perf_counter() - start
        threshold, val_iou = val_threshold(model, data.val, target)
        what = "get_params or describe"
        info = {"seed": int(fit_seed), "params": jsonable(model.get_params()),
                "tuned": jsonable(chosen), "tuning": table, "val_threshold": threshold,
                "val_iou_at_threshold": val_iou, "describe": jsonable(model.describe())}
    except BaseException as exc:  # noqa: B036 -- contained: see tuning.as_failure
        failure = as_failure(exc, what)
        if failure is None:
            raise
        raise failure from exc
    if cls.stochastic:  # what its numbers are bitwise reproducible with (torch's reductions)
        info["torch_threads"] = _torch_threads()
    # Learned estimators predict batched on torch's threads (split across workers, their
    # bits would depend on the split); the others share the chunk between workers.
    workers = 1 if cls.stochastic else test.workers
    test_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        fields = ("clean", "noisy") + (("phi_matrix",) if store.classes > 2 else ())
        for block in store.iter_chunks("test", fields=fields):
            if store.classes > 2 and prior:
                # phi of the target and its first prior class (the store's phi is 0-1).
                block["phi"] = block["phi_matrix"][:, target, prior[0]]
            clean = block["clean"]
            for control in job.controls:
                # A twin's own prior sources are its "none": what it trained with.
                noisy, motion = _replace(store, block["noisy"], clean, block["index"],
                                         job.spec.replaced if control == "none" else [control],
                                         prior, target, test.partner_of)
                # An estimator that reads the past gets whole sequences and their motion;
                # the others, and the scores, the last frame.
                warps = store.warps(motion) if cls.uses_past else None
                if not cls.uses_past:
                    noisy = last_frame(noisy)
                t0 = time.perf_counter()
                estimate = _predict_parallel(model, noisy, target, workers, pool, warps)
                totals["predict_s"] += time.perf_counter() - t0
                _append_rows(columns, name, control, seed_index, block, estimate,
                             last_frame(clean)[:, target], threshold)
                if control == "none" and keep:
                    for j, index in enumerate(block["index"].tolist()):
                        if index in keep:
                            kept[index] = estimate[j].copy()  # not a view of the batch
                done += len(clean)
                if test.progress is not None:
                    test.progress(name, done, total)
    # test_s: the whole test loop (reading, controls, predict, checks, metrics).
    totals["test_s"] += time.perf_counter() - test_start
    return {"columns": columns, "kept": kept, "info": info, "totals": totals,
            "scored": per_seed}


def _merged(parts: list[dict[str, Any]]):
    """The rows, kept estimates and facts of a job from its seeds' parts, in seed order
    (the same rows whether the seeds ran one after the other or apart)."""
    columns = {k: [v for part in parts for v in part["columns"][k]] for k in _COLUMNS}
    facts: dict[str, Any] = {"train_seeds": [part["info"] for part in parts]}
    # The first seed's choices, at the top level for quick reading.
    facts.update({k: parts[0]["info"][k] for k in ("params", "tuned", "tuning", "val_threshold",
                                                  "val_iou_at_threshold", "describe")})
    totals = {k: sum(part["totals"][k] for part in parts) for k in parts[0]["totals"]}
    done = sum(part["scored"] for part in parts)
    facts["converged"] = _converged(facts["train_seeds"])
    facts["timings"] = {k: round(v, 4) for k, v in totals.items()}
    facts["timings"]["test_samples_per_s"] = round(done / max(totals["test_s"], 1e-9), 2)
    return columns, parts[0]["kept"], facts


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_num_threads())


# Seconds a plugin's process gets past its time limit before it is killed: its own
# alarm stops a well-behaved one at the limit, with the place it was struck.
_GRACE = 10.0


def _partners(store: Store, seed: int) -> np.ndarray:
    """Whose prior each sample gets when its prior is shuffled: a derangement within its
    split (a split of one sample keeps its own; such a run is refused where it matters).

    The test split's is the shuffled control's; train and val have their own streams, so
    adding a twin never moves the control's pairs.
    """
    out = np.arange(len(store))
    for split, stream in (("train", "shuffle_train"), ("val", "shuffle_val"), ("test", "shuffle")):
        indices = store.indices(split)
        if indices.size >= 2:
            out[indices] = indices[_derangement(indices.size, seeding.eval_rng(seed, stream))]
    return out


def train_indices(store: Store, train_size: int | None) -> np.ndarray:
    """The train samples a run fits on: the first ``train_size`` of each rho, or all.

    Parameters
    ----------
    store : Store
    train_size : int or None
        Train samples per rho (at most the store's); None for the whole train split.

    Returns
    -------
    numpy.ndarray
        Sample indices, increasing.

    Raises
    ------
    EvalError
        For a size that is not an integer in [1, the train samples of the smallest rho].
    """
    indices = store.indices("train")
    if train_size is None:
        return indices
    rho = np.asarray(store.rho[:])[indices]
    fewest = min(int((rho == r).sum()) for r in np.unique(rho)) if indices.size else 0
    if (isinstance(train_size, bool) or not isinstance(train_size, (int, np.integer))
            or not 1 <= train_size <= fewest):
        raise EvalError(f"train size must be an integer in [1, {fewest}] (the train samples "
                        f"of each rho in {store.path}), got {train_size}")
    return np.sort(np.concatenate([indices[rho == r][:int(train_size)] for r in np.unique(rho)]))


def _fit_data(store: Store, target: int, checkpoint_dir: Place, progress,
              partner_of: np.ndarray, train: np.ndarray):
    """The FitData builder of a run: per estimator spec (its name for training progress,
    its prior sources for what its train and val splits give it as priors)."""
    prior = [k for k in range(store.classes) if k != target]

    def fit_data(spec: EstimatorSpec) -> FitData:
        name, replaced = spec.name, spec.replaced
        report = None if progress is None else (
            lambda step, total, msg: progress(f"{name} train", step, total, msg))
        transform = None
        if replaced:
            def transform(noisy, clean, index):
                return _replace(store, noisy, clean, index, replaced, prior, target,
                                partner_of)[0]
        past = spec.cls.uses_past and store.frames > 1
        splits = []
        for indices in (train, store.indices("val")):
            split = Split(store=store, indices=indices, transform=transform, past=past)
            if past and spec.past == "shuffled":  # a shuffled past comes with its motion
                split.warps = store.warps(partner_of[indices])
            splits.append(split)
        # A twin's checkpoints are its own: the same class and configuration trained on
        # other priors; so are those of a train subset.
        key = f"{store.attrs['digest']}:{target}" + "".join(
            f":{key}={source}" for key, source in (("prior", spec.prior), ("past", spec.past))
            if source != "noisy")
        if train.size != store.indices("train").size:
            key += f":train={hashlib.sha256(train.tobytes()).hexdigest()[:16]}"
        return FitData(*splits, cache_dir=checkpoint_dir, cache_key=key, progress=report)

    return fit_data


def _isolated(spec: EstimatorSpec) -> bool:
    """Whether the estimator runs in its own process: a plugin that its spec loads again.

    Built-ins run here, as fast as ever; so does a class handed over as an object (a
    spec whose text does not load it), which only its own author's process can build.
    """
    if spec.source == "built-in" or not sandbox.available() or spec.cls.__module__ == "__main__":
        return False  # a script's or notebook's own class cannot be imported elsewhere
    try:
        return resolve(spec.text).cls is spec.cls
    except ConfigError:
        return False


def _evaluate_isolated(job: _Job, test: _Test, device: str, timeout: float | None):
    """:func:`_evaluate` in a child process (:mod:`ogmbench.sandbox`).

    The child keeps the time limit itself, so a limit struck in fit or predict is
    reported as in-process; a child that defeats its alarm is killed :data:`_GRACE`
    seconds later.
    """
    payload = _payload(job, test, device, timeout, True)
    try:
        with deadline(None if timeout is None else timeout + _GRACE):
            return sandbox.call("ogmbench.evaluate:_unit_child", payload,
                                test.progress or (lambda *args: None))
    except (EstimatorFailure, StoreError):
        raise
    except sandbox.ChildDied as exc:
        raise EstimatorFailure(f"{exc} (fit, predict or the test loop)") from None
    except (UsageError, RunFailure, OSError) as exc:  # its process could not do the work
        raise EstimatorFailure(f"its process failed: {type(exc).__name__}: {exc}") from None
    except TimedOut:
        raise EstimatorFailure(f"timed out after {timeout:g} s (its process did not stop at "
                               "the limit and was killed)") from None


def _from_payload(payload: dict[str, Any], send) -> tuple[_Test, _Job]:
    spec = resolve(payload["spec"])
    if f"{spec.cls.__module__}:{spec.cls.__qualname__}" != payload["class"]:
        raise EstimatorFailure(f"{payload['spec']} loads {spec.cls.__qualname__} in a new "
                               f"process, not {payload['class']}")
    # Checked by the run's process, which holds the store's reader's lock.
    store = open_store(payload["store"], checked=payload["digest"])
    progress = send if payload["progress"] else None
    test = _Test(store, payload["target"], payload["prior"], payload["indices"],
                 payload["partner_of"], payload["train"],
                 _fit_data(store, payload["target"], location(payload["checkpoints"]), progress,
                           payload["partner_of"], payload["train"]),
                 payload["workers"], payload["keep"], progress, payload["threads"])
    return test, _Job(spec, payload["fixed"], payload["seeds"], payload["controls"])


def _converged(seeds: list[dict]) -> bool | None:
    """Whether every training seed's learning curve converged (:mod:`ogmbench.curves`)."""
    return all_converged([info["describe"].get("curve")
                          if isinstance(info.get("describe"), dict) else None
                          for info in seeds])


def _predict_parallel(model, noisy, target, workers, pool, warps=None):
    if workers == 1 or len(noisy) < 2:
        return checked_predict(model, noisy, target, warps)
    parts = np.array_split(np.arange(len(noisy)), min(workers, len(noisy)))
    futures = [pool.submit(checked_predict, model, noisy[p], target,
                           None if warps is None else warps[p]) for p in parts]
    return np.concatenate([f.result() for f in futures])


_COLUMNS = ("estimator", "control", "train_seed", "sample", "rho", "phi", "mse", "psnr", "iou",
            "tp", "fp", "fn", "threshold", "tp_t", "fp_t", "fn_t", "cal_n", "cal_p", "cal_y")


def _append_rows(columns, name, control, seed_index, block, estimate, clean_target, threshold):
    scores = metrics.per_sample(estimate, clean_target)
    at_t = metrics.confusion_counts(estimate, clean_target, threshold)
    cal = metrics.calibration_bins(estimate, clean_target)
    n = len(estimate)
    columns["estimator"] += [name] * n
    columns["control"] += [control] * n
    columns["train_seed"] += [seed_index] * n
    columns["sample"] += block["index"].tolist()
    columns["rho"] += block["rho"].astype(float).tolist()
    columns["phi"] += np.asarray(block["phi"], dtype=float).tolist()
    for key in ("mse", "psnr", "iou", "tp", "fp", "fn"):
        columns[key] += scores[key].tolist()
    columns["threshold"] += [threshold] * n
    for key in ("tp", "fp", "fn"):
        columns[f"{key}_t"] += at_t[key].tolist()
    columns["cal_n"] += cal[:, 0].tolist()
    columns["cal_p"] += cal[:, 1].tolist()
    columns["cal_y"] += cal[:, 2].tolist()


def _open(store) -> Store:
    try:
        return open_store(store)
    except StoreError as exc:
        raise EvalError(str(exc)) from None


def _estimator_key(cls, settings, fixed) -> str:
    text = json.dumps([f"{cls.__module__}:{cls.__qualname__}", cls.version,
                       jsonable(cls.default_params()), jsonable(cls.param_grid), settings,
                       jsonable(fixed)],
                      sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
