"""The conformance kit of families and noise models: what any one must satisfy.

``check_family(name)`` and ``check_noise(name)`` run every rule on a registered family
(:data:`ogmbench.generators.FAMILIES`) or noise model
(:data:`ogmbench.generators.NOISE_MODELS`) and raise one :class:`GeneratorCheckError`
listing each broken rule; each rule is also a function ``check_<family|noise>_<rule>(name,
*, size=24, seed=0)`` of its own, listed in :data:`FAMILY_CHECKS` and
:data:`NOISE_CHECKS`.  A family is drawn as ``ogmbench generate`` draws it: with the
keyword arguments of a validated :class:`~ogmbench.config.GenerateConfig`.
"""

from __future__ import annotations

import json

import numpy as np

from ..config import make_config
from ..generators import FAMILIES, NOISE_MODELS, SEQUENCE_PARAMS, Param, ParamError
from ..seeding import keyed_rng
from ._errors import GeneratorCheckError

__all__ = ["check_family", "check_noise", "FAMILY_CHECKS", "NOISE_CHECKS",
           "check_family_declares_itself", "check_family_draws_valid_maps",
           "check_family_is_deterministic", "check_family_handles_rho",
           "check_family_sequences", "check_family_info_and_calibration",
           "check_noise_declares_itself", "check_noise_output", "check_noise_is_deterministic",
           "check_noise_composes", "check_noise_memory"]


def _fail(name: str, message: str):
    raise GeneratorCheckError(f"{name}: {message}")


def _check_params(name: str, params) -> None:
    """Every declared parameter is a named, documented :class:`Param`, once."""
    names = [getattr(p, "name", None) for p in params]
    for p in params:
        if not isinstance(p, Param) or not p.name or not p.doc:
            _fail(name, f"every parameter must be a Param with a name and a doc, got {p!r}")
    if len(set(names)) != len(names):
        _fail(name, f"declares a parameter twice: {', '.join(names)}")


def _rng(seed: int):
    return keyed_rng("conformance", seed)


def _stir_global_state() -> None:
    """Move numpy's global random state on: a model that reads it draws differently."""
    np.random.random(7)


def _config(name, size, seed, frames=1, classes=None):
    """The config ``ogmbench generate`` would make: the family's defaults, size H x W+8
    (not square, so that rows and columns cannot be swapped unseen)."""
    return make_config(family=name, rho=[0.0], samples_per_rho=1, size=(size, size + 8),
                       seed=seed, frames=frames, classes=classes)


def _draw(name, config, rho, seed):
    model = FAMILIES[name]
    draw = model.sequence if config.frames > 1 else model.func
    return draw(_rng(seed), rho, config.size, **config.family_kwargs)


def _check_maps(name, clean, shape) -> None:
    if not isinstance(clean, np.ndarray) or clean.dtype != np.uint8:
        _fail(name, f"maps must be a uint8 array, got {getattr(clean, 'dtype', type(clean))}")
    if clean.shape != shape:
        _fail(name, f"maps have shape {clean.shape}, expected {shape}")
    if not np.isin(clean, (0, 1)).all():
        _fail(name, "maps must hold 0 and 1 only")


# -- families ----------------------------------------------------------------------------


def check_family_declares_itself(name, *, size=24, seed=0):
    """Registered under its name; its parameters are documented and its defaults valid;
    named classes are distinct and the default ones a valid choice of them."""
    model = FAMILIES.get(name)
    if model is None or model.name != name or not callable(model.func):
        _fail(name, "must be registered in FAMILIES under its own name with a function")
    _check_params(name, model.params)
    if model.sequence is not None:
        _check_params(name, SEQUENCE_PARAMS + model.motion)
    elif model.motion:
        _fail(name, "declares motion parameters but no sequence function")
    if model.class_names is not None:
        if len(set(model.class_names)) != len(model.class_names) or len(model.class_names) < 2:
            _fail(name, f"class names must be at least 2 distinct names, got {model.class_names}")
        model.check_classes(model.default_classes)
    elif model.default_classes is not None:
        _fail(name, "has default classes but numbers its classes")
    try:
        model.resolve({}, len(model.default_classes) if model.default_classes else 2)
    except ParamError as exc:
        _fail(name, f"refuses its own defaults: {exc}")


