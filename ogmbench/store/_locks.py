"""The store's lock files: one writer and no reader meanwhile, or any number of readers
(through :func:`ogmbench.locks.hold`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..locks import hold
from ..places import Place, Remote, location
from ._remote import store_path


def lock_file(path: str | os.PathLike | Remote) -> Place:
    """The lock file of the store at ``path``: beside it, so that it outlives a replaced store.

    The path is resolved first: a store reached through a symbolic link has one lock.
    """
    path = location(path)
    if not isinstance(path, Remote):
        path = Path(os.path.realpath(path))
    return path.parent / f".{path.name}.ogmbench-lock"


def writing(path: str | os.PathLike) -> contextlib.AbstractContextManager:
    """Hold the store at ``path`` for writing: no other writer and no reader meanwhile.

    Raises :class:`~ogmbench.locks.BusyError` (one line) when it is written or read.
    """
    return hold(lock_file(store_path(path)), f"store {path}")


def reading(path: str | os.PathLike) -> contextlib.AbstractContextManager:
    """Hold the store at ``path`` for reading: any number of readers, no writer meanwhile.

    An ``eval`` holds it throughout, so a ``generate --overwrite`` of the same store
    cannot swap the data under it.  Raises :class:`~ogmbench.locks.BusyError` while
    the store is being written.
    """
    return hold(lock_file(store_path(path)), f"store {path}", shared=True)
