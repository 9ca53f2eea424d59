"""What a generation request needs, checked before anything is written: memory for one
sample, disk for the store (an upper bound; ``force`` skips both), and a parent folder
that can be written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .config import GenerateConfig
from .errors import ConfigError
from .places import Place, Remote, location

__all__ = ["MAX_SAMPLE_BYTES", "estimate", "check_resources", "check_writable"]

# One sample is generated in memory whole: its maps, the family's float64 fields (about
# three per class) and the class correlation matrix.
MAX_SAMPLE_BYTES = 2 << 30


def estimate(config: GenerateConfig) -> dict[str, int]:
    """Bytes one sample needs in memory and the store needs on disk (an upper bound).

    Noisy maps barely compress (shared/MEASURED.md) and clean ones shrink to a few %,
    so the disk estimate is the noisy maps plus a tenth of the clean ones.
    """
    cells = config.frames * config.classes * config.size[0] * config.size[1]
    sample = cells * (1 + 4 + 3 * 8) + config.classes ** 2 * 4
    disk = config.n_samples * (cells * 4 + cells // 10 + config.classes ** 2 * 4 + 16)
    return {"sample_bytes": sample, "store_bytes": disk}


def check_resources(config: GenerateConfig, out: Place, force: bool = False) -> None:
    """Refuse up front what cannot fit, before anything is created (``force`` skips it)."""
    if force:
        return
    need = estimate(config)
    if need["sample_bytes"] > MAX_SAMPLE_BYTES:
        raise ConfigError(f"one sample of {config.classes} classes at {config.size[0]}x"
                          f"{config.size[1]} needs about {_gib(need['sample_bytes'])} of memory "
                          f"(limit {_gib(MAX_SAMPLE_BYTES)}); use fewer classes or a smaller "
                          "size, or --force")
    if isinstance(location(out), Remote):
        return  # object storage reports no free space
    parent = Path(out).absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if need["store_bytes"] > free:
        raise ConfigError(f"{config.n_samples} samples need about {_gib(need['store_bytes'])} "
                          f"of disk and {parent} has {_gib(free)} free; ask for fewer "
                          "samples, or --force")


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_writable(out: Place) -> None:
    """Refuse a local ``out`` whose parent folder cannot be made or written (object
    storage is checked by :func:`~ogmbench.places.check_bucket`)."""
    if isinstance(out, Remote):
        return  # check_bucket said what can be said before writing
    parent = out.absolute().parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: cannot create {parent} "
                              f"({exc.strerror or exc})") from None
    if not parent.is_dir():
        raise ConfigError(f"cannot write {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {out}: permission denied in {parent}")

