"""The ogmbench dataset store: one zarr v3 group, arrays at its root.

Layout (format version :data:`FORMAT_VERSION`)::

    clean       uint8   (sample, class, y, x)   ground truth, 0/1
    noisy       float32 (sample, class, y, x)   observed occupancy probability
    rho         float32 (sample,)               the generator's correlation knob
    phi         float32 (sample,)               measured correlation of clean classes 0 and 1
    split       uint8   (sample,)               0 train, 1 val, 2 test
    phi_matrix  float32 (sample, class, other_class)   only when there are > 2 classes

A store of sequences (``frames`` > 1 in its attributes) has ``time`` after ``sample`` in
``clean`` and ``noisy``, (sample, time, class, y, x), and two more arrays::

    pose        float64 (sample, time, axis)    each frame's grid in frame 0's: y, x, yaw
    phi_time    float32 (sample, class)         measured frame-to-frame phi of each class

``phi`` and ``phi_matrix`` are then measured on the last frame, the one estimated.

Samples are ordered by split, then rho, then index, so each split is one contiguous
block.  Maps are sharded (several samples per shard file, a few per inner chunk) and
compressed; each shard is written whole, once.  Group attributes hold the provenance,
one digest per shard, the content digest and, written last, ``complete = true``.

This module is the only one that imports zarr, and is over 400 lines for that reason:
everything that touches zarr (layout, codecs, reading, digests, verify) stays here.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
import json
import operator
import os
import shutil
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import StoreError
from .generators import FAMILIES, warps_to_last
from .locks import hold
from .places import Place, Remote, Unreachable, is_transport_error, location
from .seeding import rho_id

__all__ = [
    "FORMAT_VERSION", "SPLITS", "StoreError", "Store", "open_store", "verify_store",
    "Layout", "reading", "writing",
]

FORMAT_VERSION = 1
FORMAT_KEY = "ogmbench_format"
# Stores whose every shard file is written (write_block): a missing file is damage.
EVERY_SHARD = "every_shard_written"
SPLITS = ("train", "val", "test")
MAP_DIMS = ("sample", "class", "y", "x")
SEQUENCE_DIMS = ("sample", "time", "class", "y", "x")
# What a pose holds (generators.motion): metres in frame 0's grid, and radians.
POSE_AXES = ("y", "x", "yaw")

# Aim for ~8 MiB of raw maps per shard file and ~640 KiB per inner chunk: whole-shard
# writes stay cheap and one sample reads back in a few milliseconds (shared/MEASURED.md).
_SHARD_BYTES = 8 << 20
_CHUNK_BYTES = 640 << 10
_MAX_SHARD = 512
# Checked shards of a store on object storage kept in memory (a few times 8 MiB).
_KEPT_SHARDS = 4


@dataclass(frozen=True)
class Layout:
    """Shapes and chunking of a store with ``n`` samples of (classes, height, width)."""

    n: int
    classes: int
    height: int
    width: int
    frames: int = 1

    @property
    def sample_bytes(self) -> int:
        # uint8 clean + float32 noisy
        return self.frames * self.classes * self.height * self.width * 5

    @property
    def chunk(self) -> int:
        noisy = self.frames * self.classes * self.height * self.width * 4
        return int(max(1, min(_CHUNK_BYTES // noisy, _MAX_SHARD)))

    @property
    def shard(self) -> int:
        per_shard = min(_MAX_SHARD, _SHARD_BYTES // self.sample_bytes)
        return int(self.chunk * max(1, per_shard // self.chunk))

    @property
    def n_shards(self) -> int:
        return -(-self.n // self.shard)

    def shard_range(self, index: int) -> tuple[int, int]:
        start = index * self.shard
        return start, min(self.n, start + self.shard)

    def arrays(self) -> dict[str, tuple[tuple[int, ...], str, tuple[str, ...]]]:
        """name -> (shape, dtype, dimension names), in digest order."""
        sequence = self.frames > 1
        maps = (self.n, *((self.frames,) if sequence else ()), self.classes, self.height,
                self.width)
        dims = SEQUENCE_DIMS if sequence else MAP_DIMS
        out = {
            "clean": (maps, "uint8", dims),
            "noisy": (maps, "float32", dims),
            "rho": ((self.n,), "float32", ("sample",)),
            "phi": ((self.n,), "float32", ("sample",)),
            "split": ((self.n,), "uint8", ("sample",)),
        }
        if self.classes > 2:
            out["phi_matrix"] = (
                (self.n, self.classes, self.classes), "float32", ("sample", "class", "other_class")
            )
        if sequence:
            out["pose"] = ((self.n, self.frames, len(POSE_AXES)), "float64",
                           ("sample", "time", "axis"))
            out["phi_time"] = ((self.n, self.classes), "float32", ("sample", "class"))
        return out


def shard_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the names and C-order bytes of one shard's arrays (digest order)."""
    h = hashlib.sha256()
    for name, value in arrays.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def content_digest(shard_digests: list[str]) -> str:
    """The store's digest: sha256 of its shard digests in order."""
    return hashlib.sha256("".join(shard_digests).encode()).hexdigest()


