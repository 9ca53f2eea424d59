"""Specs: the one reader of ``key=value`` text and of estimator specs.

Three things are written as ``key=value`` pairs: family parameters (``generate
--param``), noise models (``gaussian:sigma=1.0/0.3``) and estimators
(``unet:profile=quick,steps=50``).  They share one rule set, :func:`parse_params`:
pairs separated by commas, a non-empty key and value in each, no key twice.

An estimator spec is resolved once per command into an :class:`EstimatorSpec` (its
registered name, class, source, fixed parameters and row label), which every room then
passes along instead of the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import declared, registry
from .api import PRIOR_SOURCES, Estimator
from .errors import ConfigError
from .generators import NOISE_MODELS
from .truth import TrueModel, readable

__all__ = ["parse_params", "parse_noise_spec", "EstimatorSpec", "resolve", "resolve_all",
           "estimator_label", "twin_name", "runs_on", "default_estimators", "default_reference", "REFERENCES", "LIMITS", "KNOWING",
           "HIDDEN_IN_LABELS"]

# The no-prior twins a paired comparison is made against, most informative first: the
# U-Net without X2 is the same model as the prior-using ones; identity is the raw map.
REFERENCES = ("unet", "identity")
# The Bayes-optimal references, with the prior classes and without: where both ran, the
# leaderboard reads every gain against what the prior can give at best.
LIMITS = ("bayes-optimal", "bayes-optimal-x1")
# Every built-in reference that knows the true model (``knows_model``): reports mark them
# and never rank them among the estimators a submission competes with.
KNOWING = LIMITS + ("bayes-optimal-unknown-rho",)

# The spec keys that pick an estimator's prior sources (a twin): its prior classes', and
# its past frames' (a store of sequences); never an estimator's own parameters.
PRIOR_KEY = "prior"
PAST_KEY = "past"

# Parameters that label a run rather than an estimator: a leaderboard compares
# estimators at one training profile.
HIDDEN_IN_LABELS = ("profile",)


def parse_params(text: str | Iterable[str], where: str) -> dict[str, str]:
    """``"a=1,b=x"`` (or the items ``["a=1", "b=x"]``) -> ``{"a": "1", "b": "x"}``.

    Parameters
    ----------
    text : str or iterable of str
        Comma-separated pairs, or the pairs one by one (as repeated options give them).
    where : str
        What the pairs belong to, for messages (``"noise model 'flip'"``).

    Returns
    -------
    dict of str
        Values stay text; the owner of each parameter converts and validates it.

    Raises
    ------
    ConfigError
        For an item without ``=``, an empty key or value, or a key given twice.

    Examples
    --------
    >>> parse_params("sigma=1.0/0.3, fp=0.1", "noise model 'gaussian'")
    {'sigma': '1.0/0.3', 'fp': '0.1'}
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in items)):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ConfigError(f"{where}: expected key=value, got {item!r}")
        if key in out:
            raise ConfigError(f"{where}: {key!r} given twice")
        out[key] = value
    return out


