"""``ogmbench eval``: tune and fit estimators on train/val, stream the test split, score.

A run directory holds::

    run.json                  provenance: store, target, seed, device, versions, and per
                              estimator its source, parameters, tuning, status, timings
    samples/<name>.parquet    one row per (test sample, prior control): metrics and counts
    leaderboard.csv           the aggregated table (written by ogmbench.leaderboard)

Each estimator's samples file is written whole, atomically, once it is done, so a killed
run resumes (``resume=True``) without recomputing finished estimators.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__, metrics, registry
from .api import Estimator, FitData, Split
from .generators import ConfigError
from .store import Store, StoreError, open_store

__all__ = ["PRIOR_CONTROLS", "EvalError", "run_eval", "tune", "default_run_dir"]

PRIOR_CONTROLS = ("shuffled", "zeros", "oracle")
RUN_FORMAT = 1


class EvalError(ConfigError):
    """An evaluation cannot start (bad store, target, estimator or run directory)."""


class EstimatorFailure(Exception):
    """An estimator misbehaved; the message says how (recorded, the run goes on)."""


@dataclass
class Outcome:
    """What happened to one estimator in a run."""

    name: str
    status: str  # "ok", "failed" or "skipped" (done in an earlier run, resumed)
    record: dict[str, Any] = field(default_factory=dict)


def default_run_dir(store_path: str | os.PathLike, target: int) -> Path:
    stem = Path(store_path).resolve().name.removesuffix(".zarr")
    return Path("runs") / f"{stem}-target{target}"


def default_estimators(log=lambda message: None) -> list[str]:
    """Every registered estimator name; learned ones only where torch is installed."""
    import importlib.util

    names = list(registry.available())
    if importlib.util.find_spec("torch") is None:
        torch_based = [n for n in names if registry.available()[n][0].startswith("ogmbench.baselines.nets")]
        log(f"torch is not installed: skipping {', '.join(torch_based)} (pip install torch)")
        names = [n for n in names if n not in torch_based]
    return names


def train_seed_values(seed: int, count: int) -> list[int]:
    """The seeds of ``count`` trainings: ``seed`` itself first, then spawned ones."""
    extra = np.random.SeedSequence(seed, spawn_key=(11,)).generate_state(max(count - 1, 0))
    return [int(seed)] + [int(s) for s in extra]


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"unet:profile=quick,steps=50"`` -> (``"unet"``, {"profile": "quick", "steps": 50}).

    Parameters follow the last ``:``; values are read as JSON when they parse (numbers,
    true/false) and kept as strings otherwise.  ``pkg.mod:Class`` has no ``=`` and is
    left alone.
    """
    head, sep, tail = spec.rpartition(":")
    if sep and "=" not in tail and head in registry.available():
        raise EvalError(f"estimator {spec!r}: parameters are written {head}:key=value[,key=value]")
    if not sep or "=" not in tail:
        return spec, {}
    params = {}
    for item in filter(None, (p.strip() for p in tail.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise EvalError(f"estimator {spec!r}: expected key=value, got {item!r}")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value.strip()
    return head, params


# --------------------------------------------------------------------------- tuning


def tune(cls: type[Estimator], data: FitData, *, target: int, seed: int, device: str,
         fixed: dict[str, Any] | None = None):
    """Fit every point of ``cls.param_grid`` on train and keep the best by val MSE.

    ``fixed`` parameters are set by the user and taken out of the grid.  Returns
    (fitted estimator, chosen params, table of [params, val_mse]).  Ties keep the
    earlier grid point.  Without val samples the defaults are used, untuned.
    """
    fixed = dict(fixed or {})
    grid = {k: v for k, v in cls.param_grid.items() if k not in fixed}
    keys = list(grid)
    combos = [dict(zip(keys, values)) for values in itertools.product(*grid.values())] or [{}]
    if len(data.val) == 0:
        combos = [{}]
    best, table = None, []
    for params in combos:
        model = cls(**fixed, **params).fit(data, target=target, seed=seed, device=device)
        score = val_mse(model, data.val, target) if len(data.val) else float("nan")
        table.append({"params": _jsonable(params), "val_mse": score})
        if best is None or score < best[0]:
            best = (score, model, params)
    return best[1], best[2], table


def val_mse(model: Estimator, split: Split, target: int) -> float:
    total, count = 0.0, 0
    for noisy, clean, _ in split.iter_chunks():
        estimate = _checked_predict(model, noisy, target)
        total += float(np.sum((estimate.astype(np.float64) - clean[:, target]) ** 2))
        count += estimate.size
    return total / max(count, 1)


def _checked_predict(model: Estimator, noisy: np.ndarray, target: int) -> np.ndarray:
    noisy = np.ascontiguousarray(noisy)
    noisy.setflags(write=False)  # an estimator that writes to its input fails loudly
    try:
        out = model.predict(noisy, target)
    except Exception as exc:
        raise EstimatorFailure(f"predict raised {type(exc).__name__}: {exc}") from exc
    b, _, h, w = noisy.shape
    if not isinstance(out, np.ndarray):
        raise EstimatorFailure(f"predict returned {type(out).__name__}, expected a numpy array")
    if out.shape != (b, h, w):
        raise EstimatorFailure(f"predict returned shape {out.shape}, expected {(b, h, w)}")
    if out.dtype != np.float32:
        raise EstimatorFailure(f"predict returned dtype {out.dtype}, expected float32")
    if not np.isfinite(out).all():
        raise EstimatorFailure("predict returned NaN or inf")
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        raise EstimatorFailure(f"predict returned values outside [0, 1] "
                               f"(min {out.min():.3g}, max {out.max():.3g})")
    return out


# --------------------------------------------------------------------------- controls


def _apply_control(control: str, noisy: np.ndarray, prior: list[int],
                   partner_prior: np.ndarray | None, clean: np.ndarray) -> np.ndarray:
    """A copy of ``noisy`` with the prior classes shuffled, zeroed or made clean."""
    out = noisy.copy()
    if control == "zeros":
        out[:, prior] = 0.0
    elif control == "oracle":
        out[:, prior] = clean[:, prior]
    elif control == "shuffled":
        out[:, prior] = partner_prior
    return out


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation without fixed points (n >= 2): a random cycle."""
    order = rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[order] = np.roll(order, -1)
    return partner


# --------------------------------------------------------------------------- the run


def run_eval(
    store: str | os.PathLike,
    estimators: Sequence[str] | None = None,
    *,
    target: int = 0,
    out: str | os.PathLike | None = None,
    prior_controls: Sequence[str] = (),
    seed: int = 0,
    device: str = "auto",
    workers: int = 1,
    resume: bool = False,
    profile: str | None = None,
    training: dict[str, Any] | None = None,
    checkpoints: str | os.PathLike | None = None,
    train_seeds: int = 1,
    keep: Sequence[int] = (),
    progress: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, list[Outcome]]:
    """Evaluate estimators on a store's test split and write a run directory.

    Parameters
    ----------
    store : path
        A complete ogmbench store with train, val and test samples.
    estimators : list of str, optional
        Registry names, ``pkg.module:Class`` or ``path/file.py:Class``; default: all
        registered estimators.
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
        Threads splitting each test chunk between ``predict`` calls.
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
    train_seeds : int
        Trainings per stochastic (learned) estimator, each with its own seed; the
        leaderboard reports the mean over them with an interval across them.
    checkpoints : path, optional
        Where learned estimators keep their checkpoints (default ``RUN_DIR/checkpoints``);
        point several runs at one folder to train once per store, target, seed and
        configuration.
    keep : sequence of int
        Test sample indices whose estimates (first training seed, no prior control) are
        saved per estimator to ``RUN_DIR/kept/<name>.npy`` (for galleries).
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
    opened = _open(store)
    classes = opened.classes
    if not (isinstance(target, (int, np.integer)) and 0 <= target < classes):
        raise EvalError(f"target must be a class index in 0..{classes - 1} "
                        f"({', '.join(opened.class_names)}), got {target}")
    test = opened.indices("test")
    if test.size == 0:
        raise EvalError(f"{opened.path} has no test samples (split fractions "
                        f"{opened.attrs['split_fractions']}); regenerate with a test fraction")
    prior_controls = list(dict.fromkeys(prior_controls))  # a repeated control counts once
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise EvalError(f"seed must be a non-negative integer, got {seed}")
    for control in prior_controls:
        if control not in PRIOR_CONTROLS:
            raise EvalError(f"unknown prior control {control!r} (allowed: {', '.join(PRIOR_CONTROLS)})")
    if "shuffled" in prior_controls and test.size < 2:
        raise EvalError("the shuffled prior control needs at least 2 test samples")
    if int(workers) != workers or workers < 1:
        raise EvalError(f"workers must be an integer >= 1, got {workers}")
    if int(train_seeds) != train_seeds or not 1 <= train_seeds <= 100:
        raise EvalError(f"train-seeds must be an integer in [1, 100], got {train_seeds}")
    keep = [int(i) for i in keep]
    outside = sorted(set(keep) - set(test.tolist()))
    if outside:
        raise EvalError(f"keep: {outside[:5]} are not test sample indices")
    specs = list(estimators) if estimators else default_estimators(log)
    resolved = []
    for spec in specs:
        ref, fixed = split_spec(spec)
        try:
            name, cls, source = registry.load(ref)
        except registry.RegistryError as exc:
            raise EvalError(str(exc)) from None
        if any(r[0] == name for r in resolved):
            raise EvalError(f"estimator {name!r} is listed twice")
        run_wide = {}
        if "profile" in cls.param_names():
            run_wide = {**({"profile": profile} if profile else {}), **(training or {})}
            run_wide = {k: v for k, v in run_wide.items()
                        if k not in fixed and k in cls.param_names()}
        fixed = {**run_wide, **fixed}
        unknown = sorted(set(fixed) - set(cls.param_names()))
        if unknown:
            raise EvalError(f"estimator {name!r} has no parameter {', '.join(map(repr, unknown))} "
                            f"(parameters: {', '.join(cls.param_names()) or 'none'})")
        try:  # constructors may validate their parameters: a usage error, before any work
            cls(**fixed)
        except (TypeError, ValueError) as exc:
            raise EvalError(f"estimator {name!r}: {exc}") from None
        resolved.append((name, cls, source, spec, fixed, sorted(run_wide)))
    # After loading: an estimator module that needs torch has imported it by now.
    device = resolve_device(device)

    run_dir = Path(out) if out is not None else default_run_dir(opened.path, target)
    settings = {"store": str(opened.path.resolve()), "store_digest": opened.attrs["digest"],
                "target": int(target), "seed": int(seed),
                "prior_controls": sorted(prior_controls)}
    checkpoint_dir = Path(checkpoints) if checkpoints is not None else run_dir / "checkpoints"
    if checkpoint_dir.exists() and not checkpoint_dir.is_dir():
        raise EvalError(f"--checkpoints {checkpoint_dir} exists and is not a directory")
    run = _open_run(run_dir, settings, resume, opened, device)

    prior = [k for k in range(classes) if k != target]
    train = Split(store=opened, indices=opened.indices("train"))
    val = Split(store=opened, indices=opened.indices("val"))
    partners = None
    if "shuffled" in prior_controls:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
        partners = test[_derangement(test.size, rng)]

    outcomes = []
    for name, cls, source, spec, fixed, run_wide in resolved:
        # Prior controls only matter to estimators that use the prior; the store counts by
        # its digest, not its path (a moved store is the same data).
        own = {k: v for k, v in settings.items()
               if k != "store" and (cls.uses_prior or k != "prior_controls")}
        extra = {"_train_seeds": int(train_seeds)}
        if source.startswith("file "):
            import hashlib

            path = Path(source[5:]).resolve()
            source = f"file {path} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]})"
            extra["_source"] = source
        key = _estimator_key(cls, own, {**fixed, **extra})
        # Runs made before ogmbench keyed the store by digest only (the key had the path
        # too) still resume in place.
        legacy = _estimator_key(cls, {**own, "store": settings["store"]}, {**fixed, **extra})
        previous = run["estimators"].get(name)
        if (resume and previous and previous.get("status") == "ok"
                and previous.get("key") in (key, legacy)
                and (run_dir / previous["samples_file"]).is_file()
                and (not keep or (previous.get("kept") == keep
                                  and (run_dir / previous["kept_file"]).is_file()))):
            log(f"{name}: done in an earlier run, kept")
            outcomes.append(Outcome(name, "skipped", previous))
            continue
        record = {"spec": spec, "source": source, "class": f"{cls.__module__}:{cls.__qualname__}",
                  "version": cls.version, "uses_prior": cls.uses_prior,
                  "stochastic": cls.stochastic, "key": key,
                  "fixed_params": fixed, "run_params": run_wide}
        fit_data = FitData(train, val, cache_dir=checkpoint_dir,
                           cache_key=f"{opened.attrs['digest']}:{target}",
                           progress=None if progress is None else
                           (lambda step, total, msg, _n=name: progress(f"{_n} train", step, total,
                                                                       msg)))
        controls = ["none"] + [c for c in prior_controls if cls.uses_prior and prior]
        try:
            seeds = train_seed_values(seed, train_seeds if cls.stochastic else 1)
            rows, kept = _evaluate_one(name, cls, fixed, record, opened, fit_data, test, target,
                                       prior, controls, partners, seeds, device, int(workers),
                                       progress, keep)
        except EstimatorFailure as exc:
            record.update(status="failed", reason=str(exc))
            log(f"{name}: FAILED: {exc}")
        else:
            path = run_dir / "samples" / f"{name}.parquet"
            _write_parquet(rows, path)
            record.update(status="ok", samples_file=str(path.relative_to(run_dir)))
            if keep:
                kept_path = run_dir / "kept" / f"{name}.npy"
                _write_npy(np.stack([kept[i] for i in keep]), kept_path)
                record.update(kept=keep, kept_file=str(kept_path.relative_to(run_dir)))
            log(f"{name}: ok ({record['timings']['test_samples_per_s']:.1f} samples/s)")
        run["estimators"][name] = record
        _write_json(run, run_dir / "run.json")
        outcomes.append(Outcome(name, record["status"], record))
    run["finished_at"] = _now()
    _write_json(run, run_dir / "run.json")
    return run_dir, outcomes


def _evaluate_one(name, cls, fixed, record, store, fit_data, test, target, prior, controls,
                  partners, seeds, device, workers, progress, keep=()):
    """Fit (per training seed), pick the val threshold, stream the test split.

    Returns the rows and {sample index: estimate} of the ``keep`` samples.
    """
    columns: dict[str, list] = {k: [] for k in _COLUMNS}
    kept: dict[int, np.ndarray] = {}
    keep = set(keep)
    record["train_seeds"] = []
    totals = {"fit_s": 0.0, "predict_s": 0.0, "test_s": 0.0}
    done, total = 0, test.size * len(controls) * len(seeds)
    for seed_index, fit_seed in enumerate(seeds):
        start = time.perf_counter()
        try:
            model, chosen, table = tune(cls, fit_data, target=target, seed=fit_seed, device=device,
                                        fixed=fixed)
        except EstimatorFailure:
            raise
        except Exception as exc:
            raise EstimatorFailure(f"fit raised {type(exc).__name__}: {exc}"
                                   f" [{_where(exc)}]") from exc
        totals["fit_s"] += time.perf_counter() - start
        threshold, val_iou = _val_threshold(model, fit_data.val, target)
        info = {"seed": int(fit_seed), "params": _jsonable(model.get_params()),
                "tuned": _jsonable(chosen), "tuning": table, "val_threshold": threshold,
                "val_iou_at_threshold": val_iou, "describe": _jsonable(model.describe())}
        record["train_seeds"].append(info)
        if seed_index == 0:  # the first seed's choices, at the top level for quick reading
            record.update({k: info[k] for k in ("params", "tuned", "tuning", "val_threshold",
                                               "val_iou_at_threshold", "describe")})
        test_start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            fields = ("clean", "noisy") + (("phi_matrix",) if store.classes > 2 else ())
            for block in store.iter_chunks("test", fields=fields):
                if store.classes > 2 and prior:
                    # phi of the target and its first prior class (the store's phi is 0-1).
                    block["phi"] = block["phi_matrix"][:, target, prior[0]]
                clean = block["clean"]
                for control in controls:
                    noisy = block["noisy"]
                    if control != "none":
                        partner_prior = None
                        if control == "shuffled":
                            partner_prior = _read_prior(store, partners[block["index"] - test[0]],
                                                        prior)
                        noisy = _apply_control(control, noisy, prior, partner_prior, clean)
                    t0 = time.perf_counter()
                    estimate = _predict_parallel(model, noisy, target, workers, pool)
                    totals["predict_s"] += time.perf_counter() - t0
                    _append_rows(columns, name, control, seed_index, block, estimate,
                                 clean[:, target], threshold)
                    if control == "none" and seed_index == 0 and keep:
                        for j, index in enumerate(block["index"].tolist()):
                            if index in keep:
                                kept[index] = estimate[j].copy()  # not a view of the batch
                    done += len(clean)
                    if progress is not None:
                        progress(name, done, total)
        # test_s: the whole test loop (reading, controls, predict, checks, metrics).
        totals["test_s"] += time.perf_counter() - test_start
    record["timings"] = {k: round(v, 4) for k, v in totals.items()}
    record["timings"]["test_samples_per_s"] = round(done / max(totals["test_s"], 1e-9), 2)
    return columns, kept


def _predict_parallel(model, noisy, target, workers, pool):
    if workers == 1 or len(noisy) < 2:
        return _checked_predict(model, noisy, target)
    parts = np.array_split(np.arange(len(noisy)), min(workers, len(noisy)))
    futures = [pool.submit(_checked_predict, model, noisy[p], target) for p in parts]
    return np.concatenate([f.result() for f in futures])


def _read_prior(store: Store, indices: np.ndarray, prior: list[int]) -> np.ndarray:
    order = np.argsort(indices)
    values = store.noisy.get_orthogonal_selection((indices[order], prior))
    out = np.empty_like(values)
    out[order] = values
    return out


def _val_threshold(model, val: Split, target: int) -> tuple[float, float]:
    if len(val) == 0:
        return 0.5, float("nan")
    estimates, cleans = [], []
    for noisy, clean, _ in val.iter_chunks():
        estimates.append(_checked_predict(model, noisy, target))
        cleans.append(clean[:, target])
    return metrics.best_threshold(estimates, cleans)


_COLUMNS = ("estimator", "control", "train_seed", "sample", "rho", "phi", "mse", "brier", "psnr", "iou",
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
    for key in ("mse", "brier", "psnr", "iou", "tp", "fp", "fn"):
        columns[key] += scores[key].tolist()
    columns["threshold"] += [threshold] * n
    for key in ("tp", "fp", "fn"):
        columns[f"{key}_t"] += at_t[key].tolist()
    columns["cal_n"] += cal[:, 0].tolist()
    columns["cal_p"] += cal[:, 1].tolist()
    columns["cal_y"] += cal[:, 2].tolist()


def _write_parquet(columns: dict[str, list], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.table(columns), tmp)
    os.replace(tmp, path)


def _write_npy(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".npy.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _write_json(data: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def _open(store) -> Store:
    try:
        return open_store(store)
    except StoreError as exc:
        raise EvalError(str(exc)) from None


def _open_run(run_dir: Path, settings: dict, resume: bool, store: Store, device: str) -> dict:
    meta = run_dir / "run.json"
    if run_dir.exists() and not run_dir.is_dir():
        raise EvalError(f"--out {run_dir} exists and is not a directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        if not resume:
            raise EvalError(f"{run_dir} already holds a run; pass --resume to continue it "
                            "or choose another --out")
        try:
            run = json.loads(meta.read_text())
        except (OSError, ValueError):
            raise EvalError(f"{run_dir} is not an ogmbench run directory (no readable run.json)") from None
        if run.get("format") != RUN_FORMAT:
            raise EvalError(f"{run_dir} has run format {run.get('format')!r}, expected {RUN_FORMAT}")
        # Other prior controls are fine: affected estimators are recomputed (learned ones
        # from their checkpoints); another store, target or seed is another run.
        # The digest names the data: a store that moved (same digest) is the same store.
        differ = [k for k, v in settings.items() if k not in ("prior_controls", "store")
                  and run.get(k) != v]
        if differ:
            raise EvalError(f"--resume: {run_dir} was run with other settings ({', '.join(differ)})")
        run["store"] = settings["store"]
        run["prior_controls"] = settings["prior_controls"]
        run.setdefault("resumed_at", [])
        if isinstance(run["resumed_at"], str):
            run["resumed_at"] = [run["resumed_at"]]
        run["resumed_at"].append(_now())
        return run
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalError(f"cannot create run directory {run_dir}: {exc.strerror}") from None
    import numpy
    import scipy

    import platform
    import sys

    versions = {"ogmbench": __version__, "python": platform.python_version(),
                "numpy": numpy.__version__, "scipy": scipy.__version__}
    for module in ("zarr", "pandas", "pyarrow", "skimage", "torch"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "?")
    run = {"format": RUN_FORMAT, **settings, "device": device,
           "family": store.attrs["family"], "noise": store.attrs["noise"],
           "class_names": store.class_names, "target_name": store.class_names[settings["target"]],
           "versions": versions,
           "started_at": _now(), "estimators": {}}
    _write_json(run, meta)
    return run


def _estimator_key(cls, settings, fixed) -> str:
    import hashlib

    text = json.dumps([f"{cls.__module__}:{cls.__qualname__}", cls.version,
                       _jsonable(cls.default_params()), _jsonable(cls.param_grid), settings,
                       _jsonable(fixed)],
                      sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU (torch imported), else ``"cpu"``.

    ``"cuda"`` without a GPU is an :class:`EvalError`.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise EvalError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "cpu"
    available = False
    try:
        import sys

        if "torch" in sys.modules or device == "cuda":
            import torch

            available = torch.cuda.is_available()
    except ImportError:
        available = False
    if device == "cuda" and not available:
        raise EvalError("--device cuda: no CUDA device is available")
    return "cuda" if available else "cpu"


def _where(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}"


def _jsonable(value):
    """Plain JSON types, with NaN and inf as null (strict JSON has neither)."""
    value = json.loads(json.dumps(value, default=_json_default))

    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return clean(value)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
