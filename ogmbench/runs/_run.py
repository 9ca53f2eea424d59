"""A run directory and its files: :class:`Run` reads ``run.json``, the per-sample rows
and the kept estimates, and writes each of them whole."""

from __future__ import annotations

import contextlib
import io
from typing import Any, Iterator

import numpy as np

from ..errors import UsageError
from ..names import file_name
from ..places import Place, Remote, location, write_atomic
from ._json import now, write_json
from ._record import Record

RUN_FORMAT = 1
RUN_FILE = "run.json"
LOCK_FILE = ".ogmbench-lock"
# Only ogmbench writes this: a folder is ogmbench's to resume or replace when its run.json
# says so (runs made before the marker carry every key below instead).
RUN_KIND = "ogmbench eval run"
RUN_KEYS = ("format", "store", "store_digest", "target", "seed", "device", "versions",
            "started_at", "estimators")


class RunDirError(UsageError):
    """A run directory cannot be read or used; the message names it and why."""


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
        write_json(self.data, self.path / RUN_FILE)

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