def _codecs(dtype: str):
    from zarr.codecs import BloscCodec

    if dtype == "uint8":
        # 0/1 maps: bit-shuffling turns them into long runs that zstd shrinks to ~1-6%.
        return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
    # Noisy floats barely compress; lz4 + byte shuffle costs little (MEASURED.md).
    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def is_store(path: Place) -> bool:
    """Whether ``path`` holds a zarr group written by ogmbench (complete or not)."""
    meta = location(path) / "zarr.json"
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attrs, dict) and FORMAT_KEY in attrs


# What an ogmbench store holds: its metadata and, per array or coordinate, a folder with
# its metadata and chunk files under c/.
_STORE_FOLDERS = {"clean", "noisy", "rho", "phi", "split", "phi_matrix", "class", "other_class",
                  "pose", "phi_time", "time", "axis"}


def _entries(path: Place) -> Iterator[tuple[str, str]]:
    """(relative path, kind) of everything in a store folder: "ours", "foreign" or
    "special" (not a regular file or folder: a pipe, a socket, a device, a link).
    On object storage, where there are only objects, each object is one entry."""
    if isinstance(path, Remote):
        for rel in path.files():
            yield rel, _kind(tuple(rel.split("/")), folder=False)
        return
    for root, dirs, files in os.walk(path):
        root = Path(root)
        rel = root.relative_to(path).parts
        for name in dirs + files:
            entry = root / name
            mode = os.lstat(entry).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                yield str(entry.relative_to(path)), "special"
                continue
            yield str(entry.relative_to(path)), _kind((*rel, name), stat.S_ISDIR(mode))
        dirs[:] = [d for d in dirs if not os.path.islink(root / d)]


def _kind(parts: tuple[str, ...], folder: bool) -> str:
    if parts == ("zarr.json",) or (len(parts) == 1 and parts[0] in _STORE_FOLDERS and folder):
        return "ours"
    if len(parts) >= 2 and parts[0] in _STORE_FOLDERS and (
            parts[1:] == ("zarr.json",) or (parts[1] == "c" and all(
                p.isdigit() for p in parts[2:]))):
        return "ours"
    return "foreign"


def check_replaceable(path: Place) -> None:
    """Refuse to replace ``path`` unless it is an ogmbench store holding only what
    ogmbench writes, or an empty folder."""
    path = location(path)
    if path.is_symlink():
        raise StoreError(f"{path} is a symbolic link; refusing to replace it (choose another "
                         "OUT or remove the link yourself)")
    if not ((path.is_dir() and not any(path.iterdir())) or is_store(path)):
        raise StoreError(
            f"{path} exists and is not an ogmbench store; refusing to overwrite it "
            "(choose another OUT or remove it yourself)"
        )
    foreign = [entry for entry, kind in _entries(path) if kind != "ours"]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise StoreError(f"{path} holds {foreign[0]}{more}, which ogmbench "
                         "did not write; refusing to overwrite it (move them out first, or "
                         "choose another OUT)")


def remove_store(path: Place) -> None:
    """Delete an existing ogmbench store or empty directory; refuse anything else."""
    path = location(path)
    check_replaceable(path)
    if isinstance(path, Remote):
        path.remove_tree()
    else:
        shutil.rmtree(path)


def replace_store(new: Path, old: Path) -> None:
    """Put the complete store ``new`` in the place of ``old`` (an ogmbench store).

    Two renames: ``old`` steps aside, ``new`` takes its name, and only then is ``old``
    deleted, so an interruption never leaves neither.
    """
    new, old = Path(new), Path(old)
    check_replaceable(old)
    aside = old.parent / f".{old.name}.ogmbench-old"
    if aside.exists() or aside.is_symlink():
        remove_store(aside)
    os.replace(old, aside)
    os.replace(new, old)
    shutil.rmtree(aside)


