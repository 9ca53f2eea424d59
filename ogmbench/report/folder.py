"""The report folder of a reproduction: what in it is ogmbench's (and so may be replaced),
the staging folder every output is first written to, and the renames that publish them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..benchmark import BenchmarkError
from ..places import Place, Remote
from ..results import GENERATED, is_generated
from ..sealing import SEALED, SealError, read_record

__all__ = ["OUTPUTS", "STAGING", "check_out", "check_work", "make_staging", "publish"]

OUTPUTS = ("results.csv", "samples.parquet", "sealed.json", "tables.md", "tables.tex",
           "index.html", "README.md", "figures")
STAGING = ".ogmbench-staging"
STAGING_MARKER = "MADE-BY-OGMBENCH"


def make_staging(out: Path) -> Path:
    """A fresh staging folder in ``out`` for the report (one an interrupted reproduction
    left is replaced only when our marker is in it)."""
    staging = out / STAGING
    if staging.exists() or staging.is_symlink():
        if staging.is_symlink() or not (staging / STAGING_MARKER).is_file():
            raise BenchmarkError(f"--out {out}: {STAGING} exists and was not made by ogmbench "
                                 "reproduce; move it or choose another --out")
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / STAGING_MARKER).write_text(GENERATED + "\n")
    return staging



def check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BenchmarkError(f"--out {out} exists and is not a directory")
    figures = out / "figures"
    if figures.is_symlink() or (figures.exists() and not figures.is_dir()):
        raise BenchmarkError(f"--out {out}: figures exists and is not a folder written by "
                             "ogmbench reproduce; choose another --out")
    if figures.is_dir():
        # figures/ is replaced whole: only when everything in it is ours.
        for path in sorted(figures.iterdir()):
            ours = (path.is_file() and path.suffix in (".png", ".svg")
                    and GENERATED.encode() in path.read_bytes())
            if not ours:
                raise BenchmarkError(f"--out {out}: figures/{path.name} was not written by "
                                     "ogmbench reproduce; choose another --out")
    seal = out / SEALED
    try:
        if seal.is_symlink() or seal.exists() and read_record(seal) is None:
            raise SealError(str(seal))
    except SealError:
        raise BenchmarkError(f"--out {out}: {SEALED} exists and is not a seal record written by "
                             "ogmbench reproduce; choose another --out") from None
    samples = out / "samples.parquet"
    if samples.is_symlink() or (samples.exists() and not is_generated(samples)):
        raise BenchmarkError(f"--out {out}: samples.parquet exists and was not written by "
                             "ogmbench reproduce; choose another --out")
    for name in ("results.csv", "tables.md", "tables.tex", "index.html", "README.md"):
        path = out / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise BenchmarkError(f"--out {out}: {name} exists and is not a file written by "
                                 "ogmbench reproduce; choose another --out")
        if path.is_file():
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[:400]
            except OSError:
                head = ""
            if GENERATED not in head:
                raise BenchmarkError(f"--out {out}: {name} exists and was not written by "
                                     "ogmbench reproduce; choose another --out")


def check_work(work: Place, out: Path) -> None:
    if work.exists() and not work.is_dir():
        raise BenchmarkError(f"--work {work} exists and is not a directory")
    if isinstance(work, Remote):
        return  # the report is local: a URL is never inside it
    resolved = work.resolve()
    for name in OUTPUTS + (STAGING,):
        place = (out / name).resolve()
        if resolved == place or place in resolved.parents:
            raise BenchmarkError(f"--work {work} is inside the report's {name}, which every "
                                 "run replaces; choose another --work")


def publish(staging: Path, out: Path) -> None:
    """Move the staged outputs into ``out``, replacing the previous ones (one rename each)."""
    for name in OUTPUTS:
        source, target = staging / name, out / name
        if not source.exists():
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(source, target)
    shutil.rmtree(staging)
