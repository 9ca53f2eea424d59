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

Its modules are private: ``_run`` (:class:`Run`, the files of a run), ``_record``
(:class:`Record`, one estimator's entry), ``_directory`` (reading, starting, resuming
and emptying a run directory) and ``_json`` (plain JSON, time stamps, versions).
"""

from ._directory import (
    clear_run, default_run_dir, differing, holds_files, is_run, locked_run, open_run,
    read_run,
)
from ._json import json_default, jsonable, now
from ._record import Record
from ._run import LOCK_FILE, RUN_FILE, RUN_FORMAT, RUN_KIND, Run, RunDirError

__all__ = ["RUN_FORMAT", "RUN_KIND", "RunDirError", "Run", "Record", "read_run", "open_run", "is_run",
           "locked_run",
           "clear_run", "differing",
           "default_run_dir", "jsonable", "json_default", "now",
           # for reproduce and the lock's tests
           "LOCK_FILE", "RUN_FILE", "holds_files"]