def create_store(path: Place, layout: Layout, attrs: dict[str, Any]):
    """Create the group and empty arrays; the store is marked incomplete.

    zarr's version joins ``attrs["versions"]`` here (this module alone imports zarr).
    """
    import zarr

    attrs = {FORMAT_KEY: FORMAT_VERSION, **attrs, EVERY_SHARD: True, "complete": False,
             "shard_digests": {}}
    if "versions" in attrs:
        attrs["versions"] = {**attrs["versions"], "zarr": zarr.__version__}
    group = zarr.create_group(_zarr_store(path, "w"), attributes=attrs)
    for name, (shape, dtype, dims) in layout.arrays().items():
        if name in ("clean", "noisy"):
            chunks = (layout.chunk, *shape[1:])
            shards = (layout.shard, *shape[1:])
        else:
            chunks, shards = (layout.shard, *shape[1:]), None
        group.create_array(
            name, shape=shape, dtype=dtype, chunks=chunks, shards=shards,
            compressors=_codecs(dtype), dimension_names=dims,
            fill_value=np.nan if dtype.startswith("float") else 0,
        )
    # Class names as coordinates, so that xarray selects by name (ds.sel({"class": ...})).
    # They follow from the attributes, so they are not part of the shard digests.
    names = np.array(attrs.get("class_names") or [f"X{k + 1}" for k in range(layout.classes)])
    dims = ("class",) + (("other_class",) if layout.classes > 2 else ())
    for dim in dims:
        coord = group.create_array(dim, shape=(layout.classes,), dtype=str, dimension_names=(dim,))
        coord[:] = names
    if layout.frames > 1:
        # Seconds before the last frame (the one estimated), and what a pose holds.
        dt = float(attrs["sequence"]["dt"])
        time = group.create_array("time", shape=(layout.frames,), dtype="float64",
                                  dimension_names=("time",))
        time[:] = (np.arange(layout.frames) - (layout.frames - 1)) * dt
        axis = group.create_array("axis", shape=(len(POSE_AXES),), dtype=str,
                                  dimension_names=("axis",))
        axis[:] = np.array(POSE_AXES)
    return group


def write_block(group, name: str, start: int, stop: int, value: np.ndarray) -> None:
    """Write samples ``start:stop`` of array ``name``, whole shards, every file written.

    zarr skips a chunk equal to the fill value by default; here every shard file is
    written, so a missing file is always damage (never a legitimate fill: zeros in
    ``clean`` or ``split``, NaN in ``phi``), and the bytes read back are the bytes that
    were hashed.
    """
    group[name].with_config({"write_empty_chunks": True})[start:stop] = value


def missing_shards(path: Place, layout: Layout) -> list[tuple[str, int]]:
    """(array, shard) of every shard file absent from a store written by :func:`write_block`."""
    path = location(path)
    listed = set(path.files()) if isinstance(path, Remote) else None
    out = []
    for name, (shape, _, _) in layout.arrays().items():
        for shard in range(layout.n_shards):
            # zarr v3's default chunk keys: c/<i>/0/... along the sample axis.
            key = "/".join([name, "c", str(shard), *(["0"] * (len(shape) - 1))])
            if not (key in listed if listed is not None else Path(path, key).is_file()):
                out.append((name, shard))
    return out


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
    return hold(lock_file(_store_path(path)), f"store {path}")


def reading(path: str | os.PathLike) -> contextlib.AbstractContextManager:
    """Hold the store at ``path`` for reading: any number of readers, no writer meanwhile.

    An ``eval`` holds it throughout, so a ``generate --overwrite`` of the same store
    cannot swap the data under it.  Raises :class:`~ogmbench.locks.BusyError` while
    the store is being written.
    """
    return hold(lock_file(_store_path(path)), f"store {path}", shared=True)


def _store_path(path) -> Place:
    """``path`` as a Path or URL; an empty one is refused rather than read as the
    current folder."""
    if not str(path).strip():
        raise StoreError("STORE is empty; give the path of a store")
    return location(path)


def _unreachable(path: Place, exc: BaseException) -> None:
    """An object store that cannot be reached is not a damaged store: say which."""
    if is_transport_error(exc):
        raise Unreachable(f"cannot read {path}: {exc}") from None


def _zarr_store(path: Place, mode: str):
    """What zarr opens: a local folder's name, or an fsspec store for a URL."""
    if isinstance(path, Remote):
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(path.url, read_only=mode == "r")
    return str(path)


def open_group(path: Place, mode: str = "r"):
    """Open the zarr group at ``path`` or raise :class:`StoreError` with the reason."""
    import zarr

    path = _store_path(path)
    if not path.exists():
        raise StoreError(f"no store at {path}")
    if not (path / "zarr.json").is_file():
        raise StoreError(f"{path} is not a zarr v3 store (no zarr.json)")
    # Object storage holds only objects: nothing there can be special.
    special = None if isinstance(path, Remote) else next(
        (entry for entry, kind in _entries(path) if kind == "special"), None)
    if special is not None:  # a pipe would hang the reader; a link could lead anywhere
        raise StoreError(f"{path} is damaged: {special} is not a regular "
                         f"file or folder; run 'ogmbench verify {path}'")
    try:
        # Not the consolidated copy (written for xarray's sake): what is on disk.
        group = zarr.open_group(_zarr_store(path, mode), mode=mode, zarr_format=3,
                                use_consolidated=False)
        attrs = group.attrs.asdict()
    except Exception as exc:  # zarr raises many types for damaged metadata
        _unreachable(path, exc)
        raise StoreError(f"{path} is corrupt: cannot read its metadata ({exc})") from None
    if FORMAT_KEY not in attrs:
        raise StoreError(f"{path} is a zarr store but not an ogmbench store (no {FORMAT_KEY!r})")
    if type(attrs[FORMAT_KEY]) is not int or attrs[FORMAT_KEY] != FORMAT_VERSION:
        raise StoreError(
            f"{path} has ogmbench store format {attrs[FORMAT_KEY]!r} "
            f"({type(attrs[FORMAT_KEY]).__name__}); this ogmbench reads format "
            f"{FORMAT_VERSION} (an integer)"
        )
    return group


