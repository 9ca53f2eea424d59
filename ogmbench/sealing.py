"""Sealed evaluation: test splits drawn from a secret seed, committed to before anything is
made and revealed after scoring.

A published test split that everyone can regenerate can also be tuned to, one submission
after another.  ``ogmbench reproduce --sealed`` draws the seed of every test split from
the operating system instead; before a store is made it records only a *commitment*, the
sha256 of a random nonce and the seed, and prints it (post it somewhere public while the
reproduction runs).  Only the finished report reveals the seed and nonce, in its
``sealed.json``: anyone can then check that the revealed pair hashes to the commitment,
and regenerate the very test samples (the seed goes into the profile as ``test_seed``).
Train and val samples still come from the profile's public seed, so a submitter trains
on what the published estimators trained on.

Between the draw and the reveal the secret lives in the report folder's
:data:`PENDING` file (the reproduction's own, so a rerun resumes the same sealed run);
it is removed once the report that reveals it is in place.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .places import write_atomic

__all__ = ["Seal", "SealError", "draw", "pending", "forget", "record", "unsealed_record",
           "check_record", "read_record", "SEALED", "PENDING"]

SEALED = "sealed.json"                  # in the report: sealed or not, and the reveal
PENDING = ".ogmbench-seal-pending.json"  # in the report folder until the reveal
_FORMAT = 1
_MARK = "written by ogmbench reproduce; do not edit by hand"
# TOML integers are signed 64-bit: the revealed seed must fit the profile's test_seed.
_SEED_BITS = 63


class SealError(ConfigError):
    """A seal record that is not what ogmbench wrote (one line; a usage error)."""


@dataclass(frozen=True)
class Seal:
    """A drawn test seed with the nonce that hides it and when it was drawn (UTC)."""

    test_seed: int
    nonce: str
    drawn: str

    @property
    def commitment(self) -> str:
        """``sha256:<hex>`` of the nonce and seed: binds the seed without telling it."""
        return commitment(self.nonce, self.test_seed)


def commitment(nonce: str, test_seed: int) -> str:
    """The commitment to ``test_seed`` under ``nonce`` (what :class:`Seal` publishes first)."""
    text = f"ogmbench-sealed-test-seed:{nonce}:{int(test_seed)}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def draw() -> Seal:
    """A fresh seal: the seed and nonce from the operating system's random source."""
    return Seal(test_seed=secrets.randbits(_SEED_BITS), nonce=secrets.token_hex(16),
                drawn=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def pending(out: Path) -> tuple[Seal, bool]:
    """The seal of a sealed reproduction into ``out``: the one an interrupted run of it left
    (resumed, so its stores and trainings are kept), else a new one, recorded before it is
    used.

    Returns
    -------
    seal : Seal
    resumed : bool
        Whether it is the interrupted run's.
    """
    path = out / PENDING
    if path.is_file():
        data = _load(path)
        seal = Seal(data["test_seed"], data["nonce"], data["drawn"])
        if data["commitment"] != seal.commitment:
            raise SealError(f"{path} does not hash to its commitment: it was edited; remove it "
                            "to draw a new seal")
        published = read_record(out / SEALED)
        if not (published and published.get("commitment") == seal.commitment):
            return seal, True
        # Stopped after the report that reveals it was published: that seed is known now.
        forget(out)
    seal = draw()
    write_atomic(path, json.dumps({"mark": _MARK, **_fields(seal), "revealed": None},
                                  indent=1).encode())
    return seal, False


def forget(out: Path) -> None:
    """Remove the pending secret once the report that reveals it is published."""
    (out / PENDING).unlink(missing_ok=True)


def record(seal: Seal) -> dict[str, Any]:
    """The report's ``sealed.json`` of a sealed reproduction: the commitment and the reveal."""
    return {"mark": _MARK, "format": _FORMAT, "sealed": True, **_fields(seal),
            "revealed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def unsealed_record(test_seed: int | None, published: dict | None = None) -> dict[str, Any]:
    """``sealed.json`` of a reproduction whose test splits were known before it ran (the
    profile's seeds); ``published``: the seal of the published rows it was scored beside."""
    out = {"mark": _MARK, "format": _FORMAT, "sealed": False, "test_seed": test_seed}
    if published is not None and published.get("sealed"):
        out["published"] = {k: published[k] for k in ("commitment", "test_seed", "nonce",
                                                       "drawn", "revealed")}
    return out


def check_record(data: Any, where: str) -> dict[str, Any]:
    """A ``sealed.json`` as ogmbench writes it, a sealed one revealing the seed and nonce
    that hash to its commitment; raises :class:`SealError` naming ``where``."""
    if not isinstance(data, dict) or data.get("mark") != _MARK or data.get("format") != _FORMAT:
        raise SealError(f"{where} is not a seal record written by ogmbench reproduce")
    if not data.get("sealed"):
        return data
    try:
        ok = data["commitment"] == commitment(str(data["nonce"]), int(data["test_seed"]))
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise SealError(f"{where}: the revealed test seed and nonce do not hash to the "
                        "commitment: the record was altered")
    return data


def read_record(path: Path) -> dict[str, Any] | None:
    """The checked ``sealed.json`` at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    return check_record(_json(path), str(path))


def _fields(seal: Seal) -> dict[str, Any]:
    return {"commitment": seal.commitment, "drawn": seal.drawn, "test_seed": seal.test_seed,
            "nonce": seal.nonce}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SealError(f"{path} is not readable JSON ({exc.__class__.__name__})") from None


def _load(path: Path) -> dict:
    """The pending secret: a seed and nonce under ogmbench's mark."""
    data = _json(path)
    if not isinstance(data, dict) or data.get("mark") != _MARK:
        raise SealError(f"{path} was not written by ogmbench reproduce")
    if not isinstance(data.get("test_seed"), int) or not isinstance(data.get("nonce"), str):
        raise SealError(f"{path} holds no test seed and nonce")
    return data
