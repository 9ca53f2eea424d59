"""Scoring: one estimator fitted per training seed and scored on the test split.

Per estimator and training seed: tune its grid and pick the IoU threshold on val
(:mod:`ogmbench.tuning`), then stream the test split chunk by chunk, with the prior
controls applied (:mod:`ogmbench.controls`), and score every sample with the registered
metrics.  The same functions run in the run's own process, in a plugin's child and in a
Dask unit (:mod:`ogmbench.evaluate`), so where a job runs never changes its rows.
"""

from __future__ import annotations

import hashlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import metrics
from .api import FitData, Split, last_frame
from .controls import with_controls
from .curves import all_converged
from .eval_config import true_model
from .execution import torch_threads
from .places import Place
from .runs import jsonable
from .specs import EstimatorSpec
from .store import Store
from .tuning import as_failure, checked_predict, tune, val_threshold

__all__ = ["TestSet", "Job", "Fitted", "predict_parallel", "evaluate_job", "evaluate_seed", "fit_here", "fit_model",
           "merged", "fit_data_maker",
           "ROW_COLUMNS", "run_columns"]


@dataclass
class TestSet:
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
class Job:
    """One estimator of a run: its spec, parameters, seeds and controls."""

    spec: EstimatorSpec
    fixed: dict[str, Any]
    seeds: list[int]
    controls: list[str]


def evaluate_job(job: Job, test: TestSet, device: str, fit: Callable | None = None):
    """Fit (per training seed), pick the val threshold, stream the test split.

    Parameters
    ----------
    job : Job
    test : TestSet
    device : str
    fit : callable, optional
        ``fit(job, test, device, seed_index) -> Fitted``: where the estimator is fitted
        and predicts (default :func:`fit_here`, this process; a sandboxed plugin's is
        its own process).  The test split is read and scored here either way.

    Returns
    -------
    tuple
        The rows (the columns of :func:`run_columns`), {sample index: estimate} of the
        kept samples, and what the run records of the fit (per-seed choices and timings).
    """
    return merged([evaluate_seed(job, test, device, i, fit) for i in range(len(job.seeds))])


@dataclass
class Fitted:
    """A fitted estimator as scoring uses it: its ``predict``, its val threshold, what the
    run records of its fit, the fit's seconds, and how many threads share a test chunk
    between ``predict`` calls here (1 where the estimator splits it itself)."""

    model: Any
    threshold: float
    info: dict[str, Any]
    fit_s: float
    workers: int


def fit_here(job: Job, test: TestSet, device: str, seed_index: int) -> Fitted:
    """One training seed fitted in this process (what the estimator raises contained,
    :func:`~ogmbench.tuning.as_failure`)."""
    model, threshold, info, fit_s = fit_model(job.spec.cls, test.fit_data(job.spec),
                                              target=test.target, seed=job.seeds[seed_index],
                                              device=device, fixed=job.fixed,
                                              threads=test.threads)
    # Learned estimators predict batched on torch's threads (split across workers, their
    # bits would depend on the split); the others share the chunk between workers.
    return Fitted(model, threshold, info, fit_s, 1 if job.spec.cls.stochastic else test.workers)


def fit_model(cls, data: FitData, *, target: int, seed: int, device: str, fixed, threads: int):
    """Tune and fit ``cls`` on ``data``, pick the IoU threshold on val.

    Returns
    -------
    tuple
        The fitted estimator, its val threshold, what the run records of the fit, and
        the fit's seconds.

    Raises
    ------
    EstimatorFailure
        For what the estimator raised (its reason, where it was raised).
    """
    torch_threads(threads)
    what = "fit"
    start = time.perf_counter()
    try:
        model, chosen, table = tune(cls, data, target=target, seed=seed, device=device,
                                    fixed=fixed)
        fit_s = time.perf_counter() - start
        threshold, val_iou = val_threshold(model, data.val, target)
        what = "get_params or describe"
        info = {"seed": int(seed), "params": jsonable(model.get_params()),
                "tuned": jsonable(chosen), "tuning": table, "val_threshold": threshold,
                "val_iou_at_threshold": val_iou, "describe": jsonable(model.describe())}
    except BaseException as exc:  # noqa: B036 -- contained: see tuning.as_failure
        failure = as_failure(exc, what)
        if failure is None:
            raise
        raise failure from exc
    if cls.stochastic:  # what its numbers are bitwise reproducible with (torch's reductions)
        info["torch_threads"] = _torch_threads()
    return model, threshold, info, fit_s


