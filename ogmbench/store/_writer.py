"""Writing a store: the group and its empty arrays (codecs, chunks and shards of the
layout, class coordinates), whole shards, and the consolidated metadata for xarray."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..places import Place, location
from ._layout import EVERY_SHARD, FORMAT_KEY, FORMAT_VERSION, Layout, chunk_grids
from ._metadata import CREATION_DIGEST, creation_digest
from ._remote import zarr_store
from ._sequences import write_time_coordinates


def _codecs(dtype: str):
    from zarr.codecs import BloscCodec

    if dtype == "uint8":
        # 0/1 maps: bit-shuffling turns them into long runs that zstd shrinks to ~1-6%.
        return BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
    # Noisy floats barely compress; lz4 + byte shuffle costs little (MEASURED.md).
    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def create_store(path: Place, layout: Layout, attrs: dict[str, Any]):
    """Create the group and empty arrays; the store is marked incomplete.

    zarr's version joins ``attrs["versions"]`` here (the store room alone imports zarr).
    """
    import zarr

    attrs = {FORMAT_KEY: FORMAT_VERSION, **attrs, EVERY_SHARD: True, "complete": False,
             "shard_digests": {}}
    if "versions" in attrs:
        attrs["versions"] = {**attrs["versions"], "zarr": zarr.__version__}
    group = zarr.create_group(zarr_store(path, "w"), attributes=attrs)
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
        write_time_coordinates(group, layout, attrs)
    group.attrs.update({CREATION_DIGEST: creation_digest(location(path), group.attrs.asdict(),
                                                         chunk_grids(layout))})
    return group


def write_block(group, name: str, start: int, stop: int, value: np.ndarray) -> None:
    """Write samples ``start:stop`` of array ``name``, whole shards, every file written.

    zarr skips a chunk equal to the fill value by default; here every shard file is
    written, so a missing file is always damage (never a legitimate fill: zeros in
    ``clean`` or ``split``, NaN in ``phi``), and the bytes read back are the bytes that
    were hashed.
    """
    group[name].with_config({"write_empty_chunks": True})[start:stop] = value


def consolidate(path: Place) -> None:
    """Write consolidated metadata so that ``xarray.open_zarr`` opens the store quietly."""
    import zarr

    with warnings.catch_warnings():
        # zarr warns that consolidation is not yet in the v3 spec; xarray reads it anyway.
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(zarr_store(location(path), "r+"), zarr_format=3)
