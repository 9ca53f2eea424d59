"""Advisory locks: one writer per store and per run directory, and no writer while it is read.

A lock is ``fcntl.flock`` on a small file, held for the whole write (exclusive) or the
whole read (shared) and released by the operating system when the holder exits (kill -9
included), so a stale lock never blocks anyone.  The last holder removes the file when
done (a reader only when it can take the lock exclusively, so never under another
reader); a process that locked a file just removed (its path now names another file, or
none) tries again, so two holders never disagree about which file is the lock.  A
writer's lock file holds :data:`MARK` and its pid (a reader writes nothing): a file of
that name that is not ogmbench's (another content, a symbolic link, a folder) is refused
and never written to or removed.  Where
``fcntl`` does not exist (Windows), nothing is locked.

On object storage (a :class:`~ogmbench.places.Remote` lock) there is no ``flock``: a
writer's lock is an object created only if none exists (S3's conditional PUT), holding
:data:`MARK`, the host, the pid and the time, and deleted when the writer is done.
(On a filesystem without an atomic create, fsspec checks and then writes, which two
writers starting in the same instant can both pass: S3 and its compatible servers are
the ones this is made for.)  A writer killed before that leaves it behind; the next writer is refused with a line
naming the holder and the object to delete once that holder is known to be gone.
Readers take no lock there: every shard is digest-checked when first read, so a store
changed under a reader stops it with an error, never with a number.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import time
from pathlib import Path
from typing import Iterator

from .errors import UsageError
from .places import Remote

__all__ = ["BusyError", "MARK", "hold"]

MARK = b"ogmbench lock, pid "
# A lock file removed between our open and our flock, or held exclusively for the instant
# a reader releases it, is tried again this many times, this many seconds apart.
_RETRIES = 40
_PAUSE = 0.005


class BusyError(UsageError):
    """Another process is writing (or reading) the same store or run directory."""


@contextlib.contextmanager
def hold(path: str | os.PathLike | Remote, what: str, *, shared: bool = False) -> Iterator[None]:
    """Hold the lock file ``path`` (created if needed) for the block.

    Parameters
    ----------
    path : path or Remote
        The lock file; its folder must exist (a :class:`~ogmbench.places.Remote` on
        object storage, see the module's notes).
    what : str
        What the lock protects, for the message (``"run directory runs/x"``).
    shared : bool
        Take a reader's lock: any number of readers hold it at once, and no writer
        while they do.  A reader that cannot create the lock file (a read-only folder,
        where no ogmbench can write the store either) reads unlocked.

    Raises
    ------
    BusyError
        When another process holds it in a way that excludes this one.
    UsageError
        When a file of that name is in the way and is not an ogmbench lock file.
    """
    if isinstance(path, Remote):
        with _hold_remote(path, what, shared):
            yield
        return
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform
        yield
        return
    path = Path(path)
    verb = "read" if shared else "write"
    in_the_way = UsageError(f"{path} is in the way: it is not an ogmbench lock file "
                            f"(needed to {verb} {what}); move it")
    for attempt in range(_RETRIES):
        fd = _open(path, shared, in_the_way)
        if fd is None:  # a reader where no lock file can be made
            yield
            return
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise in_the_way
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                if attempt < _RETRIES - 1 and not _holder_stays(fd, path, shared):
                    time.sleep(_PAUSE)  # a reader releasing it, briefly exclusive
                    continue
                raise _busy(fd, what, shared, fcntl) from None
            if not _still_there(fd, path):
                continue  # its last holder removed it meanwhile: lock the new one
            content = os.pread(fd, len(MARK), 0)
            if content and content != MARK:  # someone else's file under our name
                raise in_the_way
            if not shared:  # readers write nothing: the pid named is a writer's
                os.ftruncate(fd, 0)
                os.pwrite(fd, MARK + f"{os.getpid()}\n".encode(), 0)
            elif content:  # a writer killed before removing it: nobody writes now
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            try:
                yield
            finally:
                _remove_if_last(fd, path, fcntl)
            return
        finally:
            os.close(fd)  # releases the lock
    raise BusyError(f"{what} is in use by other ogmbench processes (its lock file {path} "
                    "keeps changing); try again")


@contextlib.contextmanager
def _hold_remote(path: Remote, what: str, shared: bool) -> Iterator[None]:
    if shared:  # readers rely on the shard digests (module docstring)
        yield
        return
    mine = MARK + f"{os.getpid()} on {socket.gethostname()} since {_now()}\n".encode()
    if not path.create(mine):
        try:
            held = path.read_bytes()
        except FileNotFoundError:  # released meanwhile: the next try decides
            held = MARK
        if not held.startswith(MARK):
            raise UsageError(f"{path} is in the way: it is not an ogmbench lock file "
                             f"(needed to write {what}); move it")
        holder = held.removeprefix(MARK).decode(errors="replace").strip()
        raise BusyError(f"{what} is being written by another ogmbench process (pid "
                        f"{holder or '?'}); wait for it to finish or choose another output "
                        f"(if that process is gone, delete {path})")
    try:
        yield
    finally:
        # Never let a failed release hide what ended the block (the store may be gone).
        with contextlib.suppress(Exception):
            if path.read_bytes() == mine:  # never another writer's
                path.unlink(missing_ok=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _holder_stays(fd: int, path: Path, shared: bool) -> bool:
    """Whether a reader that could not lock faces a writer (which marks the file), rather
    than the instant in which a reader releases it; a writer always tries again a while."""
    return shared and _still_there(fd, path) and bool(os.pread(fd, len(MARK), 0))


def _open(path: Path, shared: bool, in_the_way: UsageError) -> int | None:
    # O_NOFOLLOW: a symbolic link at the lock's name is never followed into a file.
    flags = getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o644)
    except OSError as exc:
        # A reader where no lock file can be made reads unlocked (no ogmbench can write
        # a store there either); with no folder at all, there is no store to read, which
        # opening it says.
        if not shared or exc.errno not in (errno.EACCES, errno.EROFS, errno.EPERM,
                                           errno.ENOENT, errno.ENOTDIR):
            raise in_the_way from None
    try:  # a reader: the file may exist, readable but not writable
        return os.open(path, os.O_RDONLY | flags)
    except FileNotFoundError:
        return None
    except OSError:
        raise in_the_way from None


def _busy(fd: int, what: str, shared: bool, fcntl) -> BusyError:
    holder = os.pread(fd, 64, 0).removeprefix(MARK).decode(errors="replace").strip()
    doing = f"being written by another ogmbench process (pid {holder or '?'})"
    if not shared:
        try:  # a shared lock that we could take means readers, not a writer, hold it
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            doing = "being read by another ogmbench process"
        except BlockingIOError:
            pass
    return BusyError(f"{what} is {doing}; wait for it to finish"
                     + ("" if shared else " or choose another output"))


def _remove_if_last(fd: int, path: Path, fcntl) -> None:
    # A reader removes the file only when no other reader holds it (then it can take the
    # lock exclusively); a writer is alone by construction.  A file it cannot remove (a
    # read-only folder, a read-only descriptor on NFS) stays: the next holder reuses it.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _still_there(fd, path):
            path.unlink(missing_ok=True)  # ours, and held alone: nobody else's


def _still_there(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False
