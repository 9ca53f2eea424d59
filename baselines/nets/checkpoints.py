"""Checkpoints of the reference networks: written whole under a digest, read back only
when intact and made for the training that asks.

A checkpoint is ``MAGIC``, the sha256 of its payload, a newline, and the payload: what
``torch.save`` writes of the weights, the learning curve, the configuration and the key
of the training (estimator, version, configuration, data, target, seed).  It is loaded
with ``weights_only=True`` and only when the digest and the key hold; otherwise the
network is trained again, and the file replaced only when ogmbench wrote it (one in this
format: a file without the header is kept, whatever it holds).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from typing import Any

import torch

__all__ = ["dump", "load", "occupant"]

MAGIC = b"ogmbench checkpoint 1\n"
# What a checkpoint's payload holds besides its key.
_BEFORE = {"state_dict", "history", "config"}


def dump(state: dict[str, Any], key: str) -> bytes:
    """The bytes of a checkpoint of ``state`` for the training named by ``key``."""
    buffer = io.BytesIO()
    torch.save({**state, "key": key}, buffer)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def load(data: bytes, key: str, device) -> tuple[dict[str, Any] | None, str, bool]:
    """Read a checkpoint's bytes.

    Returns
    -------
    state : dict or None
        The checkpoint, or None when it cannot be used.
    reason : str
        Why not (empty when it can).
    ours : bool
        Whether ogmbench wrote the file (and so may replace it).
    """
    if not data.startswith(MAGIC):
        # One of the format before digests cannot be told from a file of the same keys
        # that somebody else saved: kept, like any file ogmbench cannot prove it wrote.
        return None, "not a checkpoint ogmbench wrote (or one from before checkpoints " \
                     "carried a digest)", False
    digest, _, payload = data[len(MAGIC):].partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        return None, "its bytes do not match its digest (damaged or altered)", True
    state = _torch_load(payload, device)
    if not (isinstance(state, dict) and _BEFORE <= set(state)):
        return None, "its digest holds but not a checkpoint", True
    if state.get("key") != key:
        return None, "it was made for another training", True
    return state, "", True


def occupant(path) -> str | None:
    """What is at a checkpoint's path: None (nothing), ``"file"`` (a regular file, which
    :func:`load` judges) or ``"other"`` (a folder, a pipe, a link: never read, never
    replaced)."""
    if not isinstance(path, (str, os.PathLike)):  # on object storage: objects only
        return "file" if path.is_file() else ("other" if path.exists() else None)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    return "file" if stat.S_ISREG(mode) else "other"


def _torch_load(data: bytes, device):
    try:
        with warnings.catch_warnings():  # torch's own word on a foreign pickle: ours says it
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception:  # not a torch file, or one weights_only refuses: never unpickled
        return None
