"""The ``[[dataset]]`` tables of a benchmark file, read with one profile's data settings
into :class:`Dataset` s whose generation settings :func:`~ogmbench.config.make_config`
has resolved."""

from __future__ import annotations

from ..config import make_config
from ..names import is_plain, show
from ._format import DATASET_KEYS, check_keys, check_size, chosen, numbers
from ._model import BenchmarkError, Dataset


def datasets(data: dict, prof: dict, profile: str, where: str) -> tuple[Dataset, ...]:
    """The datasets profile ``profile`` (its table ``prof``) generates: those its
    ``datasets`` lists, in that order, else every one of the file."""
    by_name = _entries(data, where)
    table = f"[profile.{show(profile)}]"
    wanted = chosen(prof, "datasets", list(by_name), where, table, "is not a dataset")
    wanted = list(by_name) if wanted is None else wanted
    _check_profile(prof, where, table)
    return tuple(_dataset(name, by_name[name], prof, where, table) for name in wanted)


def _entries(data: dict, where: str) -> dict[str, dict]:
    """The ``[[dataset]]`` tables by name, each with known keys and a plain, unique name."""
    entries = data["dataset"]
    if not isinstance(entries, list) or not entries:
        raise BenchmarkError(f"{where}: dataset must be an array of tables ([[dataset]])")
    by_name = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BenchmarkError(f"{where}: dataset {i + 1} is not a table")
        label = f"[[dataset]] {show(entry.get('name', i + 1))}"
        check_keys(entry, DATASET_KEYS, where, label, required=("name", "family"))
        name = entry["name"]
        if not is_plain(name):
            raise BenchmarkError(f"{where}: {label}: name must be letters, digits, '-', '_' or "
                                 f"'.', got {name!r}")
        if name in by_name:
            raise BenchmarkError(f"{where}: two datasets are named {name!r}")
        by_name[name] = entry
    return by_name


def _check_profile(prof: dict, where: str, table: str) -> None:
    """The profile's data settings that every dataset shares."""
    numbers(prof["rho"], where, f"{table} rho")
    if "split" in prof:
        numbers(prof["split"], where, f"{table} split", length=3)
    check_size(prof["size"], where, table)
    if prof["samples_per_rho"] < 1:
        raise BenchmarkError(f"{where}: {table} samples_per_rho must be an integer >= 1, "
                             f"got {prof['samples_per_rho']}")


def _dataset(name: str, entry: dict, prof: dict, where: str, table: str) -> Dataset:
    """One dataset with the profile's settings: its store settings, resolved and checked
    to leave train samples and at least two test samples per rho, and its target."""
    label = f"[[dataset]] {show(name)} with {table}"
    if "size" in entry:
        check_size(entry["size"], where, f"[[dataset]] {show(name)}")
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
            frames=entry.get("frames", 1), test_seed=prof.get("test_seed"),
        )
    except (TypeError, ValueError) as exc:  # a ConfigError is a ValueError
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
    return Dataset(name=name, config=config, target=target,
                   description=entry.get("description", ""))
