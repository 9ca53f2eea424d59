"""Generation settings: :class:`GenerateConfig`, validated once by :func:`make_config`.

Everything that determines a store's bytes is in the config; the writer
(:mod:`ogmbench.generate`), the benchmark file reader and the command line all pass the
config object along rather than keyword settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError
from .seeding import is_seed, rho_id
from .generators import (DEFAULT_FAMILY, FAMILIES, NOISE_MODELS, SEQUENCE_PARAMS, ParamError,
                         check_frames)
from .specs import parse_noise_spec
from .store import Layout

__all__ = ["DEFAULTS", "MAX_RHO_VALUES", "GenerateConfig", "default_noise", "make_config",
           "split_counts"]


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines a store's bytes, validated and with defaults resolved."""

    family: str
    family_params: dict[str, Any]
    noise: str
    noise_steps: tuple[tuple[str, dict[str, Any]], ...]
    rho: tuple[float, ...]
    samples_per_rho: int
    size: tuple[int, int]
    classes: int
    seed: int
    split: tuple[float, float, float]
    # The chosen classes of a family with named classes; None for the others,
    # which are then recorded exactly as before this field existed.
    names: tuple[str, ...] | None = None
    # Frames per sample, and for sequences (frames > 1) their parameters: dt,
    # noise_memory and the family's motion.  Single frames record neither, as before.
    frames: int = 1
    sequence: dict[str, Any] | None = None
    # The test split's own seed (a sealed evaluation draws it in secret); None: the test
    # split descends from ``seed`` like the others, and is recorded exactly as before.
    test_seed: int | None = None

    def seed_of(self, split: int) -> int:
        """The master seed of one split's samples (0 train, 1 val, 2 test)."""
        return self.test_seed if split == 2 and self.test_seed is not None else self.seed

    @cached_property
    def counts(self) -> tuple[int, int, int]:
        """Samples per rho in train, val and test."""
        return split_counts(self.samples_per_rho, self.split)

    @property
    def n_samples(self) -> int:
        return self.samples_per_rho * len(self.rho)

    @property
    def layout(self) -> Layout:
        return Layout(self.n_samples, self.classes, *self.size, self.frames)

    @property
    def family_kwargs(self) -> dict[str, Any]:
        """The family function's keyword arguments: its parameters and the classes (names
        for a family with named classes, a number for the others); for sequences also
        the frames, dt and the family's motion."""
        out = {**self.family_params, "classes": self.names or self.classes}
        if self.frames > 1:
            motion = {k: v for k, v in self.sequence.items() if k != "noise_memory"}
            out.update(frames=self.frames, **motion)
        return out

    @property
    def resolution(self) -> float:
        """Metres per cell, the unit of a sequence's poses: a family's ``resolution``, or
        1 for a family drawn in cells."""
        return float(self.family_params.get("resolution", 1.0))

    @property
    def class_names(self) -> list[str]:
        return list(self.names) if self.names else [f"X{k + 1}" for k in range(self.classes)]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.names is None:
            del out["names"]
        if self.frames == 1:
            del out["frames"], out["sequence"]
        if self.test_seed is None:
            del out["test_seed"]
        out["noise_steps"] = [[name, params] for name, params in self.noise_steps]
        return json.loads(json.dumps(out))

    def locate(self, index: int) -> tuple[int, float, int]:
        """(split, rho, k) of sample ``index``: order is split, then rho, then k."""
        start = 0
        for split, count in enumerate(self.counts):
            block = count * len(self.rho)
            if index < start + block:
                r, k = divmod(index - start, count)
                return split, self.rho[r], k
            start += block
        raise IndexError(f"sample index {index} out of range for {self.n_samples} samples")


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """Split ``n`` samples by ``fractions`` (largest remainder; ties go to the earlier split)."""
    raw = np.asarray(fractions, dtype=np.float64) * n
    counts = np.floor(raw + 1e-9).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    for i in order[: n - counts.sum()]:
        counts[i] += 1
    return tuple(int(c) for c in counts)


