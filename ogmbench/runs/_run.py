"""A run directory and its files: :class:`Run` reads ``run.json``, the per-sample rows
and the kept estimates, and writes each of them whole."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from typing import Any, Iterator

import numpy as np

from ..errors import UsageError
from ..names import file_name
from ..places import Place, Remote, location, read_regular, write_atomic
from ._json import jsonable, now, write_json
from ._record import Record

RUN_FORMAT = 1
RUN_FILE = "run.json"
LOCK_FILE = ".ogmbench-lock"
LEADERBOARD = "leaderboard.csv"
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
        if keep and record.get("kept") != keep:
            return False
        for kind in ["samples"] + (["kept"] if keep else []):
            relative = record.get(f"{kind}_file")
            if not relative or not _present(self.path / str(relative)):
                return False  # nothing there: computed (again)
            self._checked(name, kind)  # something there: only the file this run wrote
        return True

    def _checked(self, name: str, kind: str) -> bytes:
        """The bytes of an estimator's ``samples`` or ``kept`` file, which must be the
        ones this run wrote (``run.json`` records their sha256)."""
        record = self.data["estimators"][name]
        relative = record.get(f"{kind}_file")
        try:
            data = read_regular(self.path / str(relative))
        except FileNotFoundError:
            raise RunDirError(f"{self.path}: the {kind} file of {name!r} is missing; compute "
                              "it again with 'ogmbench eval --resume'") from None
        except OSError as exc:
            raise RunDirError(f"{self.path}: {relative} cannot be read ({exc}); move it out "
                              "of the run directory to compute it again") from None
        expected = record.get(f"{kind}_sha256")
        if not isinstance(expected, str) or hashlib.sha256(data).hexdigest() != expected or (
                kind == "samples" and _bound(data) != self._binding(name, record)):
            raise RunDirError(f"{self.path}: {relative} is not the file this run wrote for "
                              f"{name!r} (its sha256 or the run it names is not run.json's, "
                              "or run.json holds none); move it out of the run directory "
                              "to compute it again")
        return data

    def _binding(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        """What an estimator's rows are of: the estimator, its record, the store and the
        run's settings (written into the parquet file, so that run.json cannot relabel
        them: the record holds the parameters its label shows, its twin's sources and its
        curves; family and noise head the leaderboard)."""
        described = {k: record.get(k) for k in _LABEL_KEYS}
        described["curves"] = [seed.get("describe", {}).get("curve")
                               if isinstance(seed, dict) and isinstance(seed.get("describe"), dict)
                               else None for seed in record.get("train_seeds") or []]
        return {"estimator": name, "store_digest": self.data.get("store_digest"),
                "store_meta_digest": self.data.get("store_meta_digest"),
                "target": self.data.get("target"), "seed": self.data.get("seed"),
                "train_size": self.data.get("train_size"), "family": self.data.get("family"),
                "noise": self.data.get("noise"), "record_sha256": hashlib.sha256(json.dumps(
                    jsonable(described), sort_keys=True).encode()).hexdigest()}

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

    def write_samples(self, name: str, columns: dict[str, list],
                      record: dict[str, Any]) -> dict[str, str]:
        """Write an estimator's per-sample rows; return its record's ``samples_file`` (the
        path relative to the run) and ``samples_sha256``.

        ``record`` is the estimator's record as it will be saved: the rows are bound to
        what of it says what they are (its label's parameters, its sources, its curves).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        relative = f"samples/{file_name(name, 'estimator name')}.parquet"
        buffer = pa.BufferOutputStream()
        table = pa.table(columns).replace_schema_metadata(
            {_BOUND: json.dumps(self._binding(name, record))})
        pq.write_table(table, buffer)
        return {"samples_file": relative,
                "samples_sha256": self._write_owned(relative, buffer.getvalue().to_pybytes())}

    def write_kept(self, name: str, array: np.ndarray) -> dict[str, str]:
        """Write an estimator's kept estimates; return its record's ``kept_file`` and
        ``kept_sha256``."""
        relative = f"kept/{file_name(name, 'estimator name')}.npy"
        buffer = io.BytesIO()
        np.save(buffer, array)
        return {"kept_file": relative, "kept_sha256": self._write_owned(relative,
                                                                         buffer.getvalue())}

    def check_writable(self) -> None:
        """Refuse, before any work, a resumed run whose files ogmbench would write over or
        through (a link among them, a ``leaderboard.csv`` this run did not write) or whose
        finished records are not those of their rows.

        Raises
        ------
        RunDirError
        """
        for relative in (RUN_FILE, "samples", "kept", LEADERBOARD):
            _no_link_on_the_way(self.path, relative)
        self._owned_or_absent(LEADERBOARD)
        for record in self.records():  # a relabelled record is refused now, not after work
            relative = record.data.get("samples_file")
            if record.ok and relative and _present(self.path / str(relative)):
                self._checked(record.name, "samples")

    def owned(self) -> set[str]:
        """The files of the run directory that this run provably wrote (relative paths):
        its ``run.json`` and lock, and every result file whose sha256 ``run.json``
        records for it."""
        out = {RUN_FILE, LOCK_FILE}
        claims: dict[str, set] = {}
        for relative, digests in (self.data.get("files") or {}).items():
            claims.setdefault(str(relative), set()).update(digests if isinstance(digests, list)
                                                           else [])
        for record in self.data.get("estimators", {}).values():
            for kind in ("samples", "kept"):
                if isinstance(record, dict) and record.get(f"{kind}_file"):
                    claims.setdefault(str(record[f"{kind}_file"]), set()).add(
                        record.get(f"{kind}_sha256"))
        for relative, digests in claims.items():
            try:
                if hashlib.sha256(read_regular(self.path / relative)).hexdigest() in digests:
                    out.add(relative)
            except (OSError, ValueError):
                continue  # missing, unreadable or not a file: nothing of ours to remove
        return out

    def _owned_or_absent(self, relative: str) -> None:
        path = self.path / relative
        if not _present(path):
            return
        try:
            there = hashlib.sha256(read_regular(path)).hexdigest()
        except OSError:
            there = None
        if there is None or there not in self.data.get("files", {}).get(relative, []):
            raise RunDirError(f"{self.path} holds {relative}, which this run did not "
                              "write; move it out of the run directory to compute it "
                              "again")

    def _write_owned(self, relative: str, data: bytes) -> str:
        """Write a result file whole, over a file there only when this run wrote it
        (``run.json``'s ``files`` lists the sha256 of every one it wrote); return its sha256.

        The new digest is recorded before the file is written, so that a run stopped in
        between still owns whichever of the two is there.
        """
        path = self.path / relative
        _no_link_on_the_way(self.path, relative)
        self._owned_or_absent(relative)
        owned = self.data.setdefault("files", {})
        digest = hashlib.sha256(data).hexdigest()
        owned[relative] = [*owned.get(relative, [])[-1:], digest]
        self.save()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        owned[relative] = [digest]
        return digest

    def write_text(self, name: str, text: str) -> Place:
        """Write a file of the run (e.g. ``leaderboard.csv``) whole, over a file there only
        when this run wrote it (as :meth:`write_samples`); hold the run's lock meanwhile
        (:func:`~ogmbench.runs.locked_run`)."""
        self._write_owned(name, text.encode())
        self.save()
        return self.path / name




def _no_link_on_the_way(run_dir: Place, relative: str) -> None:
    """Refuse to write a result file through a link (a folder of the run that is a link
    would put it in somebody's folder; a link in its place would be replaced)."""
    if isinstance(run_dir, Remote):
        return
    parts = relative.split("/")
    for depth in range(1, len(parts) + 1):
        step = os.path.join(run_dir, *parts[:depth])
        if os.path.islink(step):
            raise RunDirError(f"{run_dir}: {'/'.join(parts[:depth])} is a link; ogmbench "
                              "writes no result through it (move it out of the run directory)")


def _present(path: Place) -> bool:
    """Whether anything is at ``path`` (a dangling link or a pipe included)."""
    if isinstance(path, Remote):
        return path.exists()
    return os.path.lexists(path)


_BOUND = "ogmbench.run"  # the parquet metadata key of a samples file's binding
# What of a record says what its rows are (its label, parameters, twin's sources, kind):
# bound into the rows, with its curves.  Not its timings: those differ from run to run,
# and the rows' bytes may not (the same with one worker or a Dask cluster).
_LABEL_KEYS = ("fixed_params", "run_params", "params", "version", "prior_source",
               "past_source", "uses_prior", "uses_past", "stochastic")


def _bound(data: bytes) -> dict[str, Any] | None:
    """The binding a samples file was written with (None when it holds none)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(io.BytesIO(data)).metadata or {}
        return json.loads(metadata[_BOUND.encode()])
    except (OSError, ValueError, KeyError, RecursionError):
        return None
