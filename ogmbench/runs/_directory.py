"""The life of a run directory: read one (:func:`read_run`), start or resume one under
its lock (:func:`open_run`), empty one (:func:`clear_run`), and tell a run directory
from anything else (:func:`is_run`)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterator

from ..locks import hold
from ..places import ATOMIC_TEMP, Place, Remote, location, read_regular
from ._json import now, versions
from ._run import LEADERBOARD, LOCK_FILE, RUN_FILE, RUN_FORMAT, RUN_KEYS, RUN_KIND, Run, RunDirError


def default_run_dir(store_path: str | os.PathLike, target: int) -> Path:
    """``runs/<store name>-target<N>``: where ``ogmbench eval`` writes by default."""
    stem = location(store_path).resolve().name.removesuffix(".zarr")
    return Path("runs") / f"{stem}-target{target}"


def _load(run_dir: Place) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(run_dir / RUN_FILE))
    except (OSError, ValueError, RecursionError):  # (JSON nested too deep to parse)
        raise RunDirError(f"{run_dir} is not an ogmbench run directory "
                          f"(no readable {RUN_FILE})") from None
    if not is_run(data):
        raise RunDirError(f"{run_dir} is not an ogmbench run directory ({RUN_FILE} was not "
                          "written by ogmbench eval)")
    if data.get("format") != RUN_FORMAT:
        raise RunDirError(f"{run_dir} has run format {data.get('format')!r}, "
                          f"expected {RUN_FORMAT}")
    for name, record in data["estimators"].items():
        if not isinstance(record, dict):
            raise RunDirError(f"{run_dir}: {RUN_FILE}'s record of {name!r} is not an object "
                              "(it was edited); move the run directory aside to run it again")
    files, controls = data.get("files", {}), data.get("prior_controls", [])
    if not (isinstance(files, dict) and all(
            isinstance(v, list) and all(isinstance(d, str) for d in v) for v in files.values())):
        raise RunDirError(f"{run_dir}: {RUN_FILE}'s files are not what ogmbench writes (it "
                          "was edited); move the run directory aside to run it again")
    if not (isinstance(controls, list) and all(isinstance(c, str) for c in controls)):
        raise RunDirError(f"{run_dir}: {RUN_FILE}'s prior_controls are not a list of names (it "
                          "was edited); move the run directory aside to run it again")
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
    return (all(key in data for key in RUN_KEYS) and data["format"] == RUN_FORMAT
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
        _load(run_dir)  # a folder that is not a run gets nothing written in it, not even a lock
        if not resume:
            raise RunDirError(_taken(run_dir))
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


@contextlib.contextmanager
def locked_run(run_dir: str | os.PathLike) -> Iterator[Run]:
    """A run directory read under its lock, for a command that writes a file of a
    finished run (``leaderboard.csv``) while no other writer may.

    Raises
    ------
    RunDirError
        When it is not a run directory.
    BusyError
        When another process is writing it.
    """
    run_dir = location(run_dir)
    _load(run_dir)  # nothing, not even a lock, is written into a folder that is no run
    with hold(run_dir / LOCK_FILE, f"run directory {run_dir}"):
        yield Run(run_dir, _load(run_dir))


def clear_run(run_dir: Place) -> None:
    """Empty an ogmbench run directory (its run.json carries the marker) to start afresh.

    Only what the run provably wrote is removed (:meth:`Run.owned`); a directory that
    holds anything else (a file of yours, a link, a folder of your own) is refused in
    one line and left as it is.  Holds the run's lock meanwhile, so a run that another
    process is writing is refused with one line (:class:`~ogmbench.locks.BusyError`)
    rather than emptied under it.

    Raises
    ------
    RunDirError
        For a directory that is not an ogmbench run, or holds what it did not write.
    """
    run_dir = location(run_dir)
    _load(run_dir)  # refuses anything but an ogmbench run
    with hold(run_dir / LOCK_FILE, f"run directory {run_dir}"):
        run = Run(run_dir, _load(run_dir))
        owned, entries = run.owned(), _entries(run_dir)
        foreign = [rel for rel, kind in entries if not _ours(rel, kind, owned)]
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise RunDirError(f"{run_dir} holds {foreign[0]}{more}, which ogmbench did not "
                              "write; refusing to empty it to start afresh (move them out "
                              "first, or choose another --work)")
        for rel, kind in entries:
            if kind != "folder" and rel != LOCK_FILE:
                (run_dir / rel).unlink(missing_ok=True)
        if not isinstance(run_dir, Remote):
            for folder in _FOLDERS:
                if os.path.isdir(run_dir / folder):
                    os.rmdir(run_dir / folder)  # empty now: everything in it was ours


_FOLDERS = ("samples", "kept")  # the folders of a run directory's result files


def _ours(relative: str, kind: str, owned: set[str]) -> bool:
    """Whether an entry of a run directory is provably ogmbench's to remove."""
    if kind == "folder":
        return relative in _FOLDERS
    return kind == "file" and (relative in owned or _our_temp(relative, owned))