def evaluate_seed(job: Job, test: TestSet, device: str, seed_index: int,
                  fit: Callable | None = None) -> dict[str, Any]:
    """One training seed of :func:`evaluate_job`: a unit of work on its own (Dask).

    Parameters
    ----------
    job : Job
    test : TestSet
    device : str
    seed_index : int
        Which of ``job.seeds``.
    fit : callable, optional
        As :func:`evaluate_job`.

    Returns
    -------
    dict
        ``columns`` (the rows), ``kept``, ``info`` (the fit), ``totals`` (seconds) and
        ``scored`` (the samples scored).
    """
    fitted = (fit or fit_here)(job, test, device, seed_index)
    totals = {"fit_s": fitted.fit_s, "predict_s": 0.0, "test_s": 0.0}
    test_start = time.perf_counter()
    columns, kept = _score(job, test, fitted, seed_index, totals)
    # test_s: the whole test loop (reading, controls, predict, checks, metrics).
    totals["test_s"] += time.perf_counter() - test_start
    return {"columns": columns, "kept": kept, "info": fitted.info, "totals": totals,
            "scored": test.indices.size * len(job.controls)}


def _score(job: Job, test: TestSet, fitted: Fitted, seed_index: int, totals):
    """Stream the test split through a fitted model: the rows and the kept estimates."""
    name, cls = job.spec.name, job.spec.cls
    model, threshold, workers = fitted.model, fitted.threshold, fitted.workers
    store, target, prior = test.store, test.target, test.prior
    columns: dict[str, list] = {k: [] for k in run_columns()}
    kept: dict[int, np.ndarray] = {}
    keep = set(test.keep) if seed_index == 0 else set()
    per_seed = test.indices.size * len(job.controls)
    done, total = seed_index * per_seed, per_seed * len(job.seeds)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        fields = ("clean", "noisy") + (("phi_matrix",) if store.classes > 2 else ())
        for block in store.iter_chunks("test", fields=fields):
            if store.classes > 2 and prior:
                # phi of the target and its first prior class (the store's phi is 0-1).
                block["phi"] = block["phi_matrix"][:, target, prior[0]]
            clean = block["clean"]
            for control in job.controls:
                # A twin's own prior sources are its "none": what it trained with.
                noisy, motion = with_controls(store, block["noisy"], clean, block["index"],
                                        job.spec.replaced if control == "none" else [control],
                                        prior, target, test.partner_of)
                # An estimator that reads the past gets whole sequences and their motion;
                # the others, and the scores, the last frame.
                warps = store.warps(motion) if cls.uses_past else None
                if not cls.uses_past:
                    noisy = last_frame(noisy)
                t0 = time.perf_counter()
                estimate = predict_parallel(model, noisy, target, workers, pool, warps,
                                            block["rho"])
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
    return columns, kept


def merged(parts: list[dict[str, Any]]):
    """The rows, kept estimates and facts of a job from its seeds' parts, in seed order
    (the same rows whether the seeds ran one after the other or apart).

    Parameters
    ----------
    parts : list of dict
        What :func:`evaluate_seed` returned for each seed, in seed order.

    Returns
    -------
    tuple
        As :func:`evaluate_job`.
    """
    columns = {k: [v for part in parts for v in part["columns"][k]] for k in parts[0]["columns"]}
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


def _converged(seeds: list[dict]) -> bool | None:
    """Whether every training seed's learning curve converged (:mod:`ogmbench.curves`)."""
    return all_converged([info["describe"].get("curve")
                          if isinstance(info.get("describe"), dict) else None
                          for info in seeds])