def check_family_draws_valid_maps(name, *, size=24, seed=0):
    """Maps of the chosen classes, (C, H, W) uint8 of 0 and 1; three classes for a family
    of numbered ones, every class for a family of named ones."""
    model = FAMILIES[name]
    choices = [None, model.class_names] if model.class_names else [None, 3]
    for classes in choices:
        config = _config(name, size, seed, classes=classes)
        _check_maps(name, _draw(name, config, 0.5, seed), (config.classes, *config.size))


def check_family_is_deterministic(name, *, size=24, seed=0):
    """The same seed draws the same maps, whatever numpy's global random state."""
    config = _config(name, size, seed)
    first = _draw(name, config, 0.5, seed)
    _stir_global_state()
    if not np.array_equal(_draw(name, config, 0.5, seed), first):
        _fail(name, f"two draws with seed {seed} differ")


def check_family_handles_rho(name, *, size=24, seed=0):
    """Every rho in [-1, 1] draws valid maps (two classes); rho outside is a ParamError."""
    config = _config(name, size, seed)
    for rho in (-1.0, -0.5, 0.0, 0.5, 1.0):
        _check_maps(name, _draw(name, config, rho, seed), (config.classes, *config.size))
    try:
        _draw(name, config, 1.5, seed)
    except ParamError:
        return
    _fail(name, "draws maps at rho 1.5: it must refuse rho outside [-1, 1] (ParamError)")


def check_family_sequences(name, *, size=24, seed=0):
    """A family with sequences draws (T, C, H, W) maps and (T, 3) poses, the same for one
    seed; frame 0's pose is the centre of its grid, unturned."""
    if FAMILIES[name].sequence is None:
        return
    config = _config(name, size, seed, frames=3)
    clean, poses = _draw(name, config, 0.5, seed)
    _check_maps(name, clean, (3, config.classes, *config.size))
    poses = np.asarray(poses)
    if poses.shape != (3, 3) or poses.dtype != np.float64 or not np.isfinite(poses).all():
        _fail(name, f"poses must be finite float64 of shape (3, 3), got {poses.dtype} "
                    f"{poses.shape}")
    centre = np.array([*config.size, 0.0]) * [config.resolution / 2, config.resolution / 2, 1]
    if not np.allclose(poses[0], centre):
        _fail(name, f"frame 0's pose must be its grid's centre {centre.tolist()}, got "
                    f"{poses[0].tolist()}")
    again_clean, again_poses = _draw(name, config, 0.5, seed)
    if not (np.array_equal(again_clean, clean) and np.array_equal(again_poses, poses)):
        _fail(name, f"two sequences with seed {seed} differ")


def check_family_info_and_calibration(name, *, size=24, seed=0):
    """What ``info`` and ``info --calibration`` read is consistent: closed-form phi in
    [-1, 1] from the parameters as a store records them, object classes among the
    family's classes, noise defaults for registered noise models' declared parameters."""
    model = FAMILIES[name]
    frames = 3 if model.sequence is not None else 1
    config = _config(name, size, seed, frames=frames)
    recorded = json.loads(json.dumps(config.to_json()))
    params, classes = recorded["family_params"], config.classes
    if model.expected_phi is not None:
        for rho in (-1.0, 0.0, 0.5, 1.0):
            _check_phi(name, [model.expected_phi(rho, params, classes)], 1)
    if model.expected_temporal_phi is not None:
        if model.sequence is None:
            _fail(name, "declares a frame-to-frame phi but no sequences")
        _check_phi(name, model.expected_temporal_phi(params, recorded["sequence"], classes),
                   classes)
    if model.calibration is not None:
        _check_objects(name, model)
    for noise, defaults in model.noise_defaults_for(config.names or ()).items():
        if noise not in NOISE_MODELS:
            _fail(name, f"gives defaults to {noise!r}, which is no noise model")
        try:
            NOISE_MODELS[noise].resolve({}, classes, defaults)
        except ParamError as exc:
            _fail(name, f"gives {noise} defaults it refuses: {exc}")


