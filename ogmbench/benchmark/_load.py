"""Reading a benchmark file: :func:`load_benchmark` checks every table and key in the
order a reader meets them, then resolves every profile (not only the one asked for, so a
broken profile is found before any work starts) into a :class:`Benchmark`."""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..api import CONTROLS, DEVICES
from ..errors import ConfigError
from ..execution import parse_address
from ..metrics import METRICS
from ..names import is_plain, show
from ..seeding import is_seed
from ..specs import EstimatorSpec, resolve_all
from ..truth import supported
from ..tuning import MAX_TIMEOUT
from ._datasets import datasets
from ._format import (BENCHMARK_KEYS, CHECK_KEYS, EVAL_KEYS, PROFILE_KEYS, PROFILE_REQUIRED,
                      SECTIONS, TRAINING, check_keys, chosen, strings, table_of)
from ._model import Benchmark, BenchmarkError


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
    data = _read(path, where)
    check_keys(data, {k: object for k in SECTIONS}, where, "the top level")
    for section in SECTIONS:
        if section not in data:
            raise BenchmarkError(f"{where}: missing [{section}] section"
                                 if section != "dataset" else
                                 f"{where}: no [[dataset]] tables (give at least one)")
    head = _head(data, where)
    profiles = _profiles(data, profile, where)
    ev = _eval(data, where)
    rtol, atol, atol_metric = _tolerance(data, where)
    common = dict(path=path, name=head["name"], version=head["version"],
                  description=head.get("description", ""),
                  prior_controls=tuple(ev["prior_controls"]), reference=ev["reference"],
                  seed=ev["seed"], timeout=ev["timeout"], rtol=rtol, atol=atol,
                  atol_metric=atol_metric, profiles=tuple(profiles))
    # Every profile is validated, not only the one run: a broken paper profile is found
    # on a laptop, not hours into a GPU job.
    resolved = _resolve(ev["estimators"], {}, f"{where}: [eval] estimators")  # once for every profile
    for name in [p for p in profiles if p != profile] + [profile]:
        bench = _profile(data, name, profiles[name], common, ev, resolved, where)
    return bench


# A benchmark file is a page of settings: anything larger (/dev/zero, a log) is refused
# after reading this much, never read whole.  A pipe (reproduce <(cat b.toml)) is read.
MAX_BENCHMARK_BYTES = 1 << 20


