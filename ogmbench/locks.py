"""Advisory locks: one writer per store and per run directory, the other refused.

A lock is ``fcntl.flock`` on a small file, held for the whole write and released by
the operating system when the holder exits (kill -9 included), so a stale lock never
blocks anyone.  The holder removes the file when done; a process that locked a file
just removed (its path now names another file, or none) counts as refused, so two
writers never both hold the lock.  A second process asking for a held lock gets :class:`BusyError` (a usage
error, exit 2) at once rather than waiting behind a run that may take hours.  Where
``fcntl`` does not exist (Windows), writes are not locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from .errors import UsageError

__all__ = ["BusyError", "hold"]


class BusyError(UsageError):
    """Another process is writing the same store or run directory."""


@contextlib.contextmanager
def hold(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold the lock file ``path`` (created if needed) for the block.

    Parameters
    ----------
    path : path
        The lock file; its folder must exist.
    what : str
        What the lock protects, for the message (``"run directory runs/x"``).

    Raises
    ------
    BusyError
        When another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform
        yield
        return
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _still_there(fd, path):
                raise BlockingIOError
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise BusyError(f"{what} is being written by another ogmbench process "
                            f"(pid {holder}); wait for it to finish or choose another "
                            "output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held: nobody else can have it
    finally:
        os.close(fd)  # releases the lock


def _still_there(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
