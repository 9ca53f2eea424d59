"""The files of a store folder: what ogmbench writes there (so that only such a folder is
replaced or removed), the two-rename swap of a replaced store, and missing shard files."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Iterator

from ..errors import StoreError
from ..places import Place, Remote, location, read_regular
from ._layout import FORMAT_KEY, Layout, chunk_grids, layout_from_attrs
from ._metadata import creation_proven


def is_store(path: Place) -> bool:
    """Whether ``path`` holds a zarr group written by ogmbench (complete or not)."""
    meta = location(path) / "zarr.json"
    try:
        attrs = json.loads(read_regular(meta)).get("attributes", {})
    except (OSError, ValueError, AttributeError, RecursionError):
        return False
    return isinstance(attrs, dict) and FORMAT_KEY in attrs




# zarr's local writes go to a temporary sibling, ``<stem>.<32 hex>.partial``, renamed into
# place when whole: a kill -9 in between leaves one behind.
_TEMP = re.compile(r"(?P<stem>[^.]+)\.[0-9a-f]{32}\.partial")


def entries(path: Place) -> Iterator[tuple[str, str]]:
    """(relative path, kind) of everything in a store folder: "ours" (what its layout
    implies: the metadata files and the chunk keys inside each array's chunk grid, as its
    metadata records it), "temp" (a write of ours that was interrupted), "foreign", or
    "special" (not a regular file or folder: a pipe, a socket, a device, a link).
    On object storage, where there are only objects, each object is one entry.
    In a store whose layout is not provably ogmbench's, only the root metadata is."""
    grids = _grids(location(path)) or {}
    if isinstance(path, Remote):
        for rel in path.files():
            yield rel, _kind(tuple(rel.split("/")), False, grids)
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
            yield str(entry.relative_to(path)), _kind((*rel, name), stat.S_ISDIR(mode), grids)
        dirs[:] = [d for d in dirs if not os.path.islink(root / d)]


def _grids(path: Place) -> dict[str, tuple[int, ...]] | None:
    """Chunks per axis of each array the store's layout implies (from its root
    attributes), within what each array's own metadata records: a key is ogmbench's only
    when both say so, and when the digest written with them proves neither was edited
    (None when it does not: then no file but the root metadata is provably ours)."""
    try:
        attrs = json.loads(read_regular(path / "zarr.json"))["attributes"]
        implied = chunk_grids(layout_from_attrs(attrs))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None  # no layout: nothing but the root metadata is provably ours
    if not creation_proven(path, attrs, implied):
        return None
    grids = {}
    for name, expected in implied.items():
        try:
            meta = json.loads(read_regular(path / name / "zarr.json"))
            shape = [int(n) for n in meta["shape"]]
            chunks = [int(n) for n in meta["chunk_grid"]["configuration"]["chunk_shape"]]
            encoding = meta.get("chunk_key_encoding", {})
            separator = encoding.get("configuration", {}).get("separator", "/")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            grids[name] = ()  # its metadata file is ours, no chunk file is
            continue
        if (encoding.get("name") == "default" and separator == "/" and len(shape) == len(chunks)
                == len(expected) and all(c > 0 and 0 <= n for n, c in zip(shape, chunks))):
            grids[name] = tuple(min(-(-n // c), e) for n, c, e in zip(shape, chunks, expected))
        else:
            grids[name] = ()
    return grids


def _kind(parts: tuple[str, ...], folder: bool, grids: dict[str, tuple[int, ...]]) -> str:
    match = None if folder else _TEMP.fullmatch(parts[-1])
    if match:
        stem = match.group("stem")
        owner = [(*parts[:-1], name) for name in (stem, f"{stem}.json")]
        return "temp" if any(_kind(o, False, grids) == "ours" for o in owner) else "foreign"
    if parts == ("zarr.json",) or (len(parts) == 1 and parts[0] in grids and folder):
        return "ours"
    if len(parts) == 2 and parts[0] in grids and parts[1] == "zarr.json":
        return "ours"
    grid = grids.get(parts[0])
    if not grid or len(parts) < 2 or parts[1] != "c":
        return "foreign"
    index = parts[2:]
    fits = (len(index) <= len(grid) if folder else len(index) == len(grid)) and all(
        p.isdigit() and str(int(p)) == p and int(p) < n for p, n in zip(index, grid))
    return "ours" if fits else "foreign"


def remove_leftovers(path: Place) -> list[str]:
    """Delete the temporary files of our interrupted writes in a store; return them."""
    path = location(path)
    gone = [entry for entry, kind in entries(path) if kind == "temp"]
    for entry in gone:
        (path / entry).unlink(missing_ok=True)
    return gone


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
    check_proven(path, "overwrite")
    foreign = [entry for entry, kind in entries(path) if kind not in ("ours", "temp")]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise StoreError(f"{path} holds {foreign[0]}{more}, which ogmbench "
                         "did not write; refusing to overwrite it (move them out first, or "
                         "choose another OUT)")


def check_proven(path: Place, action: str) -> None:
    """Refuse to ``action`` an ogmbench store whose attributes or array metadata changed
    after ogmbench wrote them: which of its files are ogmbench's, and what it was
    generating, can then not be told."""
    path = location(path)
    if is_store(path) and _grids(path) is None and any(
            entry != "zarr.json" for entry, _ in entries(path)):
        raise StoreError(f"{path}: its attributes or array metadata changed after ogmbench "
                         f"wrote them, so its files cannot be told from yours nor its "
                         f"settings trusted; refusing to {action} it (remove it yourself, or "
                         f"choose another OUT)")


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


def missing_shards(path: Place, layout: Layout) -> list[tuple[str, int]]:
    """(array, shard) of every shard file absent from a store written by ``write_block``."""
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