# The default dataset: X1 much noisier than X2 (the realistic case, where a prior can
# help most), a rho sweep from independent to strongly correlated, 64x64 maps (the size
# the default U-Net profile trains on in minutes on 2 CPU cores), 400 samples (< 1 s).
# With K classes the default noise keeps sigma 1.0 on X1 and 0.3 on every prior class.
DEFAULTS: dict[str, Any] = dict(
    family=DEFAULT_FAMILY, noise=None, rho=(0.0, 0.3, 0.6, 0.9),
    samples_per_rho=100, size=64, seed=0, split=(0.7, 0.1, 0.2),
)
MAX_RHO_VALUES = 1000
# Far beyond any store that fits a disk; keeps every count inside numpy's int64 (a
# larger one reached numpy as an OverflowError, even under --force).
MAX_SAMPLES_PER_RHO = 10 ** 9
# Far beyond what the memory guard lets through; bounds the per-class noise spec built
# for the default before that guard runs.
MAX_CLASSES = 1_000_000


def default_noise(classes: int = 2) -> str:
    """The default noise spec: X1 much noisier (sigma 1.0) than the prior classes (0.3)."""
    return "gaussian:sigma=1.0/" + "/".join(["0.3"] * (classes - 1))


def make_config(
    *,
    family: str = DEFAULTS["family"],
    noise: str | None = DEFAULTS["noise"],
    rho: Sequence[float] | float = DEFAULTS["rho"],
    samples_per_rho: int = DEFAULTS["samples_per_rho"],
    size: int | Sequence[int] = DEFAULTS["size"],
    classes: int | str | Sequence[str] | None = None,
    seed: int = DEFAULTS["seed"],
    split: Sequence[float] = DEFAULTS["split"],
    params: dict[str, Any] | None = None,
    frames: int = 1,
    test_seed: int | None = None,
) -> GenerateConfig:
    """Validate generation settings and resolve every default.

    ``classes`` is a number for a family of numbered classes and names, a sequence or
    one comma-separated string, for a family of named ones (its ``class_names``).
    ``frames`` > 1 makes every sample a sequence; ``params`` then may also hold the
    sequence parameters (``dt``, ``noise_memory`` and the family's motion).
    ``test_seed`` seeds the test split instead of ``seed`` (a sealed evaluation's).

    Raises :class:`ConfigError` with one line naming the problem and what is allowed.
    """
    try:
        return _make_config(family=family, noise=noise, rho=rho, samples_per_rho=samples_per_rho,
                            size=size, classes=classes, seed=seed, split=split, params=params,
                            frames=frames, test_seed=test_seed)
    except ParamError as exc:  # the generators' own error, as the core's usage error
        raise ConfigError(str(exc)) from None


