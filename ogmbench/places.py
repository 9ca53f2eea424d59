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
import re
import stat
from pathlib import Path
from typing import Iterator, Union

from .errors import RunFailure, UsageError

__all__ = ["read_regular", "Remote", "Place", "location", "is_url", "write_atomic", "absolute", "check_bucket",
           "local_only", "is_transport_error", "Unreachable"]

# Object stores with buckets, which ogmbench never creates (check_bucket).
_BUCKETED = {"s3", "s3a", "gs", "gcs", "az", "abfs", "oss"}
# What cannot be written: fsspec's HTTP filesystem reads only.
_READ_ONLY = {"http", "https"}
# "s3:/bucket/x": one slash short of a URL, which a local path would silently become.
_SHORT_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/[^/]")
# The libraries object storage raises from when it cannot be reached or refuses the
# credentials: their errors are not OSError, so they are recognised by their module.
_TRANSPORT = {"botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "google", "adlfs",
              "azure", "requests", "urllib3"}


class Unreachable(RunFailure):
    """Object storage could not be reached, or refused the request (exit 1)."""


def is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from object storage's client libraries (a network, endpoint
    or credentials problem), not from ogmbench or the data."""
    return type(exc).__module__.split(".")[0] in _TRANSPORT or isinstance(
        exc, (ConnectionError, TimeoutError))


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
        rest = text.removeprefix("file://")
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost"):
            raise UsageError(f"{text} names another host; file:// URLs are this machine's")
        return Path(slash + path)
    if not is_url(text):
        if _SHORT_URL.match(text):
            raise UsageError(f"{text} looks like a URL with one slash missing after the "
                             "scheme; write scheme://bucket/path (or ./ for a local folder)")
        return Path(text)
    remote = Remote(text)
    if remote.scheme in _READ_ONLY:
        raise UsageError(f"{text}: http(s) URLs cannot be written or listed; use the object "
                         "store's own scheme (s3:// with AWS_ENDPOINT_URL for S3-compatible "
                         "servers)")
    remote.fs  # an unknown scheme or a missing library is said now, in one line
    return remote


def local_only(value: str | os.PathLike, what: str) -> Path:
    """``value`` as a local path, for outputs that are local files (a picture, a report);
    a URL is refused with one line naming ``what``."""
    place = location(value)
    if isinstance(place, Remote):
        raise UsageError(f"{what} {value}: a local path is needed here, not a URL")
    return place


def check_bucket(place: "Place") -> None:
    """Before anything is written at ``place``: its bucket exists and it is inside one.

    A bucket is the one thing ogmbench does not create.  Raises :class:`UsageError`
    for a missing bucket or a place that is a bucket itself, and :class:`Unreachable`
    when the object store cannot be asked.
    """
    if not isinstance(place, Remote) or place.scheme not in _BUCKETED:
        return
    bucket = Remote(f"{place.scheme}://{place.parts[0]}")
    if place == bucket:
        raise UsageError(f"{place} is a bucket; give a path inside it "
                         f"({place}/name)")
    try:
        bucket.fs.info(bucket.path)
    except FileNotFoundError:
        raise UsageError(f"no bucket {bucket} (create it first), needed for {place}") from None
    except Exception as exc:
        if is_transport_error(exc):
            raise Unreachable(f"cannot reach {bucket}: {exc}") from None
        raise


def absolute(value: str | os.PathLike | "Remote") -> str:
    """The same place named so that another process (or machine) finds it."""
    place = location(value)
    return str(place) if isinstance(place, Remote) else str(Path(place).absolute())


def read_regular(path: "Place", limit: int | None = None) -> bytes:
    """The bytes of a regular file; OSError for anything else (a pipe, a device), without
    waiting on it: a FIFO put where a metadata file belongs must not hang a command.

    Locally the file is opened without blocking and checked on the open descriptor, so it
    cannot be swapped for a pipe between the check and the read.  With ``limit``, at
    most ``limit + 1`` bytes are read (more than ``limit`` says the file is too large).
    """
    if isinstance(path, Remote):
        return path.read_bytes()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read() if limit is None else handle.read(limit + 1)
    finally:
        os.close(fd)


# write_atomic's temporary sibling, ``.<name>.<pid>-<thread>.tmp``: what a write killed
# midway leaves behind (a run directory's cleaner knows it as ogmbench's).
ATOMIC_TEMP = re.compile(r"\.(?P<name>.+)\.\d+-\d+\.tmp")


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
        if not scheme:
            raise UsageError(f"{url} names no scheme; give scheme://bucket/path")
        if not rest:
            raise UsageError(f"{url} names no bucket; give scheme://bucket/path")
        # Object stores take these literally: "a//b", "a/./b" and "a/../b" would be other
        # objects than "a/b", which a local path would mean.
        if any(part in ("", ".", "..") for part in rest.split("/")):
            raise UsageError(f"{url}: a URL's path may not have empty, '.' or '..' parts")
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
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

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
        # Not fs.exists, which answers False when the store cannot be reached at all.
        try:
            self.fs.info(self.path)
        except FileNotFoundError:
            return False
        return True

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
            # A console's "folder" is an empty object named like the prefix: not content.
            if entry.rstrip("/") != self.path.rstrip("/"):
                yield Remote(self.fs.unstrip_protocol(entry))

    def files(self) -> list[str]:
        """Every object under this prefix, as paths relative to it."""
        root = self.path.rstrip("/") + "/"
        return sorted(p[len(root):] for p in self.fs.find(self.path)
                      if p.startswith(root) and p[len(root):].strip("/"))

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
        """Delete exactly the objects listed under this prefix (never an object named
        like the prefix itself, which is another object)."""
        root = self.path.rstrip("/") + "/"
        keys = [root + rel for rel in self.files()]
        if keys:
            self.fs.rm(keys)

    def remove(self) -> None:
        """Delete this object and, if it is a prefix too, every object under it."""
        self.remove_tree()
        self.unlink(missing_ok=True)


Place = Union[Path, Remote]
