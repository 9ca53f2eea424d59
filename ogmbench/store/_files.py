"""The files of a store folder: what ogmbench writes there (so that only such a folder is
replaced or removed), the two-rename swap of a replaced store, and missing shard files."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Iterator

from ..errors import StoreError
from ..places import Place, Remote, location, read_regular
from ._layout import FORMAT_KEY, Layout


def is_store(path: Place) -> bool:
    """Whether ``path`` holds a zarr group written by ogmbench (complete or not)."""
    meta = location(path) / "zarr.json"
    try:
        attrs = json.loads(read_regular(meta)).get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attrs, dict) and FORMAT_KEY in attrs


# What an ogmbench store holds: its metadata and, per array or coordinate, a folder with
# its metadata and chunk files under c/.
_STORE_FOLDERS = {"clean", "noisy", "rho", "phi", "split", "phi_matrix", "class", "other_class",
                  "pose", "phi_time", "time", "axis"}


def entries(path: Place) -> Iterator[tuple[str, str]]:
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
    foreign = [entry for entry, kind in entries(path) if kind != "ours"]
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
