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

This package is the only importer of zarr (imported when a store is opened or written,
never by ``import ogmbench``).  Its modules are private; the rooms above use this face:
``_layout`` (format, splits, shapes and chunking), ``_digests`` (shard and content
digests), ``_files`` (what a store folder holds; replacing one), ``_remote`` (opening
the zarr group on a path or URL), ``_locks`` (the store's lock files), ``_sequences``
(time coordinates and warps of a store of sequences), ``_writer`` (creating a store,
whole shards), ``_attributes`` (the trusted attributes checked), ``_reader``
(:class:`Store`, :func:`open_store`) and ``_verify`` (:func:`verify_store`).
"""

from ..errors import StoreError
from ._digests import content_digest, shard_digest
from ._files import check_proven, check_replaceable, is_store, remove_leftovers, remove_store, replace_store
from ._metadata import metadata_digest
from ._layout import FORMAT_VERSION, SPLITS, Layout, check_arrays, chunk_grids, split_number
from ._locks import lock_file, reading, writing
from ._reader import Store, open_store
from ._remote import open_group
from ._verify import verify_store
from ._writer import consolidate, create_store, write_block

__all__ = [
    "FORMAT_VERSION", "SPLITS", "StoreError", "Store", "open_store", "verify_store",
    "Layout", "reading", "writing",
    # for the rooms that write and inspect stores (generate, info, cli, reproduce)
    "check_arrays", "check_replaceable", "consolidate", "content_digest", "create_store",
    "check_proven", "is_store", "lock_file", "metadata_digest", "open_group", "remove_leftovers", "chunk_grids", "remove_store", "replace_store", "shard_digest",
    "split_number", "write_block",
]
