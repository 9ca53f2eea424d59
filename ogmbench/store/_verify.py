"""``ogmbench verify``: every shard read again and its digest recomputed, then the
store opened as a reader opens it (its trusted attributes checked too)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from ._digests import content_digest, shard_digest
from ._layout import Layout, check_arrays, layout_or_corrupt
from ._reader import open_store
from ..places import Remote
from ._files import entries, is_store
from ._remote import open_group, store_path


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
    path = store_path(path)
    special = None if isinstance(path, Remote) or not path.is_dir() else next(
        (entry for entry, kind in entries(path) if kind == "special"), None)
    if special is not None:  # damage, told here rather than as a reader's refusal
        return VerifyReport(path, False, None, None, [], f"{path}: DAMAGED: {special} is not "
                            "a regular file or folder (a pipe, a device or a link)")
    try:
        group = open_group(path)
    except StoreError as exc:
        if not is_store(path):
            raise  # not a store of ours: a usage error, not damage
        return VerifyReport(path, False, None, None, [], f"{path}: DAMAGED: {exc}")
    attrs = group.attrs.asdict()
    if not any(attrs.get("complete") is v for v in (True, False)):  # JSON true or false only
        return VerifyReport(path, False, None, None, [], f"{path}: DAMAGED: its 'complete' "
                            f"attribute is {attrs.get('complete')!r}, which ogmbench never "
                            "writes (its attributes were edited)")
    if attrs.get("complete") is not True:  # only ogmbench's own JSON true marks it complete
        return VerifyReport(path, False, None, None, [], f"{path} is incomplete: "
                            f"finish it with 'ogmbench generate {path} --resume'")
    try:
        layout = layout_or_corrupt(attrs, path)
        check_arrays(group, layout, path)
    except StoreError as exc:  # a store of ours whose arrays zarr cannot list: damage
        return VerifyReport(path, False, None, None, [], f"{path}: DAMAGED: {exc}")
    recorded = attrs.get("shard_digests", {})
    if not isinstance(recorded, dict):  # edited: no shard can match
        recorded = {}
    digests, bad = _shard_digests(group, layout, recorded, progress)
    digest = content_digest(digests)
    ok = not bad and digest == attrs.get("digest")
    message = _message(path, layout, digest, bad, ok)
    if ok:
        try:  # the attributes readers trust must agree with the arrays too
            open_store(path)
        except StoreError as exc:
            ok, message = False, f"{path}: DAMAGED: {exc}"
    return VerifyReport(path, ok, digest, attrs.get("digest"), bad, message)


def _shard_digests(group, layout: Layout, recorded: dict, progress) -> tuple[list[str], list[int]]:
    """Each shard's digest as read now, and the shards that differ from ``recorded``."""
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
    return digests, bad


def _message(path, layout: Layout, digest: str, bad: list[int], ok: bool) -> str:
    if ok:
        return f"{path}: intact ({layout.n} samples, {layout.n_shards} shards, digest {digest[:16]})"
    if not bad:
        return f"{path}: DAMAGED: content digest does not match the recorded one"
    where = ", ".join(
        f"{s} (samples {layout.shard_range(s)[0]}-{layout.shard_range(s)[1] - 1})" for s in bad[:5]
    )
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{path}: DAMAGED: {len(bad)} shard(s) differ from their recorded digests: {where}{more}"