def predict_parallel(model, noisy, target, workers, pool, warps=None, rho=None):
    """``checked_predict`` of a chunk, split between ``workers`` threads of ``pool``
    (an estimate does not depend on its batch: the protocol's rule)."""
    if workers == 1 or len(noisy) < 2:
        return checked_predict(model, noisy, target, warps, rho)
    parts = np.array_split(np.arange(len(noisy)), min(workers, len(noisy)))
    futures = [pool.submit(checked_predict, model, noisy[p], target,
                           None if warps is None else warps[p],
                           None if rho is None else rho[p]) for p in parts]
    return np.concatenate([f.result() for f in futures])


def fit_data_maker(store: Store, target: int, checkpoint_dir: Place, progress,
                   partner_of: np.ndarray, train: np.ndarray):
    """The FitData builder of a run: per estimator spec (its name for training progress,
    its prior sources for what its train and val splits give it as priors).

    Parameters
    ----------
    store : Store
    target : int
    checkpoint_dir : Place
        Where learned estimators keep their checkpoints.
    progress : callable or None
        ``progress(stage, done, total, message)`` for training steps.
    partner_of : numpy.ndarray
        Whose prior each sample gets when shuffled (:func:`ogmbench.controls.partners`).
    train : numpy.ndarray
        The train samples fitted on.

    Returns
    -------
    callable
        ``fit_data(spec) -> FitData``.
    """
    prior = [k for k in range(store.classes) if k != target]

    def fit_data(spec: EstimatorSpec) -> FitData:
        name, replaced = spec.name, spec.replaced
        report = None if progress is None else (
            lambda step, total, msg: progress(f"{name} train", step, total, msg))
        transform = None
        if replaced:
            def transform(noisy, clean, index):
                return with_controls(store, noisy, clean, index, replaced, prior, target,
                               partner_of)[0]
        past = spec.cls.uses_past and store.frames > 1
        splits = []
        for indices in (train, store.indices("val")):
            split = Split(store=store, indices=indices, transform=transform, past=past)
            if past and spec.past == "shuffled":  # a shuffled past comes with its motion
                split.warps = store.warps(partner_of[indices])
            splits.append(split)
        return FitData(*splits, cache_dir=checkpoint_dir,
                       cache_key=_cache_key(store, target, spec, train), progress=report,
                       model=true_model(store, spec))

    return fit_data


def _cache_key(store: Store, target: int, spec: EstimatorSpec, train: np.ndarray) -> str:
    # A twin's checkpoints are its own: the same class and configuration trained on
    # other priors; so are those of a train subset.
    key = f"{store.attrs['digest']}:{target}" + "".join(
        f":{key}={source}" for key, source in (("prior", spec.prior), ("past", spec.past))
        if source != "noisy")
    if train.size != store.indices("train").size:
        key += f":train={hashlib.sha256(train.tobytes()).hexdigest()[:16]}"
    return key


# What identifies a row of a run directory; each registered metric adds its own columns.
ROW_COLUMNS = ("estimator", "control", "train_seed", "sample", "rho", "phi")


def run_columns() -> tuple[str, ...]:
    """A run directory's columns: the row's identity, then every registered metric's
    per-sample columns (:meth:`ogmbench.metrics.Registry.columns`)."""
    return ROW_COLUMNS + metrics.METRICS.columns()


def _append_rows(columns, name, control, seed_index, block, estimate, clean_target, threshold):
    n = len(estimate)
    columns["estimator"] += [name] * n
    columns["control"] += [control] * n
    columns["train_seed"] += [seed_index] * n
    columns["sample"] += block["index"].tolist()
    columns["rho"] += block["rho"].astype(float).tolist()
    columns["phi"] += np.asarray(block["phi"], dtype=float).tolist()
    for key, values in metrics.sample_columns(estimate, clean_target, threshold).items():
        columns[key] += values.tolist()
