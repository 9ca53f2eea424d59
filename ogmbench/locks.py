"""Advisory locks: one writer per store and per run directory, the other refused.

A lock is ``fcntl.flock`` on a small file, held for the whole write and released by
the operating system when the holder exits (kill -9 included), so a stale lock never
blocks anyone.  The holder removes the file when done; a process that locked a file
just removed (its path now names another file, or none) counts as refused, so two
writers never both hold the lock.  A lock file starts with :data:`MARK`: a file of that
name that is not ogmbench's (another content, a symbolic link, a folder) is refused and
never written to or removed.  Where ``fcntl`` does not exist (Windows), writes are not
locked.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator

from .errors import UsageError

__all__ = ["BusyError", "MARK", "hold"]

MARK = b"ogmbench lock, pid "


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
    UsageError
        When a file of that name is in the way and is not an ogmbench lock file.
    """
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform
        yield
        return
    path = Path(path)
    in_the_way = UsageError(f"{path} is in the way: it is not an ogmbench lock file "
                            f"(needed to write {what}); move it")
    try:
        # O_NOFOLLOW: a symbolic link at the lock's name is never followed into a file.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        raise in_the_way from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise in_the_way
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _still_there(fd, path):
                raise BlockingIOError
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).removeprefix(MARK).decode(errors="replace").strip()
            raise BusyError(f"{what} is being written by another ogmbench process "
                            f"(pid {holder or '?'}); wait for it to finish or choose another "
                            "output") from None
        content = os.pread(fd, len(MARK), 0)
        if content and content != MARK:  # someone else's file under our name
            raise in_the_way
        os.ftruncate(fd, 0)
        os.pwrite(fd, MARK + f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # ours (marked), and still held: nobody else's
    finally:
        os.close(fd)  # releases the lock


def _still_there(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False
