"""Reading a complete store: :class:`Store`, whose reads are digest-checked shard by
shard, and :func:`open_store`, which refuses an incomplete, damaged or edited store."""

from __future__ import annotations

import operator
import os
import threading
from collections import OrderedDict
from typing import Any, Iterator

import numpy as np

from ..errors import StoreError
from ..places import Place, Remote, location
from ._attributes import check_attributes
from ._digests import shard_digest
from ._files import missing_shards
from ._layout import (EVERY_SHARD, Layout, check_arrays, layout_from_attrs,
                      layout_or_corrupt, split_number)
from ._remote import open_group, store_path, unreachable
from ._sequences import identity_warps, warps_from_poses

# Checked shards of a store on object storage kept in memory (a few times 8 MiB).
_KEPT_SHARDS = 4


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
            return identity_warps(indices.size)
        return warps_from_poses(self.take("pose", indices), self.layout, self.attrs)

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
            unreachable(self.path, exc)
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
    path = store_path(path)
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
    layout = layout_or_corrupt(attrs, path)
    check_arrays(group, layout, path)
    _check_shard_files(path, layout, every=attrs.get(EVERY_SHARD) is True)
    try:
        store = Store(path, group, attrs)
    except Exception as exc:
        raise StoreError(f"{path} is corrupt: {exc}") from None
    check_attributes(store, group)
    if checked is not None:
        store.assume_checked()
    return store


def _check_shard_files(path: Place, layout: Layout, every: bool) -> None:
    """Refuse a store missing a shard file, which zarr would read as fill values.

    noisy and rho never equal their NaN fill, and clean practically never its 0 fill, so
    their shard files exist in every store; split and phi may legitimately lack theirs
    in stores written before every shard was (``every`` False: no EVERY_SHARD marker).
    """
    missing = [m for m in missing_shards(path, layout)
               if every or m[0] in ("clean", "noisy", "rho")]
    if missing:
        name, shard = missing[0]
        start, stop = layout.shard_range(shard)
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise StoreError(f"{path} is damaged: the {name} shard {shard} (samples "
                         f"{start}-{stop - 1}) is missing{more}; run 'ogmbench verify {path}'")
