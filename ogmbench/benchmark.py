"""Benchmark definitions: a TOML file of datasets, estimators and profiles, validated.

A benchmark file (``leaderboard/benchmark.toml`` is the reference one) has::

    [benchmark]   name, version, description
    [[dataset]]   name, family, noise, target, params, classes (a number, or names for
                  a family with named classes), size (instead of the profile's: a
                  dataset at its own scale), frames (sequences of that many frames;
                  params may then hold dt, noise_memory and the family's motion),
                  description   (one table per dataset)
    [eval]        estimators, prior_controls, reference, seed, timeout (seconds per
                  estimator; a hanging one fails instead of holding the run), scaling
                  (estimators trained again, with the reference, at each train size)
    [profile.X]   rho, samples_per_rho, size, split, seed, training, steps,
                  train_seeds, device, datasets, description, estimators (names of
                  [eval] estimators it runs; default all), train_sizes (train samples
                  per rho of the data-scaling sweep, below the split's), dask (where
                  ``reproduce`` runs without --dask or $DASK_SCHEDULER_ADDRESS, e.g.
                  "local"; not a result setting)
    [check]       rtol, atol   (tolerance of ``reproduce --check``; atol may be a table
                               of one value per metric, since metrics differ in units)

:func:`load_benchmark` reads one profile into a :class:`Benchmark` with every dataset's
generation settings resolved by :func:`ogmbench.config.make_config` and every estimator
resolved once (:class:`ogmbench.specs.EstimatorSpec`), so an impossible value is refused
before any work starts, with one line naming the file, the table and the key.  (Over
400 lines on purpose: one file format, validated in one place, a message per key.)
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .api import CONTROLS, DEVICES, PAST_CONTROLS
from .config import GenerateConfig, make_config
from .errors import ConfigError
from .execution import parse_address
from .metrics import METRICS
from .names import is_plain, show
from .specs import EstimatorSpec, resolve_all, runs_on
from .tuning import MAX_TIMEOUT

__all__ = ["Benchmark", "Dataset", "BenchmarkError", "load_benchmark", "resolve_extra"]


class BenchmarkError(ConfigError):
    """A benchmark file cannot be used; the message names the file, table and key."""


_SECTIONS = {"benchmark", "dataset", "eval", "profile", "check"}
_BENCHMARK_KEYS = {"name": str, "version": int, "description": str}
_DATASET_KEYS = {"name": str, "family": str, "noise": str, "target": int, "params": dict,
                 "description": str, "classes": (int, list), "size": (int, list),
                 "frames": int}
_EVAL_KEYS = {"estimators": list, "prior_controls": list, "reference": str, "seed": int,
              "timeout": (int, float), "scaling": list}
_PROFILE_KEYS = {"description": str, "rho": list, "samples_per_rho": int, "size": (int, list),
                 "split": list, "seed": int, "training": str, "steps": int, "train_seeds": int,
                 "device": str, "datasets": list, "train_sizes": list, "estimators": list,
                 "dask": str}
_PROFILE_REQUIRED = ("rho", "samples_per_rho", "size", "training")
_CHECK_KEYS = {"rtol": (int, float), "atol": (int, float, dict)}
_TRAINING = ("quick", "default", "paper")


@dataclass(frozen=True)
class Dataset:
    """One dataset of a benchmark profile: its store settings and the class to denoise."""

    name: str
    config: GenerateConfig
    target: int
    description: str = ""

    @property
    def target_name(self) -> str:
        return self.config.class_names[self.target]

    def runs(self, spec: EstimatorSpec) -> bool:
        """Whether this dataset runs ``spec`` (one that reads the past needs sequences)."""
        return runs_on(spec.cls, self.config.frames)

    def controls(self, controls: tuple[str, ...]) -> tuple[str, ...]:
        """The prior ``controls`` that apply to this dataset: those that replace past
        frames only where there are past frames (a dataset of sequences)."""
        return tuple(c for c in controls
                     if self.config.frames > 1 or c not in PAST_CONTROLS)


@dataclass(frozen=True)
class Benchmark:
    """One profile of a benchmark file, validated and resolved."""

    path: Path
    name: str
    version: int
    profile: str
    description: str
    profile_description: str
    datasets: tuple[Dataset, ...]
    estimators: tuple[str, ...]
    prior_controls: tuple[str, ...]
    reference: str
    seed: int
    training: str
    steps: int | None
    train_seeds: int
    device: str
    rtol: float
    atol: float
    atol_metric: dict[str, float] = field(default_factory=dict)
    profiles: tuple[str, ...] = field(default=())
    timeout: float | None = None  # seconds per estimator; not a result setting (no hash)
    dask: str | None = None  # where reproduce runs by default; not a result setting either
    specs: tuple[EstimatorSpec, ...] = field(default=())  # ``estimators``, resolved
    reference_label: str = ""
    # The data-scaling sweep: train samples per rho below the split's, and the estimators
    # (with the reference) trained at each.
    train_sizes: tuple[int, ...] = ()
    scaling: tuple[str, ...] = ()

    @property
    def scaling_specs(self) -> tuple[EstimatorSpec, ...]:
        """The reference and the ``scaling`` estimators: what each train size trains."""
        if not self.train_sizes:
            return ()
        wanted = {self.reference, *self.scaling}
        return tuple(spec for spec in self.specs if spec.name in wanted)

    @property
    def labels(self) -> tuple[str, ...]:
        """Row labels of the benchmark's estimators."""
        return tuple(spec.label for spec in self.specs)

    def tolerance(self, metric: str) -> tuple[float, float]:
        """(atol, rtol) of ``reproduce --check`` for one metric."""
        return self.atol_metric.get(metric, self.atol), self.rtol

    @property
    def training_params(self) -> dict[str, Any]:
        """Parameters fixed on every learned estimator (the profile's training)."""
        return {"profile": self.training, **({"steps": self.steps} if self.steps else {})}

    def to_json(self) -> dict[str, Any]:
        """Everything that determines the results (not the file's path or descriptions)."""
        return {
            "benchmark": self.name, "version": self.version, "profile": self.profile,
            "datasets": [{"name": d.name, "target": d.target, "config": d.config.to_json()}
                         for d in self.datasets],
            "estimators": list(self.estimators), "prior_controls": list(self.prior_controls),
            "reference": self.reference, "seed": self.seed, "training": self.training_params,
            "train_seeds": self.train_seeds, "device": self.device,
            **({"train_sizes": list(self.train_sizes), "scaling": list(self.scaling)}
               if self.train_sizes else {}),
        }

    def config_hash(self, dataset: Dataset | None = None) -> str:
        """A short hash of the resolved settings (of one dataset's part, if given)."""
        data = self.to_json()
        if dataset is not None:
            data["datasets"] = [d for d in data["datasets"] if d["name"] == dataset.name]
            data["prior_controls"] = list(dataset.controls(self.prior_controls))
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_benchmark(path: str | Path, profile: str = "default") -> Benchmark:
    """Read and validate one profile of a benchmark file.

    Parameters
    ----------
    path : path
        A TOML benchmark file.
    profile : str
        Name of a ``[profile.NAME]`` table in it.

    Raises
    ------
    BenchmarkError
        One line naming the file, the table, the key and what is allowed.
    """
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchmarkError(f"benchmark file {where} does not exist") from None
    except IsADirectoryError:
        raise BenchmarkError(f"benchmark file {where} is a directory") from None
    except UnicodeDecodeError:
        raise BenchmarkError(f"{where} is not a text (TOML) file") from None
    except tomllib.TOMLDecodeError as exc:
        raise BenchmarkError(f"{where} is not valid TOML: {exc}") from None
    except RecursionError:
        raise BenchmarkError(f"{where} is not a benchmark file: its arrays or tables nest "
                             "too deep") from None
    _keys(data, {k: object for k in _SECTIONS}, where, "the top level")
    for section in ("benchmark", "dataset", "eval", "profile", "check"):
        if section not in data:
            raise BenchmarkError(f"{where}: missing [{section}] section"
                                 if section != "dataset" else
                                 f"{where}: no [[dataset]] tables (give at least one)")
    head = _table(data, "benchmark", where)
    _keys(head, _BENCHMARK_KEYS, where, "[benchmark]", required=("name", "version"))
    if not is_plain(head["name"]):
        raise BenchmarkError(f"{where}: [benchmark] name must be letters, digits, '-', '_' or "
                             f"'.' and not start with '.', got {show(head['name'])}")
    if head["version"] < 1:
        raise BenchmarkError(f"{where}: [benchmark] version must be an integer >= 1, "
                             f"got {head['version']}")

    profiles = _table(data, "profile", where)
    if not profiles:
        raise BenchmarkError(f"{where}: [profile] has no profiles (add [profile.default])")
    if profile not in profiles:
        raise BenchmarkError(f"{where}: no profile {profile!r} "
                             f"(profiles: {', '.join(map(show, profiles))})")
    for name in profiles:
        _table(profiles, name, where, f"profile.{show(name)}")
        _keys(profiles[name], _PROFILE_KEYS, where, f"[profile.{show(name)}]",
              required=_PROFILE_REQUIRED)

    ev = _table(data, "eval", where)
    _keys(ev, _EVAL_KEYS, where, "[eval]", required=("estimators",))
    estimators = _strings(ev["estimators"], where, "[eval] estimators")
    if not estimators:
        raise BenchmarkError(f"{where}: [eval] estimators is empty")
    controls = _strings(ev.get("prior_controls", []), where, "[eval] prior_controls")
    for control in controls:
        if control not in CONTROLS:
            raise BenchmarkError(f"{where}: [eval] prior_controls: unknown control {control!r} "
                                 f"(allowed: {', '.join(CONTROLS)})")
    reference = ev.get("reference", "unet")
    scaling = _strings(ev.get("scaling", []), where, "[eval] scaling")
    seed = _nonneg(ev.get("seed", 0), where, "[eval] seed")
    timeout = ev.get("timeout")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise BenchmarkError(f"{where}: [eval] timeout must be a positive number of seconds, "
                             f"got {timeout!r}")

    check = _table(data, "check", where)
    _keys(check, _CHECK_KEYS, where, "[check]", required=("rtol", "atol"))
    rtol = float(check["rtol"])
    atol_metric = check["atol"]
    if not isinstance(atol_metric, dict):
        atol_metric, atol = {}, float(check["atol"])
    else:
        atol = 0.0
        unknown = sorted(set(atol_metric) - set(METRICS))
        missing = [m for m in METRICS if m not in atol_metric]
        if unknown or missing:
            raise BenchmarkError(
                f"{where}: [check] atol: " + (f"unknown metric {unknown[0]!r}" if unknown
                                             else f"no value for {missing[0]!r}")
                + f" (give one number per metric: {', '.join(METRICS)})")
        bad = [m for m, v in atol_metric.items()
               if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise BenchmarkError(f"{where}: [check] atol.{bad[0]} must be a number")
        atol_metric = {m: float(v) for m, v in atol_metric.items()}
    if not all(math.isfinite(v) for v in (rtol, atol, *atol_metric.values())):
        raise BenchmarkError(f"{where}: [check] rtol and atol must be finite numbers")
    if rtol < 0 or atol < 0 or any(v < 0 for v in atol_metric.values()):
        raise BenchmarkError(f"{where}: [check] rtol and atol must be >= 0")

    # Every profile is validated, not only the one run: a broken paper profile is found
    # on a laptop, not hours into a GPU job.
    chosen = None
    resolved = _resolve(estimators, {}, f"{where}: [eval] estimators")  # once for every profile
    for name in [p for p in profiles if p != profile] + [profile]:
        prof = profiles[name]
        table = f"[profile.{show(name)}]"
        keep = _profile_estimators(prof, [spec.name for spec in resolved], where, table)
        bench = Benchmark(
            path=path, name=head["name"], version=head["version"], profile=name,
            description=head.get("description", ""),
            profile_description=prof.get("description", ""),
            datasets=_datasets(data, prof, name, where),
            estimators=tuple(estimators[i] for i in keep),
            prior_controls=tuple(controls), reference=reference, seed=seed, timeout=timeout,
            rtol=rtol, atol=atol, atol_metric=atol_metric, profiles=tuple(profiles), **_training(prof, name, where),
        )
        # Each profile's training settings are checked against every estimator it runs.
        specs = _resolve([resolved[i] for i in keep], bench.training_params,
                         f"{where}: [eval] estimators")
        label = _check_roles(specs, reference, scaling, where, table)
        _check_datasets(specs, bench.datasets, reference, where, table)
        chosen = replace(bench, specs=tuple(specs), reference_label=label,
                         train_sizes=_train_sizes(prof, bench.datasets, name, where),
                         scaling=tuple(scaling))
    return chosen


def _check_datasets(specs, datasets, reference: str, where: str, table: str) -> None:
    """Every estimator runs on some dataset of the profile, the reference on all (an
    estimator that reads the past runs on the datasets of sequences only)."""
    for spec in specs:
        on = [d.name for d in datasets if d.runs(spec)]
        if not on:
            raise BenchmarkError(f"{where}: {table}: {spec.name} reads past frames and no "
                                 "dataset of the profile holds sequences (a dataset's frames)")
        if spec.name == reference and len(on) < len(datasets):
            missing = next(d.name for d in datasets if not d.runs(spec))
            raise BenchmarkError(f"{where}: [eval] reference {reference} reads past frames, "
                                 f"and dataset {missing!r} of {table} holds single maps")


def _profile_estimators(prof: dict, names: list[str], where: str, table: str) -> list[int]:
    """Positions in ``[eval] estimators`` of those the profile runs (all by default)."""
    wanted = _chosen(prof, "estimators", names, where, table, "is not one of [eval] estimators")
    return [i for i, name in enumerate(names) if wanted is None or name in wanted]


def _chosen(prof: dict, key: str, known, where: str, table: str, unknown: str) -> list[str] | None:
    """The names a profile's ``key`` lists (None when absent), each one of ``known``."""
    if key not in prof:
        return None
    wanted = _strings(prof[key], where, f"{table} {key}")
    for name in wanted:
        if name not in known:
            raise BenchmarkError(f"{where}: {table} {key}: {name!r} {unknown} "
                                 f"({', '.join(map(show, known))})")
    if not wanted:
        raise BenchmarkError(f"{where}: {table} {key} is empty")
    return wanted


def _check_roles(specs, reference: str, scaling, where: str, table: str) -> str:
    """Check the reference and the scaling estimators against a profile's; return the
    reference's row label."""
    names = [spec.name for spec in specs]
    if reference not in names:
        raise BenchmarkError(f"{where}: [eval] reference {reference!r} is not one of the "
                             f"estimators of {table} ({', '.join(map(show, names))})")
    if specs[names.index(reference)].cls.uses_prior:
        raise BenchmarkError(f"{where}: [eval] reference {reference!r} reads the prior; the "
                             "prior gain is measured against an estimator that does not")
    for name in scaling:
        if name not in names or name == reference:
            raise BenchmarkError(f"{where}: [eval] scaling: {name!r} is not one of the "
                                 f"estimators of {table} other than the reference "
                                 f"({', '.join(map(show, names))})")
    return specs[names.index(reference)].label


def _resolve(texts, training, where: str, taken=()) -> list[EstimatorSpec]:
    try:
        return resolve_all(texts, training=training, taken=taken)
    except ConfigError as exc:
        raise BenchmarkError(f"{where}: {exc}") from None


def resolve_extra(bench: Benchmark, texts) -> list[EstimatorSpec]:
    """Resolve estimators added to a benchmark on the command line (``--estimator``).

    Raises
    ------
    BenchmarkError
        For a spec that does not resolve, or an estimator the benchmark already has.
    """
    taken = {spec.name for spec in bench.specs}
    out = []
    for text in texts:
        spec = _resolve([text], bench.training_params, "--estimator")[0]
        if spec.name in taken:
            raise BenchmarkError(f"--estimator {text}: {spec.name!r} is already in the benchmark")
        if not any(d.runs(spec) for d in bench.datasets):
            raise BenchmarkError(f"--estimator {text}: {spec.name} reads past frames and no "
                                 f"dataset of profile {bench.profile} holds sequences")
        taken.add(spec.name)
        out.append(spec)
    return out


def _training(prof: dict, name: str, where: str) -> dict[str, Any]:
    table = f"[profile.{show(name)}]"
    training = prof["training"]
    if training not in _TRAINING:
        raise BenchmarkError(f"{where}: {table} training must be one of {', '.join(_TRAINING)}, "
                             f"got {training!r}")
    steps = prof.get("steps")
    if steps is not None and steps < 1:
        raise BenchmarkError(f"{where}: {table} steps must be an integer >= 1, got {steps}")
    train_seeds = prof.get("train_seeds", 1)
    if not 1 <= train_seeds <= 100:
        raise BenchmarkError(f"{where}: {table} train_seeds must be in [1, 100], got {train_seeds}")
    device = prof.get("device", "auto")
    if device not in DEVICES:
        raise BenchmarkError(f"{where}: {table} device must be auto, cpu or cuda, got {device!r}")
    dask = prof.get("dask")
    if dask is not None:
        try:
            parse_address(dask, "its value")
        except ConfigError as exc:
            raise BenchmarkError(f"{where}: {table} dask: {exc}") from None
    return {"training": training, "steps": steps, "train_seeds": train_seeds, "device": device,
            "dask": dask}


def _train_sizes(prof: dict, datasets, name: str, where: str) -> tuple[int, ...]:
    table = f"[profile.{show(name)}]"
    sizes = prof.get("train_sizes", [])
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
        raise BenchmarkError(f"{where}: {table} train_sizes must be an array of integers, "
                             f"got {sizes!r}")
    if len(set(sizes)) != len(sizes):
        raise BenchmarkError(f"{where}: {table} train_sizes lists a size twice")
    full = min(d.config.counts[0] for d in datasets)
    for size in sizes:
        # The whole train split is the main run's: the sweep adds smaller ones.
        if not 1 <= size < full:
            raise BenchmarkError(f"{where}: {table} train_sizes: {size} is not in [1, {full - 1}] "
                                 f"(train samples per rho below the split's {full}, which the "
                                 "main run uses)")
    return tuple(sorted(sizes))


def _check_size(size, where, table) -> None:
    if isinstance(size, list) and (
            len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                      for v in size)):
        raise BenchmarkError(f"{where}: {table}: size must be an integer or [height, width] "
                             f"integers, got {size!r}")