def _check_phi(name, values, count) -> None:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (count,) or not (np.isfinite(values).all()
                                        and (np.abs(values) <= 1 + 1e-9).all()):
        _fail(name, f"expected phi must be {count} finite value(s) in [-1, 1], got "
                    f"{values.tolist()}")


def _check_objects(name, model) -> None:
    """The classes calibration measures as objects are the family's; their types are
    names of their own."""
    classes = set(model.class_names or ())
    for cls, types in model.calibration.objects.items():
        if cls not in classes:
            _fail(name, f"calibration measures objects of {cls!r}, which is not a class of it")
        if not isinstance(types, tuple) or classes & set(types) or len(set(types)) != len(types):
            _fail(name, f"the object types of {cls!r} must be distinct names other than the "
                        f"classes', got {types!r}")


FAMILY_CHECKS = (check_family_declares_itself, check_family_draws_valid_maps,
                 check_family_is_deterministic, check_family_handles_rho,
                 check_family_sequences, check_family_info_and_calibration)
"""Every family rule, in the order :func:`check_family` runs them."""


# -- noise models ------------------------------------------------------------------------


def _input(classes, size, seed, binary=True):
    """A (C, H, W+8) float32 input: a clean map, or probabilities (another model's output)."""
    rng = _rng(seed + 1)
    shape = (classes, size, size + 8)
    x = (rng.random(shape) < 0.4) if binary else rng.uniform(0.0, 1.0, shape)
    return x.astype(np.float32)


def _noise(name, x, seed, **given):
    model = NOISE_MODELS[name]
    return model.func(_rng(seed), x, **model.resolve(given, x.shape[0]))


def _check_noisy(name, out, x, bounded) -> None:
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        _fail(name, f"output must be a float32 array, got {getattr(out, 'dtype', type(out))}")
    if out.shape != x.shape:
        _fail(name, f"output has shape {out.shape}, expected {x.shape}")
    if not np.isfinite(out).all():
        _fail(name, "output has NaN or inf")
    if bounded and NOISE_MODELS[name].bounded and (out.min() < 0 or out.max() > 1):
        _fail(name, f"declares its output in [0, 1], got values in [{out.min():.3g}, "
                    f"{out.max():.3g}]")


def check_noise_declares_itself(name, *, size=24, seed=0):
    """Registered under its name; its parameters are documented, its defaults valid for 2
    and 3 classes, and a per-class parameter takes one value per class."""
    model = NOISE_MODELS.get(name)
    if model is None or model.name != name or not callable(model.func):
        _fail(name, "must be registered in NOISE_MODELS under its own name with a function")
    _check_params(name, model.params)
    try:
        for classes in (2, 3):
            defaults = model.resolve({}, classes)
            model.resolve({p.name: "/".join([f"{defaults[p.name]:g}"] * classes)
                           for p in model.params if p.per_class and defaults[p.name] is not None},
                          classes)
    except ParamError as exc:
        _fail(name, f"refuses its own defaults: {exc}")


def check_noise_output(name, *, size=24, seed=0):
    """A clean map of 2 or 3 classes gives float32 of its shape, finite, in [0, 1] unless
    declared otherwise (``bounded``)."""
    for classes in (2, 3):
        x = _input(classes, size, seed)
        _check_noisy(name, _noise(name, x, seed), x, bounded=True)


