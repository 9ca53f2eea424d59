"""Where files live: a local path, or an fsspec URL on object storage (``s3://``, ``gs://``).

:func:`location` turns what a user typed into a :class:`pathlib.Path` or a
:class:`Remote`, which offers the part of ``Path``'s interface that stores, run
directories and checkpoints use, so the rooms that own those files have one code path.
``file://`` URLs are local paths.  Credentials and endpoints come from where fsspec and
the cloud SDKs look for them (environment variables such as ``AWS_ENDPOINT_URL``,
``~/.aws``, fsspec's configuration), so that Dask workers on other machines reach the
same objects without ogmbench passing secrets around.

Object storage has no folders, no renames and no advisory locks: an object written by
one PUT appears whole or not at all (so :func:`write_atomic` is one PUT there), a
"folder" exists while an object lies under its prefix, and a writer's lock is an object
created only if absent (:meth:`Remote.create`, S3's ``If-None-Match``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Union

from .errors import UsageError

__all__ = ["Remote", "Place", "location", "is_url", "write_atomic", "absolute"]


def is_url(value: str | os.PathLike) -> bool:
    """Whether ``value`` names object storage (``scheme://...`` other than ``file://``)."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return "://" in text and not text.startswith("file://")


def location(value: str | os.PathLike | "Remote") -> "Place":
    """``value`` as a local :class:`~pathlib.Path` or a :class:`Remote`.

    Raises
    ------
    UsageError
        For a URL whose scheme fsspec does not know, or whose library is not installed
        (``s3://`` needs ``pip install "ogmbench[s3]"``).
    """
    if isinstance(value, (Path, Remote)):
        return value
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    if not is_url(text):
        return Path(text)
    remote = Remote(text)
    remote.fs  # an unknown scheme or a missing library is said now, in one line
    return remote


def absolute(value: str | os.PathLike | "Remote") -> str:
    """The same place named so that another process (or machine) finds it."""
    place = location(value)
    return str(place) if isinstance(place, Remote) else str(Path(place).absolute())


def write_atomic(path: "Place", data: bytes) -> None:
    """Write a whole file so that readers see the old content or the new, never a part.

    Locally a uniquely named temporary file is renamed into place (``os.replace``), so
    two writers of the same bytes (a unit rerun elsewhere) never mix; on object storage
    one PUT already is all or nothing.
    """
    if isinstance(path, Remote):
        path.write_bytes(data)
        return
    import threading

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Remote:
    """A file or folder on object storage, named by its URL.

    Pickles as its URL, so Dask units and child processes carry it; the fsspec
    filesystem (credentials from the environment) is made again where it is used.
    """

    __slots__ = ("url", "_fs")

    def __init__(self, url: str):
        scheme, _, rest = str(url).partition("://")
        rest = rest.strip("/")
        if not rest:
            raise UsageError(f"{url} names no bucket; give scheme://bucket/path")
        self.url = f"{scheme}://{rest}"
        self._fs = None

    # -- identity -----------------------------------------------------------------
    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Remote) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __reduce__(self):
        return (Remote, (self.url,))

    def __truediv__(self, part: str | os.PathLike) -> "Remote":
        return Remote(f"{self.url}/{os.fspath(part).strip('/')}")

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def parent(self) -> "Remote":
        head = self.url.rsplit("/", 1)[0]
        return self if head.endswith(":/") else Remote(head)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.url.split("://", 1)[1].split("/"))

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def with_name(self, name: str) -> "Remote":
        return self.parent / name

    def resolve(self) -> "Remote":
        return self

    absolute = resolve

    # -- the filesystem -------------------------------------------------------------
    @property
    def fs(self):
        """The fsspec filesystem holding this URL (cached per process by fsspec)."""
        if self._fs is None:
            import fsspec

            try:
                # No listings cache: other processes and machines write the same prefixes.
                self._fs = fsspec.core.url_to_fs(self.url, use_listings_cache=False)[0]
            except (ImportError, ValueError) as exc:
                scheme = self.url.split("://", 1)[0]
                hint = ' (pip install "ogmbench[s3]")' if scheme in ("s3", "s3a") else ""
                raise UsageError(f"cannot open {self.url}: {exc}{hint}") from None
        return self._fs

    @property
    def path(self) -> str:
        """The path as the filesystem names it (no scheme)."""
        return self.fs._strip_protocol(self.url)

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def is_dir(self) -> bool:
        return self.fs.isdir(self.path)

    def is_symlink(self) -> bool:
        return False  # object storage has no links

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to make: a prefix exists once an object lies under it."""

    def iterdir(self) -> Iterator["Remote"]:
        for entry in self.fs.ls(self.path, detail=False):
            yield Remote(self.fs.unstrip_protocol(entry))

    def files(self) -> list[str]:
        """Every object under this prefix, as paths relative to it."""
        root = self.path.rstrip("/") + "/"
        return sorted(p[len(root):] for p in self.fs.find(self.path) if p.startswith(root))

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.path)

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    def write_bytes(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, bytes(data))

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def create(self, data: bytes) -> bool:
        """Write ``data`` only if no object has this name; whether it was written."""
        try:
            self.fs.pipe_file(self.path, bytes(data), mode="create")
        except FileExistsError:
            return False
        return True

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def remove_tree(self) -> None:
        """Delete every object under this prefix."""
        if self.files():
            self.fs.rm(self.path, recursive=True)


Place = Union[Path, Remote]