def check_arrays(group, layout: Layout, path: Place) -> None:
    """Raise :class:`StoreError` unless the group holds every array of ``layout``."""
    try:
        with warnings.catch_warnings():
            # zarr warns about folders without metadata; the check below names them.
            warnings.simplefilter("ignore")
            members = dict(group.arrays())
    except Exception as exc:
        raise StoreError(f"{path} is corrupt: cannot list its arrays ({exc})") from None
    for name, (shape, dtype, _) in layout.arrays().items():
        if name not in members:
            raise StoreError(f"{path} is corrupt: array {name!r} is missing")
        arr = members[name]
        if tuple(arr.shape) != shape or str(arr.dtype) != dtype:
            raise StoreError(
                f"{path} is corrupt: {name!r} is {arr.dtype}{tuple(arr.shape)}, "
                f"expected {dtype}{shape}"
            )


def _layout_or_corrupt(attrs: dict[str, Any], path: Path) -> Layout:
    try:
        return layout_from_attrs(attrs)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{path} is corrupt: bad provenance attributes ({exc!r})") from None


def consolidate(path: Place) -> None:
    """Write consolidated metadata so that ``xarray.open_zarr`` opens the store quietly."""
    import zarr

    with warnings.catch_warnings():
        # zarr warns that consolidation is not yet in the v3 spec; xarray reads it anyway.
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(_zarr_store(location(path), "r+"), zarr_format=3)


def layout_from_attrs(attrs: dict[str, Any]) -> Layout:
    height, width = attrs["size"]
    return Layout(int(attrs["n_samples"]), int(attrs["classes"]), int(height), int(width),
                  int(attrs.get("frames", 1)))


