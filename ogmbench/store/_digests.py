"""Digests: one sha256 per shard, the store's content digest over them, and the check
that a store's recorded digests are well formed and add up."""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import StoreError
from ..places import Place

# The end of every message about attributes that no longer agree with the arrays.
EDITED = "(its attributes were edited after generation; regenerate it)"


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


def is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_digests(attrs: dict, n_shards: int, path: Place) -> None:
    """The shard digests must be one sha256 per shard and add up to the store's digest."""
    recorded = attrs["shard_digests"]
    keys = [str(i) for i in range(n_shards)]
    if sorted(recorded) != sorted(keys) or not all(is_sha256(v) for v in recorded.values()):
        raise StoreError(f"{path} is inconsistent: its shard_digests do not hold one sha256 for "
                         f"each of its {len(keys)} shards {EDITED}")
    if content_digest([recorded[k] for k in keys]) != attrs["digest"]:
        raise StoreError(f"{path} is inconsistent: its shard digests do not add up to its "
                         f"digest {EDITED}")