def check_noise_is_deterministic(name, *, size=24, seed=0):
    """The same seed gives the same output, whatever numpy's global random state; the
    input is not modified."""
    x = _input(2, size, seed)
    given = x.copy()
    first = _noise(name, given, seed)
    if not np.array_equal(given, x):
        _fail(name, "modified its input")
    _stir_global_state()
    if not np.array_equal(_noise(name, x, seed), first):
        _fail(name, f"two outputs with seed {seed} differ")


def check_noise_composes(name, *, size=24, seed=0):
    """It takes another model's output: probabilities in [0, 1] (output in [0, 1] unless
    declared otherwise) and values outside [0, 1] (output finite)."""
    x = _input(2, size, seed, binary=False)
    _check_noisy(name, _noise(name, x, seed), x, bounded=True)
    wide = x * 2.0 - 0.5
    _check_noisy(name, _noise(name, wide, seed), wide, bounded=False)


def check_noise_memory(name, *, size=24, seed=0):
    """A model whose noise persists over frames gives, at the first frame, exactly its
    output alone, and carries noise of the map's shape to the next."""
    model = NOISE_MODELS[name]
    if model.memory_step is None:
        return
    x = _input(2, size, seed)
    params = model.resolve({}, 2)
    first, carried = model.memory_step(_rng(seed), x, None, 0.5, **params)
    if not np.array_equal(first, _noise(name, x, seed)):
        _fail(name, "the first frame's output with memory differs from its output alone")
    if np.shape(carried) != x.shape:
        _fail(name, f"carries noise of shape {np.shape(carried)}, expected {x.shape}")
    second, _ = model.memory_step(_rng(seed + 1), x, carried, 0.5, **params)
    _check_noisy(name, second, x, bounded=True)


NOISE_CHECKS = (check_noise_declares_itself, check_noise_output, check_noise_is_deterministic,
                check_noise_composes, check_noise_memory)
"""Every noise-model rule, in the order :func:`check_noise` runs them."""


def _run(name, checks, registry, kind, size, seed) -> bool:
    if name not in registry:
        raise GeneratorCheckError(f"{name!r} is no registered {kind} "
                                  f"(registered: {', '.join(registry)})")
    failures: dict[str, str] = {}
    for check in checks:
        try:
            check(name, size=size, seed=seed)
        except GeneratorCheckError as exc:
            failures[check.__name__] = str(exc)
        except Exception as exc:
            failures[check.__name__] = f"raised {type(exc).__name__}: {exc}"
    if failures:
        lines = [f"{name} fails {len(failures)} of {len(checks)} checks"]
        lines += [f"  {check}: {message}" for check, message in failures.items()]
        raise GeneratorCheckError("\n".join(lines), failures=failures)
    return True


def check_family(name: str, *, size: int = 24, seed: int = 0) -> bool:
    """Run every rule of :data:`FAMILY_CHECKS` on the registered family ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`ogmbench.generators.FAMILIES`.
    size : int
        Map height in cells (the width is 8 more).
    seed : int

    Returns
    -------
    bool
        True when every rule holds.

    Raises
    ------
    GeneratorCheckError
        ``"<name> fails N of M checks"``, then one line per broken rule; a rule that
        raises anything else counts as broken with ``raised <Type>: <message>``.

    Examples
    --------
    >>> all(check_family(name) for name in FAMILIES)
    True
    """
    return _run(name, FAMILY_CHECKS, FAMILIES, "family", size, seed)


def check_noise(name: str, *, size: int = 24, seed: int = 0) -> bool:
    """Run every rule of :data:`NOISE_CHECKS` on the registered noise model ``name``.

    Parameters and errors as :func:`check_family`.

    Examples
    --------
    >>> all(check_noise(name) for name in NOISE_MODELS)
    True
    """
    return _run(name, NOISE_CHECKS, NOISE_MODELS, "noise model", size, seed)
