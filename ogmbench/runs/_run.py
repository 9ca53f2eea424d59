"""A run directory and its files: :class:`Run` reads ``run.json``, the per-sample rows
and the kept estimates, and writes each of them whole."""

from __future__ import annotations

import contextlib
import hashlib
import io
from typing import Any, Iterator

import numpy as np

from ..errors import UsageError
from ..names import file_name
from ..places import Place, location, read_regular, write_atomic
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
            When the file is missing, unreadable, or not the one this run wrote (its
            sha256 is not the one ``run.json`` records).
        """
        import pyarrow.parquet as pq

        data = self._checked(name, "samples")
        try:
            return pq.read_table(io.BytesIO(data))
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{self.path}: cannot read the results of {name!r} ({exc})") from None

    def kept(self, name: str) -> np.ndarray:
        """The kept estimates of an estimator, (len(kept), H, W), in ``Record.kept`` order."""
        return np.load(io.BytesIO(self._checked(name, "kept")))

    def has_results(self, name: str, keep: list[int] | None = None) -> bool:
        """Whether ``name`` finished and its files (and the ``keep`` estimates) are there.

        Raises
        ------
        RunDirError
            When one of them is not the file this run wrote: it is somebody's, and
            computing it again would overwrite it.
        """
        record = self.data.get("estimators", {}).get(name)
        if not record or record.get("status") != "ok":
            return False
        kinds = ["samples"] + (["kept"] if keep else [])
        if keep and record.get("kept") != keep:
            return False
        for kind in kinds:
            path = self.path / str(record.get(f"{kind}_file", ""))
            if not record.get(f"{kind}_file") or not path.is_file():
                return False
            if f"{kind}_sha256" not in record:  # written before files carried digests
                return False
            self._checked(name, kind)
        return True

    def _checked(self, name: str, kind: str) -> bytes:
        """The bytes of an estimator's ``samples`` or ``kept`` file, which must be the
        ones this run wrote (``run.json`` records their sha256)."""
        record = self.data["estimators"][name]
        try:
            relative = record[f"{kind}_file"]
            data = read_regular(self.path / relative)
        except (OSError, KeyError) as exc:
            raise RunDirError(f"{self.path}: cannot read the results of {name!r} ({exc})") from None
        expected = record.get(f"{kind}_sha256")
        if expected is None:
            raise RunDirError(f"{self.path}: the {kind} of {name!r} were written before run "
                              "files carried digests; recompute them with 'ogmbench eval "
                              "--resume'")
        if hashlib.sha256(data).hexdigest() != expected:
            raise RunDirError(f"{self.path}: {relative} is not the file this run wrote for "
                              f"{name!r} (its sha256 differs from run.json's); move it out of "
                              "the run directory to compute it again")
        return data

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

    def write_samples(self, name: str, columns: dict[str, list]) -> dict[str, str]:
        """Write an estimator's per-sample rows; return its record's ``samples_file`` (the
        path relative to the run) and ``samples_sha256``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path / "samples" / f"{file_name(name, 'estimator name')}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = pa.BufferOutputStream()
        pq.write_table(pa.table(columns), buffer)
        data = buffer.getvalue().to_pybytes()
        write_atomic(path, data)
        return {"samples_file": f"samples/{path.name}",
                "samples_sha256": hashlib.sha256(data).hexdigest()}

    def write_kept(self, name: str, array: np.ndarray) -> dict[str, str]:
        """Write an estimator's kept estimates; return its record's ``kept_file`` and
        ``kept_sha256``."""
        path = self.path / "kept" / f"{file_name(name, 'estimator name')}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, array)
        write_atomic(path, buffer.getvalue())
        return {"kept_file": f"kept/{path.name}",
                "kept_sha256": hashlib.sha256(buffer.getvalue()).hexdigest()}

    def write_text(self, name: str, text: str) -> Place:
        """Write a file of the run (e.g. ``leaderboard.csv``) atomically."""
        path = self.path / name
        write_atomic(path, text.encode())
        return path