def parse_noise_spec(spec: str) -> list[tuple[str, dict[str, str]]]:
    """Split a spec such as ``"lidar:scans=2+confusion:p=0.1"`` into (name, params).

    Values stay strings; :meth:`ogmbench.generators.Model.resolve` converts and
    validates them.

    Raises
    ------
    ConfigError
        For an empty spec, an unknown noise model or a malformed parameter.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("noise spec is empty (e.g. 'gaussian:sigma=0.3')")
    parsed = []
    for part in spec.split("+"):
        name, _, args = part.strip().partition(":")
        name = name.strip()
        if name not in NOISE_MODELS:
            raise ConfigError(f"unknown noise model {name!r} in {spec!r} "
                              f"(allowed: {', '.join(NOISE_MODELS)})")
        parsed.append((name, parse_params(args, f"noise model {name!r}")))
    return parsed


def estimator_label(name: str, fixed: Mapping[str, Any],
                    hide: Sequence[str] = HIDDEN_IN_LABELS) -> str:
    """A row label telling configurations apart: ``unet[steps=5]``.

    Parameters
    ----------
    name : str
        Registered estimator name.
    fixed : mapping
        Parameters fixed by the user (``name:key=value``).
    hide : sequence of str
        Parameters left out of the label (the training profile by default).
    """
    shown = {k: v for k, v in fixed.items() if k not in hide}
    return name + ("[" + ",".join(f"{k}={v}" for k, v in sorted(shown.items())) + "]"
                   if shown else "")


@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator as the user named it, resolved.

    Attributes
    ----------
    text : str
        The spec as written (``"median:size=5"``, ``"pkg.mod:Class"``).
    name : str
        Registered name (the class's own for ``module:Class`` and ``file.py:Class``).
    cls : type
        The :class:`~ogmbench.api.Estimator` subclass.
    source : str
        Where the class came from (``built-in``, an entry point, a module or a file).
    params : dict
        Parameters fixed in the spec (values read as JSON where they parse).
    prior : str
        Where its X2 comes from, at training and at test (:data:`~ogmbench.api.PRIOR_SOURCES`,
        the reserved spec key ``prior``): ``noisy`` (the sample's own), or a twin's
        ``shuffled`` (blind), ``zeros`` or ``oracle`` (clean). A twin is named
        ``<name>-<prior>``.
    past : str
        The same for the target's past frames (the reserved spec key ``past``, for an
        estimator that reads them); a twin is named ``<name>-past-<past>``.
    """

    text: str
    name: str
    cls: type[Estimator]
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    prior: str = "noisy"
    past: str = "noisy"

    @property
    def replaced(self) -> list[str]:
        """The controls (:data:`~ogmbench.api.CONTROLS`) that make a twin's prior sources."""
        return ([self.prior] if self.prior != "noisy" else []) + \
            ([f"past-{self.past}"] if self.past != "noisy" else [])

    @property
    def label(self) -> str:
        """Its leaderboard row label (fixed parameters shown, the profile hidden)."""
        return estimator_label(self.name, self.params)

    @property
    def trains(self) -> bool:
        """Whether run-wide training settings apply (estimators with a ``profile``)."""
        return "profile" in self.cls.param_names()

    def with_training(self, training: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The parameters to construct with, and which of them came from ``training``.

        Run-wide training settings (a profile, a step count) go to estimators that train;
        a parameter fixed in the spec wins over them.
        """
        if not self.trains:
            return dict(self.params), []
        names = self.cls.param_names()
        run_wide = {k: v for k, v in training.items() if k not in self.params and k in names}
        return {**run_wide, **self.params}, sorted(run_wide)

    def check(self, training: Mapping[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        """Build the estimator once with ``training`` applied; return its parameters.

        Raises
        ------
        ConfigError
            For a parameter the class does not have, or one its constructor refuses.
        """
        params, _ = self.with_training(training)
        unknown = sorted(set(params) - set(self.cls.param_names()))
        if unknown:
            raise ConfigError(f"estimator {self.name!r} has no parameter "
                              f"{', '.join(map(repr, unknown))} "
                              f"(parameters: {', '.join(self.cls.param_names()) or 'none'})")
        if "declared" in vars(self.cls):  # a plugin: built in a child, where it runs
            declared.check(self.cls, self.name, params)
            return params
        try:  # declared ranges, then the constructor's own checks: before any work
            self.cls.check_params(params)
            self.cls(**params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"estimator {self.name!r}: {exc}") from None
        except Exception as exc:  # a plugin's constructor that fails on its own terms
            raise ConfigError(f"estimator {self.name!r} cannot be built: "
                              f"{type(exc).__name__}: {exc}") from None
        return params


def _typed(value: str) -> Any:
    """Numbers and booleans as JSON reads them; anything else stays text."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # (text nested too deep to be a number anyway)
        return value


def twin_name(name: str, prior: str) -> str:
    """The name (or row label) of ``name``'s twin with X2 from ``prior``: ``concat-shuffled``.

    A label's decorations (``[fixed params]``, ``#variant``, ``@seed``) stay at its end.
    """
    cut = min((i for i in (name.find(c) for c in "[#@") if i >= 0), default=len(name))
    return f"{name[:cut]}-{prior}{name[cut:]}"


def resolve(text: str, here: bool = False) -> EstimatorSpec:
    """Resolve ``name``, ``name:key=value,...``, ``pkg.mod:Class`` or ``file.py:Class``.

    A plugin (anything but a built-in) is read in a child process and stands in here by
    its declarations (:mod:`ogmbench.declared`); ``here`` loads its real class in this
    process instead: the process that fits it does.

    Raises
    ------
    ConfigError
        For an unknown estimator, a class that cannot be loaded or malformed parameters.
    """
    head, sep, tail = text.rpartition(":")
    try:
        if sep and "=" not in tail and head in registry.available():
            raise ConfigError(f"estimator {text!r}: parameters are written "
                              f"{head}:key=value[,key=value]")
        if not sep or "=" not in tail:
            ref, params = text, {}
        else:
            ref = head
            params = {k: _typed(v) for k, v in parse_params(tail, f"estimator {text!r}").items()}
        if declared.is_plugin(ref) and not here:  # read where it cannot touch this run
            facts = declared.read(ref)
            name, cls, source = facts["name"], declared.stand_in(facts), facts["source"]
        else:
            name, cls, source = registry.load(ref)
    except registry.RegistryError as exc:
        raise ConfigError(str(exc)) from None
    prior, name = _source(params, PRIOR_KEY, text, name, cls.uses_prior, "use the prior", "")
    past, name = _source(params, PAST_KEY, text, name, getattr(cls, "uses_past", False),
                         "read past frames", "past-")
    return EstimatorSpec(text=text, name=name, cls=cls, source=source, params=params,
                         prior=prior, past=past)


def _source(params: dict, key: str, text: str, name: str, reads: bool, what: str,
            prefix: str) -> tuple[str, str]:
    """Pop one prior source (``prior=`` or ``past=``) from ``params``: the source and the
    name, a twin's when the source is not the estimator's own."""
    source = params.pop(key, "noisy")
    if source not in PRIOR_SOURCES:
        raise ConfigError(f"estimator {text!r}: {key} must be one of {', '.join(PRIOR_SOURCES)}, "
                          f"got {source!r}")
    if source == "noisy":
        return source, name
    if not reads:
        raise ConfigError(f"estimator {text!r}: {name} does not {what}, so it has no "
                          f"{key}={source} twin")
    return source, twin_name(name, f"{prefix}{source}")


def resolve_all(texts: Iterable[str | EstimatorSpec],
                training: Mapping[str, Any] = {},  # noqa: B006
                taken: Iterable[str] = ()) -> list[EstimatorSpec]:
    """Resolve and check several specs; a name listed twice (or in ``taken``) is refused.

    Parameters
    ----------
    texts : iterable of str or EstimatorSpec
        Specs already resolved are taken as they are (and checked with ``training``).
    training : mapping
        Run-wide training settings every training estimator is built with.
    taken : iterable of str
        Names already in use (a benchmark's own estimators).
    """
    out: list[EstimatorSpec] = []
    seen = set(taken)
    for text in texts:
        spec = text if isinstance(text, EstimatorSpec) else resolve(text)
        if spec.name in seen:
            raise ConfigError(f"estimator {spec.name!r} is listed twice")
        seen.add(spec.name)
        spec.check(training)
        out.append(spec)
    return out


def runs_on(cls, frames: int) -> bool:
    """Whether estimator class ``cls`` runs on a store of ``frames`` frames per sample: one
    that reads the past needs sequences (``frames`` > 1); every other runs on any store."""
    return frames > 1 or not getattr(cls, "uses_past", False)


def default_estimators(log: Callable[[str], None] = lambda message: None,
                       frames: int = 1, attrs: Mapping[str, Any] | None = None) -> list[str]:
    """Every registered estimator name whose own imports are installed.

    An estimator whose module needs a package that is not installed (the learned ones
    without torch) is skipped with one line saying what to install; one that reads past
    frames is left out for a store of single maps (``frames`` 1), and a reference that
    reads the true model (``knows_model``) for a store whose model it cannot read (the
    store's attributes ``attrs``; without them, always).
    """
    def known(cls) -> bool:
        return attrs is not None and readable(lambda: TrueModel.from_attrs(dict(attrs)), cls)

    names, missing = [], {}
    for name in registry.available():
        try:
            cls = (declared.stand_in(declared.read(name)) if declared.is_plugin(name)
                   else registry.load(name)[1])
        except registry.MissingDependency as exc:
            missing.setdefault(exc.module, []).append(name)
            continue
        if runs_on(cls, frames) and (not getattr(cls, "knows_model", False) or known(cls)):
            names.append(name)
    for module, skipped in missing.items():
        log(f"{module} is not installed: skipping {', '.join(skipped)} (pip install {module})")
    return names


def default_reference(names: Iterable[str]) -> str | None:
    """The first of :data:`REFERENCES` among ``names``, else None."""
    names = set(names)
    return next((r for r in REFERENCES if r in names), None)
