"""A bounded, typed parameter: the one declaration of a knob.

Families and noise models declare their keyword parameters with :class:`Param`, and
estimators their hyper-parameters (``Estimator.hyper``, spelled ``Hyper`` in
:mod:`ogmbench.api`: the same class).  One declaration says the type, the interval, the
allowed choices and whether ``None`` may stand for "decided at run time"; two readers
check a value against it:

* :meth:`Param.check` takes a typed Python value (an estimator's ``name:key=value``
  after the spec parser typed it) and refuses an int where a bool is declared;
* :meth:`Param.parse` takes the command line's text or a number (a family's
  ``--param``, a noise spec's values) and converts it to the declared kind.

Both raise :class:`ParamError`, a ``ValueError`` naming the parameter.  This room is a
leaf: it imports nothing of ogmbench (numpy only), so the generators, which know nothing of the
core, may import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Param", "ParamError"]

_KIND_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


class ParamError(ValueError):
    """A parameter's value is not one its declaration allows.

    The generators know nothing of the core: ``ogmbench.config`` turns this into the
    core's :class:`ogmbench.errors.ConfigError` (a usage error, exit 2).
    """


def _bound(x: float) -> str:
    """A bound as written in messages and listings: whole numbers of up to eight digits
    written out (10000000), the rest ``%g`` (0.5, 1e+09)."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e8 else f"{x:g}"


@dataclass(frozen=True)
class Param:
    """The declared type and range of one parameter, checked before any work.

    Parameters
    ----------
    kind : {float, int, bool, str}
        An int is accepted where a float is declared; a bool never counts as a number.
    lo, hi : float, optional
        Inclusive bounds (exclusive with ``lo_open`` / ``hi_open``).
    choices : tuple, optional
        The allowed values.
    none_ok : bool
        Whether ``None`` is allowed (e.g. "take it from the training profile").
    name : str
        Keyword name (a family's or noise model's parameter; an estimator's is the key
        of its ``hyper`` dict).
    default : optional
        Default value of a family's or noise model's parameter; ``None`` means "decided
        at run time" (documented in ``doc``).
    per_class : bool
        Whether one value per class may be given, separated by ``/``.
    doc : str
        One line for ``ogmbench list``.

    Examples
    --------
    >>> Param(int, lo=1, hi=99).check("size", 3)
    >>> Param(float, lo=0.0, lo_open=True, name="sigma", default=0.3).parse("0.5", "gaussian")
    0.5
    """

    kind: type = float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    none_ok: bool = False
    name: str = ""
    default: Any = None
    per_class: bool = False
    doc: str = ""

    def range_text(self) -> str:
        """Human-readable interval, e.g. ``(0, inf)`` or ``[0, 1]``."""
        lo = "-inf" if self.lo is None else _bound(self.lo)
        hi = "inf" if self.hi is None else _bound(self.hi)
        left = "(" if (self.lo_open or self.lo is None) else "["
        right = ")" if (self.hi_open or self.hi is None) else "]"
        return f"{left}{lo}, {hi}{right}"

    def _outside(self, number) -> bool:
        low = self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo)
        high = self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi)
        return low or high

    def check(self, name: str, value: Any) -> None:
        """Check a typed value; raise :class:`ParamError` with one line naming ``name``."""
        if value is None and self.none_ok:
            return
        kinds = (int, float) if self.kind is float else (self.kind,)
        if isinstance(value, bool) != (self.kind is bool) or not isinstance(value, kinds):
            raise ParamError(f"{name} must be {_KIND_WORDS[self.kind]}, got {value!r}")
        if self.kind is float and not np.isfinite(value):
            raise ParamError(f"{name} must be finite, got {value!r}")
        if self.choices and value not in self.choices:
            raise ParamError(f"{name} must be one of {', '.join(map(str, self.choices))}, "
                             f"got {value!r}")
        if self._outside(value):
            raise ParamError(f"{name} must be in {self.range_text()}, got {value!r}")

    def parse(self, value: Any, where: str) -> float | int:
        """Convert one scalar (text or number) to the declared numeric kind and check it;
        raise :class:`ParamError` naming ``where`` (the family or noise model)."""
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
        if self._outside(number):
            raise ParamError(
                f"{where}: {self.name} must be in {self.range_text()}, got {number:g}"
            )
        return number