def _our_temp(relative: str, owned: set[str]) -> bool:
    """Whether ``relative`` is the temporary file of an interrupted write of ours."""
    folder, _, name = relative.rpartition("/")
    match = ATOMIC_TEMP.fullmatch(name)
    if not match:
        return False
    stem = f"{folder}/{match['name']}" if folder else match["name"]
    return stem in owned or stem in (RUN_FILE, LEADERBOARD) or folder in _FOLDERS


def _entries(run_dir: Place) -> list[tuple[str, str]]:
    """(relative path, "file" / "folder" / "other") of everything in a run directory;
    a link or a pipe is "other", and a linked folder is not entered."""
    if isinstance(run_dir, Remote):
        return [(rel, "file") for rel in run_dir.files()]
    out = []
    for root, dirs, files in os.walk(run_dir):
        for name in dirs + files:
            path = Path(root) / name
            mode = os.lstat(path).st_mode
            kind = ("folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode)
                    else "other")
            out.append((path.relative_to(run_dir).as_posix(), kind))
        dirs[:] = [d for d in dirs if not os.path.islink(Path(root) / d)]
    return out


# What a resumed run must agree on; the store's path may differ (its digest names the
# data) and so may the prior controls (the estimators they affect are recomputed).
RESUMED_SETTINGS = ("store_digest", "store_meta_digest", "target", "seed", "train_size")


def differing(recorded: dict[str, Any], settings: dict[str, Any],
              device: str | None = None) -> list[str]:
    """The settings in which a run directory's ``run.json`` differs from a new run's.

    The one rule by which a run directory may be resumed (``eval --resume``) or reused
    (``reproduce``): equal ``store_digest``, ``store_meta_digest`` (absent for a store made
    before it), ``target``, ``seed`` and ``train_size``
    (absent for a run on the whole train split), and, where ``device`` is given, the
    same device (another device trains the learned estimators differently).

    Parameters
    ----------
    recorded : dict
        The run directory's ``run.json``.
    settings : dict
        The new run's settings (:func:`ogmbench.eval_config.run_settings`).
    device : str, optional

    Returns
    -------
    list of str
        The names of the settings that differ; empty when the run can go on.
    """
    differ = [k for k in RESUMED_SETTINGS if recorded.get(k) != settings.get(k)]
    if device is not None and recorded.get("device") != device:
        differ.append("device")
    return differ


def _taken(run_dir: Place) -> str:
    return (f"{run_dir} already holds a run: --resume adds these estimators to it (finished "
            "ones are kept) or continues it; or choose another --out")


def holds_files(run_dir: Place) -> bool:
    """Whether ``run_dir`` holds anything but a lock file."""
    run_dir = location(run_dir)
    return run_dir.is_dir() and any(p.name != LOCK_FILE for p in run_dir.iterdir())


def _start(run_dir: Place, settings, resume, device, provenance) -> Run:
    if holds_files(run_dir):
        if not resume:  # another process made it while this one waited for the lock
            raise RunDirError(_taken(run_dir))
        data = _load(run_dir)
        Run(run_dir, data).check_writable()
        differ = differing(data, settings)
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
                        "versions": versions(), "started_at": now(), "estimators": {}})
    run.save()
    return run

