"""Run directories: the only reader and writer of what ``ogmbench eval`` leaves behind.

A run directory holds::

    run.json                  provenance: store, target, seed, device, versions, and per
                              estimator its source, parameters, tuning, status, timings
    samples/<name>.parquet    one row per (test sample, prior control, training seed)
    kept/<name>.npy           the estimates of a few test samples (for galleries)
    checkpoints/              what learned estimators trained (unless put elsewhere)
    leaderboard.csv           the aggregated table
    .ogmbench-lock            while a process writes the run (ogmbench.locks)

A run directory may be an fsspec URL on object storage (``s3://bucket/runs/x``).  Every
file is written whole (to a temporary name renamed into place; on object storage by one
PUT, see :func:`~ogmbench.places.write_atomic`), so a killed run leaves each file
either as it was or complete, and resumes without recomputing finished
estimators.  :class:`Run` is the typed view the other rooms read; nothing else parses
``run.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from ._version import __version__
from .curves import all_converged
from .errors import UsageError
from .locks import hold
from .names import file_name
from .places import Place, Remote, location, write_atomic
from .specs import HIDDEN_IN_LABELS, estimator_label

__all__ = ["RUN_FORMAT", "RUN_KIND", "RunDirError", "Run", "Record", "read_run", "open_run", "is_run",
           "clear_run",
           "default_run_dir", "jsonable", "json_default", "now"]

RUN_FORMAT = 1
RUN_FILE = "run.json"
LOCK_FILE = ".ogmbench-lock"
# Only ogmbench writes this: a folder is ogmbench's to resume or replace when its run.json
# says so (runs made before the marker carry every key below instead).
RUN_KIND = "ogmbench eval run"
_RUN_KEYS = ("format", "store", "store_digest", "target", "seed", "device", "versions",
             "started_at", "estimators")


class RunDirError(UsageError):
    """A run directory cannot be read or used; the message names it and why."""


def now() -> str:
    """UTC time stamp as recorded in run.json."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def default_run_dir(store_path: str | os.PathLike, target: int) -> Path:
    """``runs/<store name>-target<N>``: where ``ogmbench eval`` writes by default."""
    stem = location(store_path).resolve().name.removesuffix(".zarr")
    return Path("runs") / f"{stem}-target{target}"


@dataclass(frozen=True)
class Record:
    """One estimator's entry of a run (a read-only view of its ``run.json`` record)."""

    name: str
    data: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.data.get("status") == "ok"

    @property
    def fixed_params(self) -> dict[str, Any]:
        """Parameters fixed for it, run-wide training settings included."""
        return dict(self.data.get("fixed_params") or {})

    @property
    def run_params(self) -> tuple[str, ...]:
        """Which of the fixed parameters came from run-wide training settings."""
        return tuple(self.data.get("run_params", ()))

    @property
    def label(self) -> str:
        """Its leaderboard row label: user-fixed parameters shown, run-wide ones hidden."""
        return estimator_label(self.name, self.fixed_params, (*HIDDEN_IN_LABELS, *self.run_params))

    @property
    def converged(self) -> bool | None:
        """Whether its training converged, judged now by :mod:`ogmbench.curves` from the
        curves it recorded (a run resumed from before the rule changed is judged by the
        rule of today); None when untold."""
        if not self.learned:
            return None
        return all_converged([info.get("describe", {}).get("curve")
                              if isinstance(info, dict) and isinstance(info.get("describe"), dict)
                              else None for info in self.data.get("train_seeds") or []])

    @property
    def curves(self) -> list[list[list[float]]]:
        """The learning curve (``[[step, val_mse[, lr]], ...]``) of each training seed."""
        out = []
        for info in self.data.get("train_seeds") or []:
            describe = info.get("describe") if isinstance(info, dict) else None
            if isinstance(describe, dict) and isinstance(describe.get("curve"), list):
                out.append(describe["curve"])
        return out

    @property
    def prior_source(self) -> str:
        """Where its X2 came from at training and test (``noisy`` unless it is a twin)."""
        return str(self.data.get("prior_source", "noisy"))

    @property
    def past_source(self) -> str:
        """Where its target's past frames came from (``noisy`` unless it is a past twin)."""
        return str(self.data.get("past_source", "noisy"))

    @property
    def twin_of(self) -> str | None:
        """The label of the estimator this is a twin of (None when it is none)."""
        if self.prior_source == "noisy" and self.past_source == "noisy":
            return None
        # specs.twin_name appends the X2 source, then the past's.
        base = self.name
        if self.past_source != "noisy":
            base = base.removesuffix(f"-past-{self.past_source}")
        if self.prior_source != "noisy":
            base = base.removesuffix(f"-{self.prior_source}")
        return estimator_label(base, self.fixed_params, (*HIDDEN_IN_LABELS, *self.run_params))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.data.get("params", {}))

    @property
    def version(self) -> str:
        return str(self.data.get("version", ""))

    @property
    def uses_prior(self) -> bool:
        return bool(self.data.get("uses_prior", False))

    @property
    def uses_past(self) -> bool:
        return bool(self.data.get("uses_past", False))

    @property
    def learned(self) -> bool:
        return bool(self.data.get("stochastic", False))

    @property
    def kept(self) -> list[int]:
        """Test sample indices whose estimates were kept (empty when none)."""
        return list(self.data.get("kept", [])) if "kept_file" in self.data else []