def _read(path: Path, where: str) -> dict:
    """The file's TOML, or one line saying why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BENCHMARK_BYTES + 1)
        if len(data) > MAX_BENCHMARK_BYTES:
            raise BenchmarkError(f"{where} is larger than {MAX_BENCHMARK_BYTES >> 20} MiB: not "
                                 "a benchmark file")
        return tomllib.loads(data.decode("utf-8"))
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


def _head(data: dict, where: str) -> dict:
    """The ``[benchmark]`` table: a plain name and a version >= 1."""
    head = table_of(data, "benchmark", where)
    check_keys(head, BENCHMARK_KEYS, where, "[benchmark]", required=("name", "version"))
    if not is_plain(head["name"]):
        raise BenchmarkError(f"{where}: [benchmark] name must be letters, digits, '-', '_' or "
                             f"'.' and not start with '.', got {show(head['name'])}")
    if head["version"] < 1:
        raise BenchmarkError(f"{where}: [benchmark] version must be an integer >= 1, "
                             f"got {head['version']}")
    return head


def _profiles(data: dict, profile: str, where: str) -> dict[str, dict]:
    """The ``[profile.NAME]`` tables, ``profile`` among them, each with known keys."""
    profiles = table_of(data, "profile", where)
    if not profiles:
        raise BenchmarkError(f"{where}: [profile] has no profiles (add [profile.default])")
    if profile not in profiles:
        raise BenchmarkError(f"{where}: no profile {profile!r} "
                             f"(profiles: {', '.join(map(show, profiles))})")
    for name in profiles:
        # A profile names the default report folder (runs/<benchmark>-<profile>).
        if not is_plain(name):
            raise BenchmarkError(f"{where}: [profile.{show(name)}]: a profile name must be "
                                 "letters, digits, '-', '_' or '.' and not start with '.'")
        table_of(profiles, name, where, f"profile.{show(name)}")
        check_keys(profiles[name], PROFILE_KEYS, where, f"[profile.{show(name)}]",
                   required=PROFILE_REQUIRED)
    return profiles


def _eval(data: dict, where: str) -> dict[str, Any]:
    """The ``[eval]`` table with its defaults: estimators, prior controls, reference,
    scaling estimators, seed and timeout."""
    ev = table_of(data, "eval", where)
    check_keys(ev, EVAL_KEYS, where, "[eval]", required=("estimators",))
    estimators = strings(ev["estimators"], where, "[eval] estimators")
    if not estimators:
        raise BenchmarkError(f"{where}: [eval] estimators is empty")
    controls = strings(ev.get("prior_controls", []), where, "[eval] prior_controls")
    for control in controls:
        if control not in CONTROLS:
            raise BenchmarkError(f"{where}: [eval] prior_controls: unknown control {control!r} "
                                 f"(allowed: {', '.join(CONTROLS)})")
    reference = ev.get("reference", "unet")
    scaling = strings(ev.get("scaling", []), where, "[eval] scaling")
    seed = ev.get("seed", 0)
    if not is_seed(seed):
        raise BenchmarkError(f"{where}: [eval] seed must be an integer from 0 to 2^63 - 1, "
                             f"got {seed}"[:200])
    timeout = ev.get("timeout")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise BenchmarkError(f"{where}: [eval] timeout must be a positive number of seconds, "
                             f"got {timeout!r}")
    return {"estimators": estimators, "prior_controls": controls, "reference": reference,
            "scaling": scaling, "seed": seed, "timeout": timeout}


def _tolerance(data: dict, where: str) -> tuple[float, float, dict[str, float]]:
    """The ``[check]`` table: rtol, and atol as one number or one per metric."""
    check = table_of(data, "check", where)
    check_keys(check, CHECK_KEYS, where, "[check]", required=("rtol", "atol"))
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
    return rtol, atol, atol_metric


def _profile(data: dict, name: str, prof: dict, common: dict[str, Any], ev: dict[str, Any],
             resolved: list[EstimatorSpec], where: str) -> Benchmark:
    """Profile ``name`` (its table ``prof``) resolved: its datasets and training, the
    estimators it runs (of ``resolved``, the ``[eval]`` ones), their roles and its sweep."""
    table = f"[profile.{show(name)}]"
    keep = _profile_estimators(prof, [spec.name for spec in resolved], where, table)
    bench = Benchmark(**common, profile=name, profile_description=prof.get("description", ""),
                      datasets=datasets(data, prof, name, where),
                      estimators=tuple(ev["estimators"][i] for i in keep),
                      **_training(prof, name, where))
    # Each profile's training settings are checked against every estimator it runs.
    specs = _resolve([resolved[i] for i in keep], bench.training_params,
                     f"{where}: [eval] estimators")
    label = _check_roles(specs, ev["reference"], ev["scaling"], where, table)
    _check_datasets(specs, bench.datasets, ev["reference"], where, table)
    return replace(bench, specs=tuple(specs), reference_label=label,
                   train_sizes=_train_sizes(prof, bench.datasets, name, where),
                   scaling=tuple(ev["scaling"]))


def _check_datasets(specs, datasets, reference: str, where: str, table: str) -> None:
    """Every estimator runs on some dataset of the profile, the reference on all (an
    estimator that reads the past runs on the datasets of sequences only)."""
    for spec in specs:
        on = [d.name for d in datasets if d.runs(spec)]
        if not on:
            raise BenchmarkError(f"{where}: {table}: {spec.name} {_runs_nowhere(spec)}")
        if spec.name == reference and len(on) < len(datasets):
            missing = next(d.name for d in datasets if not d.runs(spec))
            raise BenchmarkError(f"{where}: [eval] reference {reference} reads past frames, "
                                 f"and dataset {missing!r} of {table} holds single maps")


def _runs_nowhere(spec) -> str:
    """Why no dataset of a profile runs ``spec``, in words that follow its name."""
    if getattr(spec.cls, "knows_model", False):
        return (f"reads the true model, and no dataset of the profile is one it reads "
                f"({supported()}, single maps)")
    return "reads past frames and no dataset of the profile holds sequences (a dataset's frames)"


def _profile_estimators(prof: dict, names: list[str], where: str, table: str) -> list[int]:
    """Positions in ``[eval] estimators`` of those the profile runs (all by default)."""
    wanted = chosen(prof, "estimators", names, where, table, "is not one of [eval] estimators")
    return [i for i, name in enumerate(names) if wanted is None or name in wanted]


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
    """:func:`~ogmbench.specs.resolve_all`, its refusal prefixed with ``where``."""
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
            raise BenchmarkError(f"--estimator {text}: {spec.name} {_runs_nowhere(spec)} "
                                 f"(profile {bench.profile})")
        taken.add(spec.name)
        out.append(spec)
    return out


def _training(prof: dict, name: str, where: str) -> dict[str, Any]:
    table = f"[profile.{show(name)}]"
    training = prof["training"]
    if training not in TRAINING:
        raise BenchmarkError(f"{where}: {table} training must be one of {', '.join(TRAINING)}, "
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
