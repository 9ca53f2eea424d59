"""One job run where the run's process is not: a plugin's child, a Dask unit.

Both get the same plain payload (the store by path, the samples, the limits) and call
the same scoring functions (:mod:`ogmbench.scoring`), so where a job ran never changes
its rows.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

from .. import sandbox
from ..errors import RunFailure, StoreError, UsageError
from ..execution import UnitLost, fit_malloc, torch_threads, unit_threads
from ..places import absolute, location
from ..scoring import Job, TestSet, evaluate_job, evaluate_seed, fit_data_maker, merged
from ..specs import EstimatorSpec, resolve
from ..store import open_store
from ..tuning import EstimatorFailure, TimedOut, as_failure, deadline
from ._sealed import evaluate_sealed

# Seconds a plugin's process gets past its time limit before it is killed: its own
# alarm stops a well-behaved one at the limit, with the place it was struck.
_GRACE = 10.0
_CHILD = "ogmbench.evaluate._units:_unit_child"


def isolated(spec: EstimatorSpec) -> bool:
    """Whether the estimator is fitted in its own process: a plugin, which this process
    knows only by its declarations (:mod:`ogmbench.declared`).

    Built-ins run here, as fast as ever; so does a class handed over as an object (a
    script's or notebook's own, which only its author's process can build).
    """
    return "declared" in vars(spec.cls)


def evaluate_isolated(job: Job, test: TestSet, device: str, timeout: float | None):
    """:func:`~ogmbench.scoring.evaluate_job` with the estimator in its own process
    (:mod:`._sealed`): it fits and predicts there, the test split is scored here.

    The child keeps the time limit itself, so a limit struck in fit or predict is
    reported as in-process; a child that defeats its alarm is killed :data:`_GRACE`
    seconds later.
    """
    try:
        return evaluate_sealed(job, test, device, timeout, _GRACE)
    except EstimatorFailure:
        raise
    except StoreError as exc:
        if _from_plugin(exc):
            raise EstimatorFailure(f"its process raised StoreError: {exc}") from None
        raise  # this run's own store: one line for the whole run
    except sandbox.ChildDied as exc:
        if exc.timed_out:
            raise EstimatorFailure(f"timed out after {timeout:g} s (its process did not stop "
                                   "at the limit and was killed)") from None
        raise EstimatorFailure(f"{exc} (fit or predict)") from None
    except (UsageError, RunFailure, OSError) as exc:  # its process could not do the work
        raise EstimatorFailure(f"its process failed: {type(exc).__name__}: {exc}") from None


def run_on_dask(execution, planned, shared: TestSet, device: str, timeout, log):
    """Every (estimator, training seed) of the run as a Dask unit; yield each job's
    ``(job, record, result)`` once all its seeds are in (in any order)."""
    units, names, keys, owner, resources = _units(execution, planned, shared, device, timeout)
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
            yield job, record, failed[0] if failed else merged(done)


def _units(execution, planned, shared: TestSet, device: str, timeout):
    """The units of :func:`run_on_dask`, with their names, content keys, owning job and
    resources."""
    units, names, keys, owner, resources = [], [], [], [], []
    # One training per GPU where workers declare their GPUs (dask worker --resources
    # GPU=1, or dask-cuda's LocalCUDACluster); without any, Dask places units freely.
    gpu = device.startswith("cuda") and execution.offers("GPU")
    for j, (job, record) in enumerate(planned):
        payload = _payload(job, shared, device, timeout, isolated(job.spec))
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
    return units, names, keys, owner, resources


def _payload(job: Job, test: TestSet, device: str, timeout, in_child: bool) -> dict[str, Any]:
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
        "isolated": in_child, "threads": test.threads,
    }


def _from_payload(payload: dict[str, Any], send) -> tuple[TestSet, Job]:
    spec = resolve(payload["spec"])
    if f"{spec.cls.__module__}:{spec.cls.__qualname__}" != payload["class"]:
        raise EstimatorFailure(f"{payload['spec']} loads {spec.cls.__qualname__} in a new "
                               f"process, not {payload['class']}")
    # Checked by the run's process, which holds the store's reader's lock.
    store = open_store(payload["store"], checked=payload["digest"])
    progress = send if payload["progress"] else None
    test = TestSet(store, payload["target"], payload["prior"], payload["indices"],
                   payload["partner_of"], payload["train"],
                   fit_data_maker(store, payload["target"], location(payload["checkpoints"]),
                                  progress, payload["partner_of"], payload["train"]),
                   payload["workers"], payload["keep"], progress, payload["threads"])
    return test, Job(spec, payload["fixed"], payload["seeds"], payload["controls"])


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
        if payload["isolated"]:  # this worker scores; the plugin fits and predicts apart
            test, job = _from_payload(payload, lambda *args: None)
            return evaluate_sealed(job, test, payload["device"], timeout, _GRACE, seed_index)
        if timeout is None:
            return _unit_child(payload, lambda *args: None)
        # In a child process: a time limit holds (an alarm cannot ring in a worker's
        # thread; the sandbox's timer kills it).
        return sandbox.call(_CHILD, payload, limit=timeout + _GRACE)
    except EstimatorFailure as exc:
        return exc
    except sandbox.ChildDied as exc:
        if exc.timed_out:
            return EstimatorFailure(f"timed out after {timeout:g} s (its process did not stop "
                                    "at the limit and was killed)")
        return EstimatorFailure(f"{exc} (fit, predict or the test loop)")
    except (UsageError, RunFailure, OSError) as exc:
        if isinstance(exc, StoreError) and not _from_plugin(exc):
            raise
        return EstimatorFailure(f"its process failed: {type(exc).__name__}: {exc}")


def _from_plugin(exc: BaseException) -> bool:
    """Whether a plugin's process raised ``exc`` (not this run's own reading)."""
    return getattr(exc, "from_child", False)


def _unit_child(payload: dict[str, Any], send):
    """A job from its payload, in a process that did not make the run (a plugin's child,
    a Dask worker or a child of one): one training seed where the payload names one
    (``seed_index``, a Dask unit), else every seed."""
    test, job = _from_payload(payload, send)
    try:
        with deadline(payload["timeout"]):
            if "seed_index" in payload:
                return evaluate_seed(job, test, payload["device"], payload["seed_index"])
            return evaluate_job(job, test, payload["device"])
    except TimedOut as exc:  # struck between the estimator's own calls
        raise as_failure(exc, "the test loop") from None