class Run:
    """A run directory and its ``run.json``.

    Use :func:`read_run` to read one and :func:`open_run` to start or resume one.

    Attributes
    ----------
    path : Path
    data : dict
        The parsed ``run.json``, as written.
    """

    def __init__(self, path: Place, data: dict[str, Any]):
        self.path = location(path)
        self.data = data
        self._lock: contextlib.ExitStack | None = None

    def close(self) -> None:
        """Release the run directory to other writers (a run from :func:`open_run`)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __repr__(self) -> str:
        return f"<ogmbench.Run {self.path} estimators={list(self.data.get('estimators', {}))}>"

    # -- reading ---------------------------------------------------------------------

    @property
    def store(self) -> str:
        return self.data["store"]

    @property
    def store_digest(self) -> str:
        return self.data["store_digest"]

    @property
    def target(self) -> int:
        return int(self.data["target"])

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def device(self) -> str:
        return self.data["device"]

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level ``run.json`` value (provenance: family, noise, ...)."""
        return self.data.get(key, default)

    def records(self) -> Iterator[Record]:
        """Every estimator of the run, in the order they were first evaluated."""
        for name, data in self.data.get("estimators", {}).items():
            yield Record(name, data)

    def record(self, name: str) -> Record | None:
        data = self.data.get("estimators", {}).get(name)
        return None if data is None else Record(name, data)

    def samples(self, name: str):
        """The per-sample rows of a finished estimator (a ``pyarrow.Table``).

        Raises
        ------
        RunDirError
            When the file is missing or unreadable.
        """
        import pyarrow.parquet as pq

        record = self.data["estimators"][name]
        try:
            return pq.read_table(_readable(self.path / record["samples_file"]))
        except (OSError, ValueError, KeyError) as exc:
            raise RunDirError(f"{self.path}: cannot read the results of {name!r} ({exc})") from None

    def kept(self, name: str) -> np.ndarray:
        """The kept estimates of an estimator, (len(kept), H, W), in ``Record.kept`` order."""
        return np.load(_readable(self.path / self.data["estimators"][name]["kept_file"]))

    def has_results(self, name: str, keep: list[int] | None = None) -> bool:
        """Whether ``name`` finished and its files (and the ``keep`` estimates) are there."""
        record = self.data.get("estimators", {}).get(name)
        if not record or record.get("status") != "ok":
            return False
        if not (self.path / record["samples_file"]).is_file():
            return False
        return not keep or (record.get("kept") == keep
                            and (self.path / record["kept_file"]).is_file())

    # -- writing ---------------------------------------------------------------------

    def set_record(self, name: str, record: dict[str, Any]) -> None:
        """Record an estimator's outcome and save ``run.json``."""
        self.data["estimators"][name] = record
        self.save()

    def note(self, key: str, value: Any) -> None:
        """Record a top-level fact of the latest command (e.g. where it ran)."""
        self.data[key] = value
        self.save()

    def order(self, names: list[str]) -> None:
        """Put the records of ``names`` first, in that order (units finish in any order)."""
        records = self.data["estimators"]
        self.data["estimators"] = {**{n: records[n] for n in names if n in records}, **records}

    def finish(self) -> None:
        self.data["finished_at"] = now()
        self.save()

    def save(self) -> None:
        _write_json(self.data, self.path / RUN_FILE)

    def write_samples(self, name: str, columns: dict[str, list]) -> str:
        """Write an estimator's per-sample rows; return the path relative to the run."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path / "samples" / f"{file_name(name, 'estimator name')}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.table(columns), buffer)
        write_atomic(path, buffer.getvalue().to_pybytes())
        return f"samples/{path.name}"

    def write_kept(self, name: str, array: np.ndarray) -> str:
        """Write an estimator's kept estimates; return the path relative to the run."""
        path = self.path / "kept" / f"{file_name(name, 'estimator name')}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, array)
        write_atomic(path, buffer.getvalue())
        return f"kept/{path.name}"

    def write_text(self, name: str, text: str) -> Place:
        """Write a file of the run (e.g. ``leaderboard.csv``) atomically."""
        path = self.path / name
        write_atomic(path, text.encode())
        return path


def _readable(path: Place):
    """What pyarrow and numpy read: a local path, or an object's bytes in memory."""
    return io.BytesIO(path.read_bytes()) if isinstance(path, Remote) else path


def _load(run_dir: Place) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        raise RunDirError(f"{run_dir} is not an ogmbench run directory "
                          f"(no readable {RUN_FILE})") from None
    if not is_run(data):
        raise RunDirError(f"{run_dir} is not an ogmbench run directory ({RUN_FILE} was not "
                          "written by ogmbench eval)")
    return data


