"""Declarative parameters of families and noise models.

A family or noise model is a plain function plus a :class:`Model` that names its
keyword parameters, their defaults and their valid ranges.  The command line, the
store's provenance and ``ogmbench list`` all read the same declaration, so a knob is
documented and validated in exactly one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Param", "Model", "ParamError", "per_class"]


class ParamError(ValueError):
    """A family or noise-model parameter is invalid.

    The generators know nothing of the core: ``ogmbench.config`` turns this into the
    core's :class:`ogmbench.errors.ConfigError` (a usage error, exit 2).
    """


@dataclass(frozen=True)
class Param:
    """One keyword parameter of a family or noise model.

    Parameters
    ----------
    name : str
        Keyword name.
    default : float or int or None
        Default value; ``None`` means "decided at run time" (documented in ``doc``).
    lo, hi : float, optional
        Inclusive bounds, or exclusive ones when ``lo_open`` / ``hi_open``.
    kind : type
        ``float`` or ``int``.
    per_class : bool
        Whether one value per class may be given, separated by ``/``.
    doc : str
        One line for ``ogmbench list``.
    """

    name: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    kind: type = float
    per_class: bool = True
    doc: str = ""

    def range_text(self) -> str:
        """Human-readable interval, e.g. ``(0, inf)`` or ``[0, 1]``."""
        lo = "-inf" if self.lo is None else _fmt(self.lo)
        hi = "inf" if self.hi is None else _fmt(self.hi)
        left = "(" if (self.lo_open or self.lo is None) else "["
        right = ")" if (self.hi_open or self.hi is None) else "]"
        return f"{left}{lo}, {hi}{right}"

    def check(self, value: float, where: str) -> float | int:
        """Validate and convert one scalar value; raise :class:`ParamError`."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParamError(f"{where}: {self.name} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ParamError(f"{where}: {self.name} must be finite, got {value!r}")
        if self.kind is int:
            if number != int(number):
                raise ParamError(f"{where}: {self.name} must be an integer, got {value!r}")
            number = int(number)
        bad_lo = self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo)
        bad_hi = self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi)
        if bad_lo or bad_hi:
            raise ParamError(
                f"{where}: {self.name} must be in {self.range_text()}, got {_fmt(number)}"
            )
        return number


@dataclass(frozen=True)
class Model:
    """A family or noise model: the function and its declared parameters.

    ``noise_defaults`` (families only) overrides noise-model defaults that depend on
    what the classes mean, e.g. which classes are ground and so never block a lidar ray.
    """

    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    doc: str
    class_names: tuple[str, ...] | None = None
    noise_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        allowed = ", ".join(p.name for p in self.params) or "none"
        raise ParamError(f"unknown parameter {name!r} for {self.name!r} (allowed: {allowed})")

    def resolve(
        self, given: dict[str, Any], classes: int, defaults: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Fill in defaults and validate ``given`` (strings or numbers).

        Per-class values are written ``"1.0/0.3"`` or given as a sequence; they must
        have one entry per class.  The result maps every parameter to a scalar or a
        tuple with one value per class, ready for JSON and for the function.
        """
        for name in given:
            self.param(name)  # raises on unknown names
        merged = {p.name: p.default for p in self.params}
        merged.update(defaults or {})
        merged.update(given)
        out: dict[str, Any] = {}
        for p in self.params:
            out[p.name] = _resolve_value(p, merged[p.name], classes, self.name)
        return out


def _resolve_value(p: Param, value: Any, classes: int, where: str) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        parts = [v.strip() for v in value.split("/")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    if len(parts) > 1:
        if not p.per_class:
            raise ParamError(f"{where}: {p.name} takes one value for all classes, got {value!r}")
        if len(parts) != classes:
            raise ParamError(
                f"{where}: {p.name} has {len(parts)} per-class values but there are "
                f"{classes} classes, got {value!r}"
            )
        return tuple(p.check(v, where) for v in parts)
    return p.check(parts[0], where)


def per_class(value: Any, classes: int):
    """Broadcast a scalar or per-class tuple to a float64 array of shape (classes,)."""
    import numpy as np

    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(classes, float(arr))
    if arr.shape != (classes,):
        raise ParamError(f"expected 1 or {classes} per-class values, got {arr.size}")
    return arr


def _fmt(x: float) -> str:
    return f"{x:g}"
