"""The metadata digest: everything a reader of a store trusts besides its array bytes.

The content digest covers the arrays' bytes.  What they mean is in metadata: the root
attributes (the generation config, a sequence's ``dt``, ``tau`` and ``resolution``, the
class names) and each array's own ``zarr.json`` (its shape, data type, codecs, fill value,
``dimension_names`` and attributes such as a ``scale_factor`` that xarray applies).
``generate`` records the sha256 of all of it as ``meta_digest`` when a store is complete,
and every open recomputes it, so that an edit of any of them is a damaged store, never
another number.  The consolidated copy that xarray reads must equal each array's own.
Runs record the metadata digest beside the content digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import StoreError
from ..places import Place, read_regular
from ._digests import EDITED, is_sha256

META_DIGEST = "meta_digest"
# Written when a store is created, before any shard: the digest of every attribute and
# array metadata generate wrote then, so that an interrupted store's layout (which files
# are ogmbench's) and its labels and config (what --resume goes on generating) are
# proved as surely as a complete store's.
CREATION_DIGEST = "creation_digest"
# What generate adds or changes after creating a store.
_AFTER_CREATION = (CREATION_DIGEST, META_DIGEST, "complete", "shard_digests", "digest",
                   "completed_at")
# Not digested: the digest itself, and the completion mark written after it.
_NOT_DIGESTED = (META_DIGEST, "complete")


def _json(path: Place) -> Any:
    try:
        return json.loads(read_regular(path))
    except (OSError, ValueError, RecursionError) as exc:  # (JSON nested too deep)
        raise StoreError(f"cannot read {path} ({exc.__class__.__name__})") from None


def _arrays(path: Place, names) -> dict[str, Any]:
    """Each array's own metadata, as on disk (``names``: the arrays of the layout, and
    the coordinates that exist)."""
    out = {}
    for name in sorted(names):
        meta = path / name / "zarr.json"
        if meta.is_file():
            out[name] = _json(meta)
    return out


def metadata_digest(path: Place, attrs: dict[str, Any], names) -> str:
    """sha256 of the root attributes (less :data:`_NOT_DIGESTED`) and every array's
    metadata, as canonical JSON."""
    view = {"attributes": {k: v for k, v in attrs.items() if k not in _NOT_DIGESTED},
            "arrays": _arrays(path, names)}
    text = json.dumps(view, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def creation_digest(path: Place, attrs: dict[str, Any], names) -> str:
    """sha256 of the attributes a store was created with and every array's metadata."""
    view = {"attributes": {k: v for k, v in attrs.items() if k not in _AFTER_CREATION},
            "arrays": _arrays(path, names)}
    text = json.dumps(view, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def creation_proven(path: Place, attrs: dict[str, Any], names) -> bool:
    """Whether a store's attributes and array metadata are provably the ones ogmbench
    wrote: its :data:`CREATION_DIGEST` (or, for a complete store, :data:`META_DIGEST`)
    holds."""
    try:
        for key, digest in ((CREATION_DIGEST, creation_digest), (META_DIGEST, metadata_digest)):
            recorded = attrs.get(key)
            if is_sha256(recorded) and recorded == digest(path, attrs, names):
                return True
    except StoreError:  # an array's metadata cannot be read: not provably ours
        pass
    return False


def check_metadata(path: Place, attrs: dict[str, Any], names) -> None:
    """Refuse a store whose metadata changed after generation.

    Raises
    ------
    StoreError
        When the consolidated copy of the arrays' metadata is not exactly theirs, or the
        recorded :data:`META_DIGEST` is missing or not that of the metadata now.
    """
    arrays = _arrays(path, names)
    root = _json(path / "zarr.json")
    whole = root.get("consolidated_metadata") if isinstance(root, dict) else None
    if whole is not None and not (isinstance(whole, dict) and whole.get("kind") == "inline"
                                  and whole.get("must_understand") is False):
        raise StoreError(f"{path} is inconsistent: its consolidated metadata is not the "
                         f"plain inline kind zarr writes (kind 'inline', must_understand "
                         f"false) {EDITED}")
    consolidated = (whole or {}).get("metadata") or {}
    # xarray reads the consolidated copy when there is one (without it, each array's own):
    # it must be exactly the arrays', no more, no fewer.
    if consolidated and consolidated != arrays:
        name = sorted(set(consolidated) ^ set(arrays) or {n for n in arrays
                                                          if consolidated[n] != arrays[n]})[0]
        raise StoreError(f"{path} is inconsistent: the consolidated metadata of {name!r} "
                         f"(what xarray reads) is not the array's own {EDITED}")
    recorded = attrs.get(META_DIGEST)
    if recorded is None:
        raise StoreError(f"{path} is inconsistent: it carries no metadata digest {EDITED}")
    if not is_sha256(recorded):
        raise StoreError(f"{path} is inconsistent: its metadata digest is not a sha256 "
                         f"{EDITED}")
    if recorded != metadata_digest(path, attrs, names):
        raise StoreError(f"{path} is inconsistent: its attributes or array metadata changed "
                         f"after generation {EDITED}")