def is_run(data: Any) -> bool:
    """Whether a parsed ``run.json`` was written by ``ogmbench eval``.

    Its ``kind`` says so; a run made before that marker existed has every key that
    ``ogmbench eval`` writes, with the right types.
    """
    if not isinstance(data, dict) or not isinstance(data.get("estimators"), dict):
        return False
    if data.get("kind") == RUN_KIND:
        return True
    return (all(key in data for key in _RUN_KEYS) and data["format"] == RUN_FORMAT
            and isinstance(data["versions"], dict) and isinstance(data["store_digest"], str))


def read_run(run_dir: str | os.PathLike) -> Run:
    """Read a run directory.

    Raises
    ------
    RunDirError
        When it has no readable ``run.json``.
    """
    run_dir = location(run_dir)
    return Run(run_dir, _load(run_dir))


def open_run(run_dir: str | os.PathLike, settings: dict[str, Any], *, resume: bool,
             device: str, provenance: dict[str, Any]) -> Run:
    """Start a run directory, or continue one with ``resume``.

    Parameters
    ----------
    run_dir : path or URL
    settings : dict
        ``store`` (path), ``store_digest``, ``target``, ``seed``, ``prior_controls``: a
        resumed run must agree on all but the store's path (the digest names the data)
        and the prior controls (estimators they affect are recomputed).
    resume : bool
    device : str
        Recorded for a new run.
    provenance : dict
        More facts for a new run's ``run.json`` (family, noise, class names, ...).

    Raises
    ------
    RunDirError
        For a directory that holds something else, another run without ``resume``, or
        a run of other settings.
    BusyError
        When another process is writing it; the returned run holds the directory until
        :meth:`Run.close`.
    """
    run_dir = location(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--out {run_dir} exists and is not a directory")
    if holds_files(run_dir):
        if not resume:
            raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it "
                              "or choose another --out")
        _load(run_dir)  # a folder that is not a run gets nothing written in it, not even a lock
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create run directory {run_dir}: {exc.strerror}") from None
    # Held until Run.close(): a second writer is refused, never interleaved.
    lock = contextlib.ExitStack()
    lock.enter_context(hold(run_dir / LOCK_FILE, f"run directory {run_dir}"))
    try:
        run = _start(run_dir, settings, resume, device, provenance)
    except BaseException:
        lock.close()
        raise
    run._lock = lock
    return run


def clear_run(run_dir: Place) -> None:
    """Empty an ogmbench run directory (its run.json carries the marker) to start afresh.

    Holds the run's lock meanwhile, so a run that another process is writing is refused
    with one line (:class:`~ogmbench.locks.BusyError`) rather than emptied under it.
    """
    run_dir = location(run_dir)
    _load(run_dir)  # refuses anything but an ogmbench run
    with hold(run_dir / LOCK_FILE, f"run directory {run_dir}"):
        for path in run_dir.iterdir():
            if path.name == LOCK_FILE:
                continue
            if isinstance(path, Remote):
                path.remove()  # an object, or every object under a prefix
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def holds_files(run_dir: Place) -> bool:
    """Whether ``run_dir`` holds anything but a lock file."""
    run_dir = location(run_dir)
    return run_dir.is_dir() and any(p.name != LOCK_FILE for p in run_dir.iterdir())


def _start(run_dir: Place, settings, resume, device, provenance) -> Run:
    if holds_files(run_dir):
        if not resume:  # another process made it while this one waited for the lock
            raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it "
                              "or choose another --out")
        data = _load(run_dir)
        if data.get("format") != RUN_FORMAT:
            raise RunDirError(f"{run_dir} has run format {data.get('format')!r}, "
                              f"expected {RUN_FORMAT}")
        differ = [k for k, v in settings.items() if k not in ("prior_controls", "store")
                  and data.get(k) != v]
        if differ:
            raise RunDirError(f"--resume: {run_dir} was run with other settings "
                              f"({', '.join(differ)})")
        data["store"] = settings["store"]
        data["prior_controls"] = settings["prior_controls"]
        data.setdefault("resumed_at", [])
        if isinstance(data["resumed_at"], str):
            data["resumed_at"] = [data["resumed_at"]]
        data["resumed_at"].append(now())
        return Run(run_dir, data)
    run = Run(run_dir, {"format": RUN_FORMAT, "kind": RUN_KIND, **settings, "device": device, **provenance,
                        "versions": _versions(), "started_at": now(), "estimators": {}})
    run.save()
    return run


def _versions() -> dict[str, str]:
    import scipy

    versions = {"ogmbench": __version__, "python": platform.python_version(),
                "numpy": np.__version__, "scipy": scipy.__version__}
    for module in ("zarr", "pandas", "pyarrow", "skimage", "torch"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "?")
    return versions


def _write_json(data: dict, path: Place) -> None:
    write_atomic(path, (json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n").encode())


def jsonable(value):
    """Plain JSON types, with NaN and inf as null (strict JSON has neither)."""
    value = json.loads(json.dumps(value, default=json_default))

    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return clean(value)


def json_default(value):
    """``json.dumps`` default for numpy values (and str() for anything else)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
