"""Declarative parameters of families and noise models.

A family or noise model is a plain function plus a :class:`Model` that names its
keyword parameters (:class:`ogmbench.params.Param`, the one parameter declaration, which
estimators use too), their defaults and their valid ranges, and the hooks the core reads
instead of naming a family.  The command line, the store's provenance and ``ogmbench
list`` all read the same declaration, so a knob is documented and validated in exactly
one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ogmbench.params import Param, ParamError

__all__ = ["Param", "Model", "Calibration", "ParamError", "per_class", "check_rho",
           "check_size", "check_names", "MAX_SIDE", "MAX_FRAMES", "SEQUENCE_PARAMS",
           "check_frames"]


@dataclass(frozen=True)
class Calibration:
    """What ``ogmbench info --calibration`` measures in a family's clean maps.

    Parameters
    ----------
    objects : dict
        Class name -> the object types its 8-connected components are sorted into by
        length (the types' target footprints say where one ends and the next begins);
        an empty tuple when the class's components are of one type, the class itself.
        Classes not named here are compared by their positive-cell fraction only.
    """

    objects: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    """A family or noise model: the function and its declared parameters.

    Families with named classes (``class_names``, every class they can draw, in order)
    are called with ``classes=`` a subset of them (``default_classes`` unless chosen);
    the others with ``classes=`` a number.  ``noise_defaults`` (families only) maps the
    chosen class names to the noise-model defaults that depend on what the classes
    mean, e.g. which classes are ground and so never block a lidar ray.
    """

    name: str
    func: Callable[..., Any]
    params: tuple[Param, ...]
    doc: str
    class_names: tuple[str, ...] | None = None
    default_classes: tuple[str, ...] | None = None
    noise_defaults: Callable[[tuple[str, ...]], dict[str, dict[str, Any]]] | None = None
    # Checks of the map size against the resolved parameters, run when a config is made
    # so that an impossible map is refused before any work starts.
    check_size: Callable[[tuple[int, int], dict[str, Any]], None] | None = None
    # Sequences (``frames`` > 1): the function that draws one, ``sequence(rng, rho, size,
    # frames=T, dt=..., **motion, **params, classes=...) -> (clean (T, C, H, W), poses
    # (T, 3))``, and the parameters of its motion; None for a family without sequences.
    sequence: Callable[..., Any] | None = None
    motion: tuple[Param, ...] = ()
    # Checks of a sequence's size against its parameters, (shape, params, motion with
    # frames), run when a config is made like ``check_size``.
    check_motion: Callable[[tuple[int, int], dict[str, Any], dict[str, Any]], None] | None = None
    # What ``ogmbench info`` prints beside the measured phi (families): the closed form
    # of the phi between the first two classes, ``expected_phi(rho, params, classes)``,
    # and of each class's frame-to-frame phi, ``expected_temporal_phi(params, sequence,
    # classes) -> [phi per class]``; ``params`` and ``sequence`` as a store records them
    # (per-class values as lists).  None where there is no closed form.
    expected_phi: Callable[[float, dict[str, Any], int], float] | None = None
    expected_temporal_phi: Callable[[dict[str, Any], dict[str, Any], int], list] | None = None
    # What ``ogmbench info --calibration`` measures in the family's maps (families).
    calibration: Calibration | None = None
    # Noise models whose noise can persist in a cell from frame to frame (a sequence's
    # ``noise_memory``): ``memory_step(rng, x, carried, memory, **params) -> (noisy,
    # carried)``, with ``carried`` None at the first frame; see ``apply_noise_sequence``.
    memory_step: Callable[..., Any] | None = None
    # Noise models: whether every output lies in [0, 1] for an input in [0, 1] (the
    # conformance kit checks what is declared; ``gaussian`` is not clipped).
    bounded: bool = True
    # Noise models whose noise acts on each cell on its own: ``cell_loglik(noisy,
    # states, classes, **params) -> (S, B, H, W)``, the log-likelihood (up to a constant)
    # of the noisy maps of ``classes`` (B, K, H, W) for each of their occupancy states
    # (S, K), what a Bayes-optimal reference reads; None where there is none.
    cell_loglik: Callable[..., Any] | None = None
    # Families whose posterior is computable: ``posterior(params, classes, size=None) ->
    # callable (noisy, rho, target, loglik, prior, grid=None) -> (B, H, W)``, the
    # posterior mean of the target class, each sample's rho given, or inferred among the
    # values ``grid`` where the callable's ``infers_rho`` says so (raises ``ParamError``
    # naming the parameters or map size it cannot handle).
    posterior: Callable[..., Any] | None = None

    def check_classes(self, names) -> tuple[str, ...]:
        """Validate chosen class names: at least two of ``class_names``, in their order."""
        return check_names(names, self.class_names or (), self.name)

    def noise_defaults_for(self, names) -> dict[str, dict[str, Any]]:
        """Noise-model defaults for the chosen class names (``{}`` when none)."""
        return self.noise_defaults(tuple(names)) if self.noise_defaults else {}

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
        return _resolve_all(self.params, given, classes, self.name, defaults)

    def resolve_motion(self, given: dict[str, Any]) -> dict[str, Any]:
        """Fill in defaults and validate the parameters of a sequence: those common to
        every family (:data:`SEQUENCE_PARAMS`) and this family's motion."""
        known = {p.name for p in SEQUENCE_PARAMS + self.motion}
        unknown = [name for name in given if name not in known]
        if unknown:
            allowed = ", ".join(p.name for p in SEQUENCE_PARAMS + self.motion)
            raise ParamError(f"unknown sequence parameter {unknown[0]!r} for {self.name!r} "
                             f"(allowed: {allowed})")
        return _resolve_all(SEQUENCE_PARAMS + self.motion, given, 1, self.name)


def _resolve_all(params, given, classes, where, defaults=None) -> dict[str, Any]:
    merged = {p.name: p.default for p in params}
    merged.update(defaults or {})
    merged.update(given)
    return {p.name: _resolve_value(p, merged[p.name], classes, where) for p in params}


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
        return tuple(p.parse(v, where) for v in parts)
    return p.parse(parts[0], where)


def per_class(value: Any, classes: int):
    """Broadcast a scalar or per-class tuple to a float64 array of shape (classes,)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(classes, float(arr))
    if arr.shape != (classes,):
        raise ParamError(f"expected 1 or {classes} per-class values, got {arr.size}")
    return arr


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_names(names, available, family: str) -> tuple[str, ...]:
    """Validate a subset of a family's class names, given in the family's order.

    The order is fixed (not sorted for the user) because a class's index is what eval's
    ``--target`` names: a reordered subset would silently change the target.
    """
    if isinstance(names, (str, int)):
        raise ParamError(f"{family} classes must be a sequence of class names, got "
                         f"{_short(names)}")
    names = tuple(names)
    if len(names) > len(available):
        raise ParamError(f"{family} has {len(available)} classes ({', '.join(available)}), "
                         f"got {len(names)} names")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ParamError(f"{family} has no class {unknown[0]!r} (classes: {', '.join(available)})")
    if len(set(names)) != len(names):
        raise ParamError(f"{family} classes must be distinct, got {','.join(names)}")
    if len(names) < 2:
        raise ParamError(f"{family} needs at least 2 classes (a target and a prior), got "
                         f"{','.join(names) or 'none'}")
    ordered = tuple(n for n in available if n in names)
    if names != ordered:
        raise ParamError(f"{family} classes go in the order {', '.join(available)}: write "
                         f"{','.join(ordered)}, not {','.join(names)}")
    return names


# Generation holds a few float64 copies of a sample: 4096^2 keeps that near 1 GB.
MAX_SIDE = 4096


def check_size(size) -> tuple[int, int]:
    """Validate ``size`` (an int or a (H, W) pair) and return (H, W)."""
    height, width = (size, size) if np.isscalar(size) else tuple(size)
    for name, n in (("height", height), ("width", width)):
        if int(n) != n or not 4 <= n <= MAX_SIDE:
            raise ParamError(f"size: {name} must be an integer in [4, {MAX_SIDE}], got {n}")
    return int(height), int(width)


# Every frame of a sample is generated and held in memory at once.
MAX_FRAMES = 64

# Parameters of every family's sequences (``frames`` > 1).
SEQUENCE_PARAMS = (
    Param(name="dt", default=0.5, lo=0.0, lo_open=True, hi=60.0,
          doc="seconds between frames"),
    Param(name="noise_memory", default=0.0, lo=0.0, hi=1.0, hi_open=True,
          doc="correlation of a cell's gaussian noise between consecutive frames"),
)


def check_frames(frames) -> int:
    """Validate a number of frames per sample."""
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) and not (
            isinstance(frames, float) and frames.is_integer()):
        raise ParamError(f"frames must be an integer in [1, {MAX_FRAMES}], got {frames!r}")
    if not 1 <= int(frames) <= MAX_FRAMES:
        raise ParamError(f"frames must be an integer in [1, {MAX_FRAMES}], got {int(frames)}")
    return int(frames)


def check_rho(rho: float, classes: int = 2) -> float:
    """Validate the correlation knob for ``classes`` equicorrelated classes."""
    rho = float(rho)
    if not -1.0 <= rho <= 1.0:
        raise ParamError(f"rho must be in [-1, 1], got {rho:g}")
    if classes > 2 and rho < -1.0 / (classes - 1) - 1e-12:
        raise ParamError(
            f"rho must be in [{-1.0 / (classes - 1):.4g}, 1] for {classes} equicorrelated "
            f"classes, got {rho:g}"
        )
    return rho
