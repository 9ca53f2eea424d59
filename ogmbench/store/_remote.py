"""Where a store is and how zarr opens it: a local folder, or an fsspec URL on object
storage (zarr's ``FsspecStore``); an endpoint that cannot be reached told apart from a
damaged store."""

from __future__ import annotations

import os

from ..errors import StoreError
from ..places import Place, Remote, Unreachable, is_transport_error, location
from ._files import entries
from ._layout import FORMAT_KEY, FORMAT_VERSION


def store_path(path) -> Place:
    """``path`` as a Path or URL; an empty one is refused rather than read as the
    current folder."""
    if not str(path).strip():
        raise StoreError("STORE is empty; give the path of a store")
    return location(path)


def unreachable(path: Place, exc: BaseException) -> None:
    """An object store that cannot be reached is not a damaged store: say which."""
    if is_transport_error(exc):
        raise Unreachable(f"cannot read {path}: {exc}") from None


def zarr_store(path: Place, mode: str):
    """What zarr opens: a local folder's name, or an fsspec store for a URL."""
    if isinstance(path, Remote):
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(path.url, read_only=mode == "r")
    return str(path)


def open_group(path: Place, mode: str = "r"):
    """Open the zarr group at ``path`` or raise :class:`StoreError` with the reason."""
    import zarr

    path = store_path(path)
    if not path.exists():
        raise StoreError(f"no store at {path}")
    if not (path / "zarr.json").is_file():
        if not isinstance(path, Remote) and os.path.lexists(path / "zarr.json"):
            raise StoreError(f"{path} is damaged: zarr.json is not a regular file")
        raise StoreError(f"{path} is not a zarr v3 store (no zarr.json)")
    # Object storage holds only objects: nothing there can be special.
    special = None if isinstance(path, Remote) else next(
        (entry for entry, kind in entries(path) if kind == "special"), None)
    if special is not None:  # a pipe would hang the reader; a link could lead anywhere
        raise StoreError(f"{path} is damaged: {special} is not a regular "
                         f"file or folder; run 'ogmbench verify {path}'")
    try:
        # Not the consolidated copy (written for xarray's sake): what is on disk.
        group = zarr.open_group(zarr_store(path, mode), mode=mode, zarr_format=3,
                                use_consolidated=False)
        attrs = group.attrs.asdict()
    except Exception as exc:  # zarr raises many types for damaged metadata
        unreachable(path, exc)
        raise StoreError(f"{path} is corrupt: cannot read its metadata ({exc})") from None
    if FORMAT_KEY not in attrs:
        raise StoreError(f"{path} is a zarr store but not an ogmbench store (no {FORMAT_KEY!r})")
    if type(attrs[FORMAT_KEY]) is not int or attrs[FORMAT_KEY] != FORMAT_VERSION:
        raise StoreError(
            f"{path} has ogmbench store format {attrs[FORMAT_KEY]!r} "
            f"({type(attrs[FORMAT_KEY]).__name__}); this ogmbench reads format "
            f"{FORMAT_VERSION} (an integer): write it again with 'ogmbench generate "
            f"{path} --overwrite' and the same settings (the same bytes)"
        )
    return group
