"""The keys a benchmark file may hold, their types, and the checks every table shares:
each refuses a value with one :class:`BenchmarkError` line naming the file, the table and
the key."""

from __future__ import annotations

from ..names import show
from ._model import BenchmarkError

SECTIONS = ("benchmark", "dataset", "eval", "profile", "check")  # in the order they are checked
BENCHMARK_KEYS = {"name": str, "version": int, "description": str}
DATASET_KEYS = {"name": str, "family": str, "noise": str, "target": int, "params": dict,
                "description": str, "classes": (int, list), "size": (int, list),
                "frames": int}
EVAL_KEYS = {"estimators": list, "prior_controls": list, "reference": str, "seed": int,
             "timeout": (int, float), "scaling": list}
PROFILE_KEYS = {"description": str, "rho": list, "samples_per_rho": int, "size": (int, list),
                "split": list, "seed": int, "test_seed": int, "training": str, "steps": int, "train_seeds": int,
                "device": str, "datasets": list, "train_sizes": list, "estimators": list,
                "dask": str}
PROFILE_REQUIRED = ("rho", "samples_per_rho", "size", "training")
CHECK_KEYS = {"rtol": (int, float), "atol": (int, float, dict)}
TRAINING = ("quick", "default", "paper")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "an array",
               dict: "a table", bool: "a boolean"}
_WORDS = {2: "two", 3: "three"}


def table_of(data: dict, key: str, where: str, label: str | None = None) -> dict:
    """``data[key]``, which must be a table."""
    value = data[key]
    if not isinstance(value, dict):
        raise BenchmarkError(f"{where}: [{label or key}] must be a table")
    return value


def check_keys(table: dict, allowed: dict, where: str, label: str, required=()) -> None:
    """Every key of ``table`` is one of ``allowed`` and of its type; ``required`` are there."""
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


def strings(values, where, label) -> list[str]:
    """An array of distinct strings."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BenchmarkError(f"{where}: {label} must be an array of strings")
    if len(set(values)) != len(values):
        raise BenchmarkError(f"{where}: {label} lists a name twice")
    return list(values)


def numbers(values, where, label, length=None) -> None:
    """An array of numbers (of ``length`` numbers, if given)."""
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise BenchmarkError(f"{where}: {label} must be an array of numbers, got {values!r}")
    if length is not None and len(values) != length:
        raise BenchmarkError(f"{where}: {label} must have {_WORDS.get(length, length)} numbers, got {len(values)}")


def check_size(size, where, table) -> None:
    """A size given as an array is two integers (a number is checked by its type)."""
    if isinstance(size, list) and (
            len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                      for v in size)):
        raise BenchmarkError(f"{where}: {table}: size must be an integer or [height, width] "
                             f"integers, got {size!r}")


def chosen(prof: dict, key: str, known, where: str, table: str, unknown: str) -> list[str] | None:
    """The names a profile's ``key`` lists (None when absent), each one of ``known``."""
    if key not in prof:
        return None
    wanted = strings(prof[key], where, f"{table} {key}")
    for name in wanted:
        if name not in known:
            raise BenchmarkError(f"{where}: {table} {key}: {name!r} {unknown} "
                                 f"({', '.join(map(show, known))})")
    if not wanted:
        raise BenchmarkError(f"{where}: {table} {key} is empty")
    return wanted