def _make_config(*, family, noise, rho, samples_per_rho, size, classes, seed, split,
                 params, frames, test_seed) -> GenerateConfig:
    from .generators import check_rho, check_size

    if family not in FAMILIES:
        raise ConfigError(f"unknown family {family!r} (allowed: {', '.join(FAMILIES)})")
    model = FAMILIES[family]
    names = _class_names(model, classes)
    classes = len(names) if names else 2 if classes is None else _class_count(model, classes)
    if classes < 2:
        raise ConfigError(f"classes must be an integer >= 2, got {classes}")
    if classes > MAX_CLASSES:
        raise ConfigError(f"classes must be at most {MAX_CLASSES}, got {classes}")
    rho_values = [rho] if np.isscalar(rho) else list(rho)
    if not rho_values:
        raise ConfigError("rho: give at least one value")
    if len(rho_values) > MAX_RHO_VALUES:
        raise ConfigError(f"rho: at most {MAX_RHO_VALUES} values, got {len(rho_values)}")
    # Named classes are not equicorrelated: rho is a fraction of objects, in [-1, 1].
    rho_values = [rho_id(check_rho(r, 2 if names else classes)) for r in rho_values]
    if len(set(rho_values)) != len(rho_values):
        raise ConfigError(f"rho values must be distinct, got {rho_values}")
    height, width = check_size(size)
    if int(samples_per_rho) != samples_per_rho or samples_per_rho < 1:
        raise ConfigError(f"samples-per-rho must be an integer >= 1, got {samples_per_rho}")
    if samples_per_rho > MAX_SAMPLES_PER_RHO:
        raise ConfigError(f"samples-per-rho must be at most {MAX_SAMPLES_PER_RHO:,}, got "
                          f"{samples_per_rho}"[:200])
    for name, value in (("seed", seed), ("test seed", test_seed)):
        if value is not None and not is_seed(value):
            raise ConfigError(f"{name} must be an integer from 0 to 2^63 - 1, got {value}"[:200])
    fractions = tuple(float(f) for f in split)
    if (len(fractions) != 3 or not all(0.0 <= f <= 1.0 for f in fractions)
            or abs(sum(fractions) - 1.0) > 1e-6):
        raise ConfigError(f"split must be three non-negative fractions summing to 1 "
                          f"(train,val,test), got {','.join(f'{f:g}' for f in fractions)}")
    frames = check_frames(frames)
    given = dict(params or {})
    timed = {p.name for p in SEQUENCE_PARAMS + model.motion}
    moving = {k: given.pop(k) for k in list(given) if k in timed}
    if frames > 1 and model.sequence is None:
        raise ConfigError(f"family {family!r} has no sequences; leave out --frames")
    if frames == 1 and moving:
        raise ConfigError(f"{next(iter(moving))} is a parameter of sequences: give "
                          "--frames > 1")
    sequence = model.resolve_motion(moving) if frames > 1 else None
    family_params = model.resolve(given, classes)
    if model.check_size:
        model.check_size((height, width), family_params)
    if sequence and model.check_motion:
        model.check_motion((height, width), family_params, {**sequence, "frames": frames})
    steps = _noise_steps(noise, classes, model.noise_defaults_for(names or ()), sequence)
    return GenerateConfig(
        family=family, family_params=family_params, noise=_canonical(steps),
        noise_steps=tuple(steps), rho=tuple(rho_values), samples_per_rho=int(samples_per_rho),
        size=(height, width), classes=int(classes), seed=int(seed), split=fractions, names=names,
        frames=frames, sequence=sequence,
        test_seed=None if test_seed is None else int(test_seed),
    )


def _noise_steps(noise, classes, defaults, sequence) -> list[tuple[str, dict[str, Any]]]:
    """The resolved noise steps, with the family's defaults for its classes; a sequence's
    noise memory needs a model whose noise can persist (one with a ``memory_step``)."""
    steps = []
    for name, given in parse_noise_spec(default_noise(classes) if noise is None else noise):
        steps.append((name, NOISE_MODELS[name].resolve(given, classes, defaults.get(name))))
    if (sequence and sequence["noise_memory"] > 0
            and not any(NOISE_MODELS[n].memory_step for n, _ in steps)):
        remembering = " or ".join(n for n, m in NOISE_MODELS.items() if m.memory_step)
        raise ConfigError(f"noise_memory applies to the {remembering} model's noise, and the "
                          f"noise {_canonical(steps)!r} has none")
    return steps


def _class_names(model, classes) -> tuple[str, ...] | None:
    """The chosen class names of a family with named classes (None for the others)."""
    if model.class_names is None:
        return None
    if classes is None:
        return tuple(model.default_classes)
    if _number(classes) is not None or not isinstance(classes, (str, list, tuple)):
        raise ConfigError(f"family {model.name!r} names its classes: give them as names from "
                          f"{', '.join(model.class_names)} (comma-separated, in that order), "
                          f"got {classes!r}"[:300])
    names = classes.split(",") if isinstance(classes, str) else list(classes)
    return model.check_classes([str(n).strip() for n in names])


def _class_count(model, classes) -> int:
    """A number of classes for a family of numbered classes."""
    count = _number(classes)
    if count is None:
        raise ConfigError(f"family {model.name!r} numbers its classes: give classes "
                          f"(--classes) as a number >= 2, got {classes!r}"[:300])
    return count


def _number(classes) -> int | None:
    """``classes`` as a number when it is one: an integer, or the command line's ASCII digits."""
    if isinstance(classes, bool):
        return None
    if isinstance(classes, (int, np.integer)):
        return int(classes)
    text = classes.strip() if isinstance(classes, str) else ""
    return int(text) if text.isascii() and text.isdecimal() else None


def _canonical(steps) -> str:
    def fmt(v):
        return "/".join(f"{x:g}" for x in v) if isinstance(v, tuple) else f"{v:g}"

    return "+".join(
        name + ":" + ",".join(f"{k}={fmt(v)}" for k, v in params.items()) for name, params in steps
    )