def _datasets(data, prof, profile, where) -> tuple[Dataset, ...]:
    entries = data["dataset"]
    if not isinstance(entries, list) or not entries:
        raise BenchmarkError(f"{where}: dataset must be an array of tables ([[dataset]])")
    by_name = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BenchmarkError(f"{where}: dataset {i + 1} is not a table")
        label = f"[[dataset]] {show(entry.get('name', i + 1))}"
        _keys(entry, _DATASET_KEYS, where, label, required=("name", "family"))
        name = entry["name"]
        if not is_plain(name):
            raise BenchmarkError(f"{where}: {label}: name must be letters, digits, '-', '_' or "
                                 f"'.', got {name!r}")
        if name in by_name:
            raise BenchmarkError(f"{where}: two datasets are named {name!r}")
        by_name[name] = entry
    table = f"[profile.{show(profile)}]"
    chosen = _chosen(prof, "datasets", list(by_name), where, table, "is not a dataset")
    chosen = list(by_name) if chosen is None else chosen
    _numbers(prof["rho"], where, f"{table} rho")
    if "split" in prof:
        _numbers(prof["split"], where, f"{table} split", length=3)
    _check_size(prof["size"], where, table)
    if prof["samples_per_rho"] < 1:
        raise BenchmarkError(f"{where}: {table} samples_per_rho must be an integer >= 1, "
                             f"got {prof['samples_per_rho']}")
    out = []
    for name in chosen:
        entry = by_name[name]
        label = f"[[dataset]] {show(name)} with {table}"
        if "size" in entry:
            _check_size(entry["size"], where, f"[[dataset]] {show(name)}")
        classes = entry.get("classes")
        if isinstance(classes, list) and not all(isinstance(c, str) for c in classes):
            raise BenchmarkError(f"{where}: [[dataset]] {show(name)}: classes must be a number "
                                 f"or a list of class names, got {classes!r}")
        try:
            config = make_config(
                family=entry["family"], noise=entry.get("noise"), rho=prof["rho"],
                samples_per_rho=prof["samples_per_rho"], size=entry.get("size", prof["size"]),
                classes=classes, seed=prof.get("seed", 0),
                split=prof.get("split", (0.7, 0.1, 0.2)), params=entry.get("params"),
                frames=entry.get("frames", 1),
            )
        except ConfigError as exc:
            raise BenchmarkError(f"{where}: {label}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise BenchmarkError(f"{where}: {label}: {exc}") from None
        counts = config.counts
        if counts[0] == 0 or counts[2] < 2:
            raise BenchmarkError(f"{where}: {label}: the split {list(config.split)} of "
                                 f"{config.samples_per_rho} samples per rho leaves "
                                 + ("no train samples" if counts[0] == 0 else
                                    "no test samples" if counts[2] == 0 else
                                    "only 1 test sample per rho; intervals need at least 2"))
        target = entry.get("target", 0)
        if not 0 <= target < config.classes:
            raise BenchmarkError(f"{where}: [[dataset]] {show(name)}: target must be a class index in "
                                 f"0..{config.classes - 1}, got {target}")
        out.append(Dataset(name=name, config=config, target=target,
                           description=entry.get("description", "")))
    return tuple(out)


def _table(data: dict, key: str, where: str, label: str | None = None) -> dict:
    value = data[key]
    if not isinstance(value, dict):
        raise BenchmarkError(f"{where}: [{label or key}] must be a table")
    return value


def _keys(table: dict, allowed: dict, where: str, label: str, required=()) -> None:
    for key in table:
        if key not in allowed:
            raise BenchmarkError(f"{where}: {label}: unknown key {key!r} "
                                 f"(allowed: {', '.join(allowed)})")
    for key in required:
        if key not in table:
            raise BenchmarkError(f"{where}: {label}: missing key {key!r}")
    for key, value in table.items():
        kind = allowed[key]
        if kind is object:
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            names = " or ".join(_TYPE_NAMES[k] for k in kinds)
            raise BenchmarkError(f"{where}: {label}: {key} must be {names}, "
                                 f"got {_TYPE_NAMES.get(type(value), type(value).__name__)} "
                                 f"{value!r}")


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "an array",
               dict: "a table", bool: "a boolean"}


def _strings(values, where, label) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BenchmarkError(f"{where}: {label} must be an array of strings")
    if len(set(values)) != len(values):
        raise BenchmarkError(f"{where}: {label} lists a name twice")
    return list(values)


_WORDS = {2: "two", 3: "three"}


def _numbers(values, where, label, length=None) -> None:
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise BenchmarkError(f"{where}: {label} must be an array of numbers, got {values!r}")
    if length is not None and len(values) != length:
        raise BenchmarkError(f"{where}: {label} must have {_WORDS.get(length, length)} numbers, got {len(values)}")


def _nonneg(value, where, label) -> int:
    if value < 0:
        raise BenchmarkError(f"{where}: {label} must be a non-negative integer, got {value}")
    return int(value)
