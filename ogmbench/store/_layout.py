"""The store's layout: format markers, splits, array shapes and chunking, checked arrays."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..places import Place

# 2: every store carries a metadata digest (store/_metadata.py); format 1 had none.
FORMAT_VERSION = 2
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


def chunk_grids(layout: Layout) -> dict[str, tuple[int, ...]]:
    """Chunk files per axis of every array and coordinate a store of ``layout`` holds:
    the arrays are sharded along the sample axis only, a coordinate is one chunk."""
    grids = {name: (layout.n_shards, *(1,) * (len(shape) - 1))
             for name, (shape, _, _) in layout.arrays().items()}
    coordinates = ["class"] + (["other_class"] if layout.classes > 2 else [])
    coordinates += ["time", "axis"] if layout.frames > 1 else []
    return {**grids, **{name: (1,) for name in coordinates}}


def layout_from_attrs(attrs: dict[str, Any]) -> Layout:
    height, width = attrs["size"]
    return Layout(int(attrs["n_samples"]), int(attrs["classes"]), int(height), int(width),
                  int(attrs.get("frames", 1)))


def layout_or_corrupt(attrs: dict[str, Any], path: Place) -> Layout:
    """:func:`layout_from_attrs`, or :class:`StoreError` for attributes that give none."""
    try:
        return layout_from_attrs(attrs)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{path} is corrupt: bad provenance attributes ({exc!r})") from None


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


def split_number(split: str | int) -> int:
    """A split's number (0 train, 1 val, 2 test) from its name or number."""
    if isinstance(split, str):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return SPLITS.index(split)
    if int(split) not in (0, 1, 2):
        raise ValueError(f"split must be 0, 1 or 2, got {split!r}")
    return int(split)
