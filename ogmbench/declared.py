"""A plugin's class read where it cannot touch the run: its declarations, as a stand-in.

Importing a plugin's module runs its code; in the run's own process that code could
patch ogmbench's scoring before a single estimate is made.  So the run never imports a
plugin (an estimator from an entry point, a module or a file): a child process, in the
jail where there is one (:mod:`ogmbench.sandbox`), imports it and returns what the run
needs to know of its class, as plain data (its name, version, declared priors, default
parameters, grid), and checks the parameters it is built with.  The run works with a
stand-in class carrying those declarations (:func:`stand_in`), under the plugin's own
module and class name, so estimator keys are as before; the plugin's real class is
loaded only in the process that fits it.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from typing import Any

from . import registry, sandbox
from .api import Estimator
from .errors import ConfigError, RunFailure

__all__ = ["is_plugin", "read", "stand_in", "check", "folders"]

_READ = "ogmbench.declared:_read"
_EMPTY = "<no default>"  # inspect's "no default" marker, as plain data


def is_plugin(ref: str) -> bool:
    """Whether ``ref`` (a name, ``module:Class`` or ``file.py:Class``) is third-party code
    to be read in a child: anything but a built-in name or ogmbench's own module, where
    a child can run."""
    if not sandbox.available():
        return False
    known = registry.available().get(ref)
    if known is not None:
        return known[1] != "built-in"
    head = ref.rpartition(":")[0]
    if head.endswith(".py") or "/" in head or "\\" in head:
        return True
    return not (head == "ogmbench" or head.startswith("ogmbench."))


def read(ref: str) -> dict[str, Any]:
    """The declarations of the class ``ref`` names, read in a child process.

    Raises
    ------
    registry.RegistryError
        As :func:`ogmbench.registry.load` does (an unknown name, a module that does not
        import; :class:`~ogmbench.registry.MissingDependency` for a package missing).
    """
    try:
        facts = sandbox.call(_READ, {"ref": ref}, jail={"files": folders(ref)})
    except RunFailure as exc:  # its process died reading it (os._exit at import, say)
        raise registry.RegistryError(f"cannot read estimator {ref!r}: {exc}") from None
    if "missing" in facts:
        raise registry.MissingDependency(facts["message"], facts["missing"])
    if "error" in facts:
        raise registry.RegistryError(facts["error"])
    return facts


def check(cls, name: str, params: dict[str, Any]) -> None:
    """Build the plugin ``cls`` stands in for with ``params``, in a child; a ConfigError
    with the message :meth:`ogmbench.specs.EstimatorSpec.check` gives a built-in."""
    facts = cls.declared
    try:
        refused = facts["built"] if not params else sandbox.call(
            _READ, {"ref": facts["ref"], "params": params},
            jail={"files": folders(facts["ref"])})["built"]
    except RunFailure as exc:
        raise ConfigError(f"estimator {name!r} cannot be built: {exc}") from None
    if refused is not None:
        raise ConfigError(f"estimator {name!r}{refused}")


def stand_in(facts: dict[str, Any]) -> type[Estimator]:
    """A class with the plugin's declarations, under its module and qualified name."""
    defaults = {k: (inspect.Parameter.empty if v == _EMPTY else v)
                for k, v in facts["params"].items()}
    namespace = {
        "__module__": facts["module"], "__qualname__": facts["qualname"],
        "__doc__": facts["doc"], "declared": facts, "version": facts["version"],
        "uses_prior": facts["uses_prior"], "uses_past": facts["uses_past"],
        "stochastic": facts["stochastic"], "param_grid": facts["param_grid"],
        "knows_model": facts.get("knows_model", False),
        "param_names": classmethod(lambda cls: list(defaults)),
        "default_params": classmethod(lambda cls: dict(defaults)),
        "check_params": classmethod(lambda cls, params: None),  # checked in the child
        "describe": lambda self: dict(facts["facts"]),
    }
    return type(facts["qualname"].rpartition(".")[2], (Estimator,), namespace)


def folders(ref: str) -> list[str]:
    """Where the plugin's code lies, found without running it: its file, or its top-level
    package's (the jail shows it; an editable install lies outside the import path)."""
    head, _, _ = ref.rpartition(":")
    if head.endswith(".py") or "/" in head or "\\" in head:
        return [os.path.abspath(head)]
    module = registry.available().get(ref, (ref,))[0].partition(":")[0] if not head else head
    try:
        found = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        return []
    return [found.origin] if found is not None and found.origin else []


# --------------------------------------------------------------------------- the child


def _read(payload: dict[str, Any], channel) -> dict[str, Any]:
    """In the child: load the class, then its declarations and whether it builds."""
    try:
        name, cls, source = registry.load(payload["ref"])
    except registry.MissingDependency as exc:
        return {"missing": exc.module, "message": str(exc)}
    except registry.RegistryError as exc:
        return {"error": str(exc)}
    if "params" in payload:
        return {"built": _built(cls, payload["params"])}
    return {
        "ref": payload["ref"], "name": name, "source": source, "module": cls.__module__, "qualname": cls.__qualname__,
        "doc": cls.__doc__, "version": cls.version, "uses_prior": bool(cls.uses_prior),
        "uses_past": bool(getattr(cls, "uses_past", False)), "stochastic": bool(cls.stochastic),
        "knows_model": bool(getattr(cls, "knows_model", False)),
        "param_grid": {k: list(v) for k, v in cls.param_grid.items()},
        "params": {k: (_EMPTY if v is inspect.Parameter.empty else v)
                   for k, v in cls.default_params().items()},
        "facts": _facts(cls), "built": _built(cls, {}),
    }


def _built(cls, params: dict[str, Any]) -> str | None:
    """None if ``cls(**params)`` builds, else the end of the message the run refuses it
    with (after ``estimator 'name'``)."""
    try:
        cls.check_params(params)
        cls(**params)
    except (TypeError, ValueError) as exc:
        return f": {exc}"
    except Exception as exc:
        return f" cannot be built: {type(exc).__name__}: {exc}"
    return None


def _facts(cls) -> dict[str, Any]:
    """What ``ogmbench list`` shows of an estimator built with its defaults, as plain
    data (its text where a value is not)."""
    import json

    try:
        return json.loads(json.dumps(dict(cls().describe()), default=str))
    except Exception:  # one that cannot be built with its defaults describes nothing
        return {}
