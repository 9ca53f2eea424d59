"""An estimator's job in a run and the key that decides whether its results are reused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import seeding
from ..api import PAST_CONTROLS
from ..eval_config import EvalConfig
from ..runs import json_default, jsonable
from ..scoring import Job, run_columns
from ..specs import EstimatorSpec


def plan(spec: EstimatorSpec, config: EvalConfig, settings: dict[str, Any],
         prior: list[int]) -> tuple[Job, dict[str, Any], tuple[str, str]]:
    """An estimator's job, the start of its record and the keys its results may have been
    recorded under: its key, and that of runs made before ogmbench keyed the store by its
    digest only (which still resume in place)."""
    fixed, from_run = spec.with_training(config.run_wide)
    cls = spec.cls
    # A twin is scored on its own prior sources only (test-time controls measure how much
    # a model trained on the real priors relies on each); the others get the controls of
    # the sources they read: the classes' if they use the prior (and there is one), the
    # past's if they read the past.
    # A reference that knows the true model reads the prior by construction: no control
    # asks whether it does (and each would cost a whole sampled posterior again).
    knows = getattr(cls, "knows_model", False)
    controls = [] if spec.replaced or knows else [
        c for c in config.prior_controls
        if (cls.uses_past if c in PAST_CONTROLS else cls.uses_prior and prior)]
    # Controls only matter to estimators they apply to; the store counts by its digest,
    # not its path (a moved store is the same data).
    own = {k: v for k, v in settings.items()
           if k != "store" and ((cls.uses_prior and not knows) or k != "prior_controls")}
    if cls.uses_past:
        own["prior_controls"] = sorted(controls)
    extra = _extra(spec, config.train_seeds)
    record = {"spec": spec.text, "source": extra.get("_source", spec.source),
              "class": f"{cls.__module__}:{cls.__qualname__}", "version": cls.version,
              "uses_prior": cls.uses_prior, "stochastic": cls.stochastic,
              **({"uses_past": True, "past_source": spec.past} if cls.uses_past else {}),
              "key": _estimator_key(cls, own, {**fixed, **extra}),
              "fixed_params": fixed, "run_params": from_run, "prior_source": spec.prior}
    seeds = seeding.train_seeds(config.seed, config.train_seeds if cls.stochastic else 1)
    legacy = _estimator_key(cls, {**own, "store": settings["store"]}, {**fixed, **extra})
    return Job(spec, fixed, seeds, ["none"] + controls), record, (record["key"], legacy)


def _extra(spec: EstimatorSpec, train_seeds: int) -> dict[str, Any]:
    """What else an estimator's key depends on: its training seeds, prior sources and,
    for an estimator loaded from a file, that file's content."""
    extra: dict[str, Any] = {"_train_seeds": int(train_seeds)}
    if spec.prior != "noisy":
        extra["_prior"] = spec.prior
    if spec.past != "noisy":
        extra["_past"] = spec.past
    if spec.source.startswith("file "):
        path = Path(spec.source[5:]).resolve()
        extra["_source"] = (f"file {path} "
                            f"(sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]})")
    return extra


def reusable(run, name: str, keys: tuple[str, ...], keep: list[int]) -> bool:
    """Whether a resumed run's results of estimator ``name`` stand: recorded under one
    of ``keys`` (its key, or the legacy one of :func:`plan`), with a column for every
    registered metric (one registered since is scored anew), every result file in place.

    Parameters
    ----------
    run : ogmbench.runs.Run
    name : str
    keys : tuple of str
    keep : list of int
        The kept test samples the run must hold estimates of.
    """
    previous = run.record(name)
    return (previous is not None and previous.data.get("key") in keys
            and set(run_columns()) <= set(previous.data.get("columns", _COLUMNS_BEFORE))
            and run.has_results(name, keep))


# The columns of runs recorded before records listed theirs: the built-in metrics'.
_COLUMNS_BEFORE = ("estimator", "control", "train_seed", "sample", "rho", "phi", "mse", "psnr",
                   "iou", "tp", "fp", "fn", "threshold", "tp_t", "fp_t", "fn_t", "cal_n",
                   "cal_p", "cal_y")


def _estimator_key(cls, settings, fixed) -> str:
    text = json.dumps([f"{cls.__module__}:{cls.__qualname__}", cls.version,
                       jsonable(cls.default_params()), jsonable(cls.param_grid), settings,
                       jsonable(fixed)],
                      sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