class Store:
    """A complete ogmbench store opened for reading.

    Use :func:`open_store` to get one.  ``rho``, ``phi`` and ``split`` are small and
    held in memory; the maps stay on disk and are read chunk by chunk.

    Attributes
    ----------
    path : Path
    attrs : dict
        Provenance recorded at generation.
    clean, noisy : zarr.Array
        (N, C, H, W) maps; (N, T, C, H, W) in a store of sequences (:attr:`frames` > 1).
    rho, phi : ndarray of float32, shape (N,)
    split : ndarray of uint8, shape (N,)
    phi_time : ndarray of float32, shape (N, C), or None
        A sequence store's frame-to-frame phi of each class.

    Notes
    -----
    :meth:`read`, :meth:`take`, :meth:`iter_chunks`, :meth:`iter_range` and indexing
    check each shard against its recorded digest the first time they touch it (with
    ``rho``, ``phi`` and ``split`` as held in memory), so a damaged or altered shard
    raises :class:`StoreError` instead of yielding numbers.  ``clean`` and ``noisy``
    themselves are zarr arrays, read unchecked.

    A store on object storage has no reader's lock to keep a writer out
    (:mod:`ogmbench.locks`), so there every read is checked, not only the first one:
    a store replaced meanwhile stops the reader with :class:`StoreError`.
    """

    def __init__(self, path: Place, group, attrs: dict[str, Any]):
        self.path = location(path)
        self.attrs = attrs
        self.layout = layout_from_attrs(attrs)
        self._group = group
        self.clean = group["clean"]
        self.noisy = group["noisy"]
        self.rho = group["rho"][:]
        self.phi = group["phi"][:]
        self.split = group["split"][:]
        # A sequence store's frame-to-frame phi, small and held like phi (None otherwise).
        self.phi_time = group["phi_time"][:] if self.layout.frames > 1 else None
        # Looked up once: zarr reads an array's metadata again on each group lookup.
        self._arrays = {name: group[name] for name in self.layout.arrays()}
        self._verified: set[int] = set()
        self._recheck = isinstance(self.path, Remote)  # see the class notes
        # There, the last few checked shards stay in memory: random access (a shuffled
        # data loader) would fetch and hash a whole shard per sample otherwise.
        self._kept: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._last: tuple[int, dict[str, np.ndarray]] | None = None  # the shard just checked
        self._checking = threading.Lock()

    def __len__(self) -> int:
        return self.layout.n

    def __repr__(self) -> str:
        layout = self.layout
        frames = f" frames={layout.frames}" if layout.frames > 1 else ""
        return (f"<ogmbench.Store {self.path} family={self.attrs['family']!r} "
                f"noise={self.attrs['noise']!r} samples={layout.n} classes={layout.classes} "
                f"size={layout.height}x{layout.width}{frames}>")

    @property
    def classes(self) -> int:
        return self.layout.classes

    @property
    def class_names(self) -> list[str]:
        return list(self.attrs["class_names"])

    def indices(self, split: str | int | None = None) -> np.ndarray:
        """Sample indices of one split (name or number), or all of them."""
        if split is None:
            return np.arange(len(self))
        return np.flatnonzero(self.split == split_number(split))

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: its ``index``, ``clean`` (C, H, W), ``noisy`` (C, H, W), ``rho``,
        ``phi`` and ``split``; in a store of sequences the maps are (T, C, H, W) and it
        has ``pose`` (T, 3) and ``phi_time`` (C,) too."""
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        index %= len(self)
        sample = {
            "index": index,
            "clean": self.read("clean", index, index + 1)[0],
            "noisy": self.read("noisy", index, index + 1)[0],
            "rho": float(self.rho[index]),
            "phi": float(self.phi[index]),
            "split": int(self.split[index]),
        }
        if self.frames > 1:
            sample["pose"] = self.read("pose", index, index + 1)[0]
            sample["phi_time"] = self.phi_time[index]
        return sample

    def single_frames(self, what: str) -> "Store":
        """This store, or :class:`StoreError` (one line) when it holds sequences, for a
        reader (``what``) that reads single maps."""
        if self.frames > 1:
            raise StoreError(f"{self.path} holds sequences of {self.frames} frames; {what} "
                             "reads stores of single maps so far (generate without --frames)")
        return self

    @property
    def frames(self) -> int:
        """Frames per sample: 1, or the length of a store of sequences."""
        return self.layout.frames

    def warps(self, indices) -> np.ndarray:
        """How each frame of samples ``indices`` maps into its last frame's grid.

        Returns
        -------
        ndarray of float64, shape (n, T, 2, 3)
            ``[matrix | offset]`` per frame (:func:`ogmbench.generators.warps_to_last`,
            from the recorded poses and resolution); the identity for a store of single
            maps (T = 1).
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.frames == 1:
            return np.broadcast_to(np.eye(2, 3), (indices.size, 1, 2, 3)).copy()
        poses = self.take("pose", indices)
        return warps_to_last(poses, (self.layout.height, self.layout.width),
                             float(self.attrs["resolution"]))

    def iter_chunks(
        self, split: str | int | None = None, fields: tuple[str, ...] = ("clean", "noisy")
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield consecutive blocks of samples, one shard (or part of one) at a time.

        Memory is bounded by the shard size whatever the store size.  Each block is a
        dict with ``index``, ``rho``, ``phi``, ``split`` and the requested map
        ``fields`` (any of ``clean``, ``noisy``, ``phi_matrix``).
        """
        wanted = self.indices(split)
        if wanted.size == 0:
            return
        # Splits are contiguous blocks, so a split is one [start, stop) range.
        yield from self.iter_range(int(wanted[0]), int(wanted[-1]) + 1, fields)

    def iter_range(
        self, start: int, stop: int, fields: tuple[str, ...] = ("clean", "noisy")
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield samples ``start:stop`` in blocks that end at shard boundaries.

        Blocks are as in :meth:`iter_chunks`, so the same samples come in the same
        batches however they are asked for.
        """
        step = self.layout.shard
        while start < stop:
            end = min(stop, (start // step + 1) * step)
            block = {
                "index": np.arange(start, end),
                "rho": self.rho[start:end],
                "phi": self.phi[start:end],
                "split": self.split[start:end],
            }
            for name in fields:
                block[name] = self.read(name, start, end)
            yield block
            start = end

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` of array ``name``, from digest-checked shards.

        ``start`` and ``stop`` are clipped to the store as a slice would be.

        Raises
        ------
        StoreError
            When a shard cannot be read or differs from its recorded digest.
        ValueError
            For a name that is not one of the store's arrays.
        """
        self._known(name)
        start, stop, _ = slice(start, stop).indices(len(self))
        if stop <= start:
            return self._raw(name, slice(start, start))
        parts = []
        with self._checking:
            for shard in range(start // self.layout.shard, (stop - 1) // self.layout.shard + 1):
                lo, hi = self.layout.shard_range(shard)
                lo, hi = max(lo, start), min(hi, stop)
                arrays = self._check_shard(shard)
                offset = shard * self.layout.shard
                parts.append(arrays[name][lo - offset:hi - offset].copy() if arrays is not None
                             else self._raw(name, slice(lo, hi)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def take(self, name: str, indices, classes=None) -> np.ndarray:
        """Samples ``indices`` (any order) of array ``name``, optionally only ``classes``.

        Raises :class:`IndexError` for an index outside ``[0, len(store))``, and as
        :meth:`read` otherwise.
        """
        self._known(name)
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"sample indices must be in [0, {len(self)}), got "
                             f"{indices.min()}..{indices.max()}")
        order = np.argsort(indices, kind="stable")
        if self._recheck:  # the rows come from the very bytes that were checked
            return self._take_checked(name, indices, classes)
        with self._checking:
            for shard in np.unique(indices // self.layout.shard):
                self._check_shard(int(shard))
        # Classes are the third axis of a sequence's maps (sample, time, class, y, x).
        selection = ((indices[order],) if classes is None
                     else (indices[order], *(slice(None),) * (self.frames > 1), list(classes)))
        values = self._raw(name, selection, orthogonal=True)
        out = np.empty_like(values)
        out[order] = values
        return out

    def _take_checked(self, name: str, indices: np.ndarray, classes) -> np.ndarray:
        shape = self._arrays[name].shape[1:]
        out = np.empty((len(indices), *shape), self._arrays[name].dtype)
        shards = indices // self.layout.shard
        with self._checking:
            for shard in np.unique(shards):
                rows = np.flatnonzero(shards == shard)
                arrays = self._check_shard(int(shard))
                out[rows] = arrays[name][indices[rows] - shard * self.layout.shard]
        if classes is None:
            return out
        return out[:, :, list(classes)] if self.frames > 1 else out[:, list(classes)]

    def check(self) -> None:
        """Digest-check every shard now (eval does, before it writes anything).

        Raises :class:`StoreError` naming the first shard that differs.
        """
        with self._checking:
            for shard in range(self.layout.n_shards):
                self._check_shard(shard)

    def assume_checked(self) -> None:
        """Count every shard as checked, without reading it.

        Only for a process whose parent checked this store (:meth:`check`) and holds its
        reader's lock meanwhile, so that no ogmbench can have changed it since: a
        plugin's child process in ``eval``, a data loader's workers.  On object storage,
        where there is no reader's lock, every read stays checked.
        """
        if self._recheck:
            return
        with self._checking:
            self._verified.update(range(self.layout.n_shards))

    def _known(self, name: str) -> None:
        if name not in self._arrays:
            raise ValueError(f"{name!r} is not an array of this store "
                             f"({', '.join(self._arrays)})")

    def _check_shard(self, shard: int) -> dict[str, np.ndarray] | None:
        """Digest-check ``shard`` once; its arrays when they are at hand (this call read
        them, or it is the shard checked last), else None."""
        if self._last and self._last[0] == shard:  # checked bytes, already in memory
            return self._last[1]
        if shard in self._kept:
            self._kept.move_to_end(shard)
            self._last = (shard, self._kept[shard])
            return self._last[1]
        if shard in self._verified and not self._recheck:
            return None
        start, stop = self.layout.shard_range(shard)
        small = {"rho": self.rho, "phi": self.phi, "split": self.split,
                 "phi_time": self.phi_time}
        arrays = {name: small[name][start:stop] if name in small
                  else self._raw(name, slice(start, stop)) for name in self.layout.arrays()}
        if shard_digest(arrays) != self.attrs["shard_digests"].get(str(shard)):
            raise StoreError(f"{self.path} is damaged: shard {shard} (samples {start}-{stop - 1}) "
                             "differs from its recorded digest; run "
                             f"'ogmbench verify {self.path}'", path=str(self.path))
        self._verified.add(shard)
        self._last = (shard, arrays)
        if self._recheck:
            self._kept[shard] = arrays
            while len(self._kept) > _KEPT_SHARDS:
                self._kept.popitem(last=False)
        return arrays

    def _raw(self, name: str, selection, orthogonal: bool = False) -> np.ndarray:
        """Read from zarr; damage raises :class:`StoreError`."""
        try:
            array = self._arrays[name]
            values = (array.get_orthogonal_selection(selection) if orthogonal
                      else array[selection])
        except Exception as exc:  # checksum errors, truncated or unreadable shard files
            _unreachable(self.path, exc)
            raise StoreError(f"{self.path} is corrupt: cannot read {name} ({type(exc).__name__}); "
                             f"run 'ogmbench verify {self.path}'", path=str(self.path)) from None
        if name == "noisy" and np.isnan(values).any():
            # Maps are filled with NaN and no noise model makes one: a NaN map cell is a
            # shard that was never written.  (phi may legitimately be NaN.)
            raise StoreError(f"{self.path} is corrupt: {name} has unwritten cells (a missing "
                             f"shard file?); run 'ogmbench verify {self.path}'",
                             path=str(self.path))
        return values

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_checking"] = None  # a lock does not pickle; the checks made travel along
        state["_last"] = None
        state["_kept"] = OrderedDict()
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._checking = threading.Lock()


def split_number(split: str | int) -> int:
    if isinstance(split, str):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return SPLITS.index(split)
    if int(split) not in (0, 1, 2):
        raise ValueError(f"split must be 0, 1 or 2, got {split!r}")
    return int(split)


def open_store(path: str | os.PathLike, checked: str | None = None) -> Store:
    """Open a complete ogmbench store for reading.

    Parameters
    ----------
    path : path or URL
    checked : str, optional
        The content digest of this store as another process checked it (eval's plugin
        children and Dask units, a data loader's workers): the store opened must carry
        it, and its shards then count as checked (:meth:`Store.assume_checked`).

    Raises
    ------
    StoreError
        If ``path`` is missing, not a zarr store, not an ogmbench store, of another
        format version, incomplete (an interrupted ``generate``) or damaged; or, with
        ``checked``, when another store has been written there since.
    """
    path = _store_path(path)
    group = open_group(path)
    attrs = group.attrs.asdict()
    if attrs.get("complete") is not True:  # only ogmbench's own JSON true marks it complete
        raise StoreError(
            f"{path} is incomplete (generation was interrupted); finish it with "
            f"'ogmbench generate {path} --resume'"
        )
    if checked is not None and attrs.get("digest") != checked:
        raise StoreError(f"{path} changed since it was checked (another store was written "
                         "there); start again", path=str(path))
    layout = _layout_or_corrupt(attrs, path)
    check_arrays(group, layout, path)
    # noisy and rho never equal their NaN fill, and clean practically never its 0 fill, so
    # their shard files exist in every store; split and phi may legitimately lack theirs
    # in stores written before every shard was (no EVERY_SHARD marker).
    every = attrs.get(EVERY_SHARD) is True
    missing = [m for m in missing_shards(path, layout)
               if every or m[0] in ("clean", "noisy", "rho")]
    if missing:
        name, shard = missing[0]
        start, stop = layout.shard_range(shard)
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise StoreError(f"{path} is damaged: the {name} shard {shard} (samples "
                         f"{start}-{stop - 1}) is missing{more}; run 'ogmbench verify {path}'")
    try:
        store = Store(path, group, attrs)
    except Exception as exc:
        raise StoreError(f"{path} is corrupt: {exc}") from None
    _check_attributes(store)
    if checked is not None:
        store.assume_checked()
    return store


# Attributes that info, show, eval and verify read, with their types.
_TRUSTED = {"family": str, "noise": str, "config": dict, "digest": str, "shard_digests": dict,
            "family_params": dict, "seed": int, "rho_values": list, "split_fractions": list,
            "samples_per_rho": int, "split_counts_per_rho": dict}


def _check_attributes(store: Store) -> None:
    """Attributes the readers trust must agree with the arrays (they are not digested)."""
    attrs, path = store.attrs, store.path
    for key, kind in _TRUSTED.items():
        if not isinstance(attrs.get(key), kind) or isinstance(attrs.get(key), bool):
            raise StoreError(f"{path} is inconsistent: its attribute {key!r} is "
                             f"{attrs.get(key)!r}, not a {kind.__name__} (its attributes were "
                             "edited after generation; regenerate it)")
    if not _is_sha256(attrs["digest"]):
        raise StoreError(f"{path} is inconsistent: its digest {attrs['digest']!r} is not a "
                         "sha256 (its attributes were edited after generation; regenerate it)")
    names = attrs.get("class_names")
    if (not isinstance(names, list) or len(names) != store.classes
            or not all(isinstance(n, str) and n and n.isprintable() for n in names)
            or len(set(names)) != len(names)):
        raise StoreError(f"{path} is inconsistent: class_names {names!r} does not name its "
                         f"{store.classes} classes with distinct printable names (its attributes were edited after generation; "
                         "regenerate it)")
    _check_digests(store)
    _check_config(store)
    _check_coordinates(store)
    values = attrs.get("rho_values")
    try:
        listed = sorted(set(rho_id(np.asarray(values, dtype=np.float64)).tolist()))
    except (TypeError, ValueError, AttributeError):  # not a list of numbers
        listed = None
    present = sorted(set(rho_id(store.rho).tolist()))
    if listed != present:
        raise StoreError(f"{path} is inconsistent: rho_values {values!r} in its attributes, "
                         f"{present} in its rho array (its attributes were edited after generation; "
                         "regenerate it)")


_EDITED = "(its attributes were edited after generation; regenerate it)"


def _check_digests(store: Store) -> None:
    """The shard digests must be one sha256 per shard and add up to the store's digest."""
    attrs, path = store.attrs, store.path
    recorded = attrs["shard_digests"]
    keys = [str(i) for i in range(store.layout.n_shards)]
    if sorted(recorded) != sorted(keys) or not all(_is_sha256(v) for v in recorded.values()):
        raise StoreError(f"{path} is inconsistent: its shard_digests do not hold one sha256 for "
                         f"each of its {len(keys)} shards {_EDITED}")
    if content_digest([recorded[k] for k in keys]) != attrs["digest"]:
        raise StoreError(f"{path} is inconsistent: its shard digests do not add up to its "
                         f"digest {_EDITED}")


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


# Provenance attributes that repeat a field of the generation config.
_FROM_CONFIG = {"family": "family", "family_params": "family_params", "noise": "noise",
                "seed": "seed", "rho_values": "rho", "samples_per_rho": "samples_per_rho",
                "split_fractions": "split", "classes": "classes", "size": "size"}


def _check_config(store: Store) -> None:
    """Each attribute that repeats the generation config must equal it there."""
    attrs, config = store.attrs, store.attrs["config"]
    for key, field in _FROM_CONFIG.items():
        if field not in config or attrs.get(key) != config[field]:
            raise StoreError(f"{store.path} is inconsistent: its attribute {key!r} is "
                             f"{attrs.get(key)!r} but its config says {config.get(field)!r} "
                             f"{_EDITED}")
    try:  # the values inside too: what info prints and the generator would accept
        canonical = json.loads(json.dumps(FAMILIES[config["family"]].resolve(
            dict(config["family_params"]), int(config["classes"]))))
        rhos = [float(r) for r in config["rho"] if not isinstance(r, bool)]
    except (KeyError, TypeError, ValueError, AttributeError):  # ParamError is a ValueError
        canonical, rhos = None, []
    if canonical != config["family_params"]:
        raise StoreError(f"{store.path} is inconsistent: its family parameters "
                         f"{config['family_params']!r} are not those of a {config['family']!r} "
                         f"store {_EDITED}")
    if len(rhos) != len(config["rho"]) or [float(rho_id(r)) for r in rhos] != rhos:
        raise StoreError(f"{store.path} is inconsistent: its rho values {config['rho']!r} are "
                         f"not rho values as generate writes them {_EDITED}")
    if attrs.get("frames", 1) != config.get("frames", 1):
        raise StoreError(f"{store.path} is inconsistent: its attribute 'frames' is "
                         f"{attrs.get('frames', 1)!r} but its config says "
                         f"{config.get('frames', 1)!r} {_EDITED}")
    if attrs["n_samples"] != config["samples_per_rho"] * len(config["rho"]):
        raise StoreError(f"{store.path} is inconsistent: n_samples {attrs['n_samples']!r} is not "
                         f"samples_per_rho x the number of rho values {_EDITED}")


def _check_coordinates(store: Store) -> None:
    """The class coordinates (what xarray selects by) must name the classes."""
    dims = ("class",) + (("other_class",) if store.classes > 2 else ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        members = set(store._group.array_keys())
    if not any(dim in members for dim in dims) and store.attrs.get(EVERY_SHARD) is not True:
        return  # written before stores had class coordinates (and before every shard was)
    for dim in dims:
        try:
            values = [str(v) for v in store._group[dim][:]]
        except Exception:  # missing, or a shard deleted or damaged
            values = None
        if values != store.class_names:
            raise StoreError(f"{store.path} is damaged: its {dim!r} coordinate is {values!r}, "
                             f"not the class names {store.class_names!r}; run "
                             f"'ogmbench verify {store.path}'")


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_store`."""

    path: Path
    ok: bool
    digest: str | None
    recorded: str | None
    bad_shards: list[int]
    message: str


def verify_store(path: str | os.PathLike, progress=None) -> VerifyReport:
    """Re-read every shard, recompute its digest and compare with the recorded ones.

    ``progress`` is an optional callable taking the number of shards just checked.
    Raises :class:`StoreError` when the store cannot be read as an ogmbench store.
    """
    path = _store_path(path)
    group = open_group(path)
    attrs = group.attrs.asdict()
    if not any(attrs.get("complete") is v for v in (True, False)):  # JSON true or false only
        return VerifyReport(path, False, None, None, [], f"{path}: DAMAGED: its 'complete' "
                            f"attribute is {attrs.get('complete')!r}, which ogmbench never "
                            "writes (its attributes were edited)")
    if attrs.get("complete") is not True:  # only ogmbench's own JSON true marks it complete
        return VerifyReport(path, False, None, None, [], f"{path} is incomplete: "
                            f"finish it with 'ogmbench generate {path} --resume'")
    layout = _layout_or_corrupt(attrs, path)
    check_arrays(group, layout, path)
    recorded = attrs.get("shard_digests", {})
    if not isinstance(recorded, dict):  # edited: no shard can match
        recorded = {}
    names = list(layout.arrays())
    arrays = {name: group[name] for name in names}
    digests, bad = [], []
    for index in range(layout.n_shards):
        start, stop = layout.shard_range(index)
        try:
            digest = shard_digest({name: arrays[name][start:stop] for name in names})
        except Exception:  # a damaged shard file cannot even be decoded
            digest = "unreadable"
        digests.append(digest)
        if recorded.get(str(index)) != digest:
            bad.append(index)
        if progress is not None:
            progress(1)
    digest = content_digest(digests)
    ok = not bad and digest == attrs.get("digest")
    if ok:
        message = f"{path}: intact ({layout.n} samples, {layout.n_shards} shards, digest {digest[:16]})"
    else:
        where = ", ".join(
            f"{s} (samples {layout.shard_range(s)[0]}-{layout.shard_range(s)[1] - 1})" for s in bad[:5]
        )
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        message = f"{path}: DAMAGED: {len(bad)} shard(s) differ from their recorded digests: {where}{more}"
        if not bad:
            message = f"{path}: DAMAGED: content digest does not match the recorded one"
    if ok:
        try:  # the attributes readers trust must agree with the arrays too
            open_store(path)
        except StoreError as exc:
            ok, message = False, f"{path}: DAMAGED: {exc}"
    return VerifyReport(path, ok, digest, attrs.get("digest"), bad, message)
