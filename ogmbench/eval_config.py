"""What ``ogmbench eval`` is asked to do, validated once: :class:`EvalConfig`.

As :class:`~ogmbench.config.GenerateConfig` is for generation: every setting of a run
checked before any work, with one line naming the problem.  What can be checked without
the store is checked when the config is made; what depends on the store (its classes,
splits and frames) by :func:`check_store`, before a run directory is touched.  The
settings a run directory records, which decide whether it can be resumed, are made here
too (:func:`run_settings`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .api import CONTROLS, PAST_CONTROLS
from .errors import ConfigError
from .execution import Execution, check_workers
from .places import absolute
from .seeding import is_seed, rho_id
from .specs import runs_on
from .store import Store
from .truth import TrueModel
from .tuning import MAX_TIMEOUT

__all__ = ["EvalError", "EvalConfig", "check_store", "check_specs", "train_indices",
           "run_settings"]


class EvalError(ConfigError):
    """An evaluation cannot start (bad store, target, estimator or run directory)."""


@dataclass(frozen=True)
class EvalConfig:
    """The settings of one evaluation, validated when made.

    Parameters
    ----------
    target : int
        Class to denoise; every other class is the prior.
    out : path, optional
        Run directory (default ``runs/<store>-target<target>``).
    prior_controls : sequence of str
        Re-run every estimator that uses the prior with the test priors shuffled across
        samples, zeroed, or replaced by the clean prior (``shuffled``, ``zeros``,
        ``oracle``); on sequences, the ``past-`` controls do the same to the target's
        past frames.  A repeated control counts once.
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
        Continue a run directory, or add estimators to it: finished estimators are not
        recomputed.  A resume that names no prior control keeps the run's.
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

    Raises
    ------
    EvalError
        With one line naming the first setting that is not allowed.
    """

    target: int = 0
    out: str | os.PathLike | None = None
    prior_controls: Sequence[str] = ()
    seed: int = 0
    device: str = "auto"
    workers: int = 1
    threads: int | None = None
    dask: str | Execution | None = None
    resume: bool = False
    profile: str | None = None
    training: dict[str, Any] | None = field(default=None, hash=False)
    checkpoints: str | os.PathLike | None = None
    train_seeds: int = 1
    train_size: int | None = None
    keep: Sequence[int] = ()
    timeout: float | None = None

    def __post_init__(self):
        _check_paths(self.out, self.checkpoints)
        _check_timeout(self.timeout)
        if not is_seed(self.seed):
            raise EvalError(f"seed must be an integer from 0 to 2^63 - 1, got {self.seed}"[:200])
        for control in self.prior_controls:
            if control not in CONTROLS:
                raise EvalError(f"unknown prior control {control!r} "
                                f"(allowed: {', '.join(CONTROLS)})")
        try:  # against the run's cores when it starts (check_store)
            check_workers(self.workers)
        except ConfigError as exc:
            raise EvalError(str(exc)) from None
        if int(self.train_seeds) != self.train_seeds or not 1 <= self.train_seeds <= 100:
            raise EvalError(f"train-seeds must be an integer in [1, 100], got {self.train_seeds}")
        object.__setattr__(self, "prior_controls", tuple(dict.fromkeys(self.prior_controls)))
        object.__setattr__(self, "keep", tuple(int(i) for i in self.keep))

    @property
    def run_wide(self) -> dict[str, Any]:
        """The training settings handed to every estimator with a ``profile`` parameter."""
        return {**({"profile": self.profile} if self.profile else {}), **(self.training or {})}


def _check_paths(out, checkpoints) -> None:
    if out is not None and not str(out).strip():
        raise EvalError("--out is empty; give a run directory")
    if checkpoints is not None and not str(checkpoints).strip():
        raise EvalError("--checkpoints is empty; give a folder")


def _check_timeout(timeout) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= MAX_TIMEOUT):
        raise EvalError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}], "
                        f"got {timeout!r}")


def check_store(store: Store, config: EvalConfig, threads: int) -> np.ndarray:
    """Refuse settings that the store makes impossible, before any work.

    Parameters
    ----------
    store : Store
    config : EvalConfig
    threads : int
        The cores the run may use (``workers`` may not exceed them).

    Returns
    -------
    numpy.ndarray
        The test sample indices.

    Raises
    ------
    EvalError
        For a target outside the store's classes, a store without test samples, a
        control the store cannot give, too many workers or kept samples outside test.
    """
    classes, target = store.classes, config.target
    if not (isinstance(target, (int, np.integer)) and 0 <= target < classes):
        raise EvalError(f"target must be a class index in 0..{classes - 1} "
                        f"({', '.join(store.class_names)}), got {target}")
    test = store.indices("test")
    if test.size == 0:
        raise EvalError(f"{store.path} has no test samples (split fractions "
                        f"{store.attrs['split_fractions']}); regenerate with a test fraction")
    for control in config.prior_controls:
        if control in PAST_CONTROLS and store.frames == 1:
            raise EvalError(f"the {control} control replaces past frames, and {store.path} "
                            "holds single maps (generate --frames T)")
        if control.endswith("shuffled") and test.size < 2:
            raise EvalError(f"the {control} prior control needs at least 2 test samples")
    try:
        check_workers(config.workers, threads, "this run")
    except ConfigError as exc:
        raise EvalError(str(exc)) from None
    outside = sorted(set(config.keep) - set(test.tolist()))
    if outside:
        raise EvalError(f"keep: {outside[:5]} are not test sample indices")
    return test


def check_specs(store: Store, specs) -> None:
    """An estimator that reads the past needs sequences; a blind twin needs another
    sample to take its prior from in every split it reads.

    Parameters
    ----------
    store : Store
    specs : list of EstimatorSpec

    Raises
    ------
    EvalError
        Naming the first estimator the store cannot run.
    """
    for spec in specs:
        true_model(store, spec)
        if not runs_on(spec.cls, store.frames):
            raise EvalError(f"{spec.name} reads past frames, and {store.path} holds single "
                            "maps: give it a store of sequences (generate --frames T)")
        if "shuffled" not in (spec.prior, spec.past):
            continue
        for split in ("train", "val", "test"):
            if store.indices(split).size == 1:
                raise EvalError(f"{spec.name} takes its prior from another sample of the "
                                f"same split, and {store.path} has a single {split} sample")


def true_model(store: Store, spec) -> TrueModel | None:
    """The store's true model for a reference that declares ``knows_model``, else None.

    Raises
    ------
    EvalError
        For an estimator that declares it without being built in (a submission never
        reads the true model), or a store whose model the reference cannot read.
    """
    if not getattr(spec.cls, "knows_model", False):
        return None
    if spec.source != "built-in":
        raise EvalError(f"{spec.name} declares knows_model, which only ogmbench's built-in "
                        "references may: a submission never reads the true model")
    try:
        model = TrueModel.from_attrs(store.attrs)
        model.check(spec.cls)
        return model
    except ConfigError as exc:
        raise EvalError(f"{spec.name}: {exc}") from None


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
    rho = rho_id(np.asarray(store.rho[:])[indices])  # the one rule for equal rho values
    fewest = min(int((rho == r).sum()) for r in np.unique(rho)) if indices.size else 0
    if (isinstance(train_size, bool) or not isinstance(train_size, (int, np.integer))
            or not 1 <= train_size <= fewest):
        raise EvalError(f"train size must be an integer in [1, {fewest}] (the train samples "
                        f"of each rho in {store.path}), got {train_size}")
    return np.sort(np.concatenate([indices[rho == r][:int(train_size)] for r in np.unique(rho)]))


def run_settings(store: Store, config: EvalConfig) -> dict[str, Any]:
    """What a run directory records of the run's settings: a resumed run must agree on
    them, but for the store's path (its digest names the data) and the prior controls
    (the estimators they affect are recomputed).

    Parameters
    ----------
    store : Store
    config : EvalConfig

    Returns
    -------
    dict
        ``store``, ``store_digest``, ``store_meta_digest`` (a store's metadata digest),
        ``target``, ``seed``, ``prior_controls`` and, for a data-scaling run,
        ``train_size``.
    """
    settings = {"store": absolute(store.path), "store_digest": store.attrs["digest"],
                "target": int(config.target), "seed": int(config.seed),
                "prior_controls": sorted(config.prior_controls)}
    if store.attrs.get("meta_digest"):  # absent in stores made before it: runs resume
        settings["store_meta_digest"] = store.attrs["meta_digest"]
    if config.train_size is not None:  # absent otherwise: runs made before the sweep resume
        settings["train_size"] = int(config.train_size)
    return settings
