"""Estimator names -> classes: built-ins, entry points, modules and files.

* Built-in names map to ``"module:Class"`` strings, imported only when used.
* Third-party packages add entry points in the group ``ogmbench.estimators``
  (``name = "pkg.module:Class"``).
* ``pkg.module:Class`` and ``path/to/file.py:Class`` load a class ad hoc.

A name claimed twice is an error naming both sources; an unknown name lists the
available ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
from functools import lru_cache
from pathlib import Path

from .api import Estimator
from .names import is_plain, show
from .sandbox import returnable

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "RegistryError", "MissingDependency", "available",
           "load"]

ENTRY_POINT_GROUP = "ogmbench.estimators"

BUILTIN: dict[str, str] = {
    "identity": "ogmbench.baselines.classical:Identity",
    "median": "ogmbench.baselines.classical:Median",
    "gaussian": "ogmbench.baselines.classical:Gaussian",
    "morph": "ogmbench.baselines.classical:Morph",
    "wiener": "ogmbench.baselines.classical:Wiener",
    "tv": "ogmbench.baselines.classical:TV",
    "guided": "ogmbench.baselines.classical:Guided",
    "mrf": "ogmbench.baselines.classical:MRF",
    "bayes-cell": "ogmbench.baselines.classical:BayesCell",
    "unet": "ogmbench.baselines.nets:UNet",
    "concat": "ogmbench.baselines.nets:Concat",
    "film": "ogmbench.baselines.nets:FiLM",
    "xattn": "ogmbench.baselines.nets:XAttn",
    "concat-time": "ogmbench.baselines.nets:ConcatTime",
    "film-time": "ogmbench.baselines.nets:FiLMTime",
    "xattn-time": "ogmbench.baselines.nets:XAttnTime",
    "concat-both": "ogmbench.baselines.nets:ConcatBoth",
    "film-both": "ogmbench.baselines.nets:FiLMBoth",
    "xattn-both": "ogmbench.baselines.nets:XAttnBoth",
    "log-odds": "ogmbench.baselines.classical:LogOdds",
    "bayes-optimal": "ogmbench.baselines.reference:BayesOptimal",
    "bayes-optimal-x1": "ogmbench.baselines.reference:BayesOptimalX1",
    "bayes-optimal-unknown-rho": "ogmbench.baselines.reference:BayesUnknownRho",
}


@returnable  # the child that reads a plugin says why it cannot
class RegistryError(ValueError):
    """An estimator name or reference cannot be resolved (a usage error)."""


class MissingDependency(RegistryError):
    """An estimator's module imports a package that is not installed (``module``)."""

    def __init__(self, message: str, module: str):
        super().__init__(message)
        self.module = module


@lru_cache(maxsize=1)
def available() -> dict[str, tuple[str, str]]:
    """name -> (``"module:Class"``, source) for built-ins and installed entry points."""
    from importlib.metadata import entry_points

    found = {name: (ref, "built-in") for name, ref in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        source = f"entry point of {dist.name if dist else 'an installed package'}"
        if not is_plain(ep.name):
            raise RegistryError(f"{source} names an estimator {show(ep.name)}, which cannot be "
                                "a file name (letters, digits, '-', '_' or '.')")
        if ep.name in found:
            raise RegistryError(
                f"estimator name {ep.name!r} is claimed twice: by {found[ep.name][1]} "
                f"({found[ep.name][0]}) and by {source} ({ep.value})"
            )
        found[ep.name] = (ep.value, source)
    return found


def load(spec: str) -> tuple[str, type[Estimator], str]:
    """Resolve a name, ``module:Class`` or ``file.py:Class`` to (name, class, source)."""
    if ":" in spec and spec not in available():
        ref, _, attr = spec.rpartition(":")
        if ref.endswith(".py") or "/" in ref or "\\" in ref:
            cls = _from_file(Path(ref), attr)
            source = f"file {ref}"
        else:
            cls = _from_module(ref, attr, spec)
            source = f"module {ref}"
        cls = _check_class(cls, spec)
        name = cls.name or cls.__name__.lower()
        if not is_plain(name):  # it becomes a file name in every run directory
            raise RegistryError(f"estimator {spec!r} is named {show(name)}, which cannot be a "
                                "file name (letters, digits, '-', '_' or '.', not starting "
                                "with '.')")
        if name in available():
            ref = available()[name][0]
            known = _from_module(*ref.split(":"), ref)
            if known is not cls:
                raise RegistryError(f"estimator name {name!r} is claimed twice: by "
                                    f"{available()[name][1]} and by {source}")
            return name, cls, available()[name][1]
        return name, cls, source
    if spec not in available():
        raise RegistryError(f"unknown estimator {spec!r} (available: {', '.join(sorted(available()))}; "
                            "or pkg.module:Class, or path/to/file.py:Class)")
    ref, source = available()[spec]
    module, _, attr = ref.partition(":")
    return spec, _check_class(_from_module(module, attr, ref), spec), source


@contextlib.contextmanager
def _as_it_was():
    """Importing a plugin runs its module's code in this process (to read its class); the
    working folder it may change is put back, so relative paths keep their meaning."""
    cwd = os.getcwd()
    try:
        yield
    finally:
        if os.getcwd() != cwd:
            os.chdir(cwd)


def _from_module(module: str, attr: str, spec: str):
    try:
        with _as_it_was():
            mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        message = f"cannot import {module!r} for estimator {spec!r}: {exc}"
        if missing and not (module == exc.name or module.startswith(f"{exc.name}.")):
            # The module exists but needs a package that is not installed.
            raise MissingDependency(message, missing) from None
        raise RegistryError(message) from None
    except ImportError as exc:
        raise RegistryError(f"cannot import {module!r} for estimator {spec!r}: {exc}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: B036 -- its module's code failed (SystemExit too)
        raise RegistryError(f"cannot import {module!r} for estimator {spec!r}: "
                            f"{type(exc).__name__}: {exc}") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise RegistryError(f"module {module!r} has no {attr!r} (estimator {spec!r})") from None


def _from_file(path: Path, attr: str):
    if not path.is_file():
        raise RegistryError(f"estimator file {show(str(path))} does not exist")
    # A stable module name per file, so pickling and re-imports find the same module.
    name = "ogmbench_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise RegistryError(f"estimator file {show(str(path))} is not a Python file (.py)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            with _as_it_was():
                spec.loader.exec_module(module)
        except KeyboardInterrupt:  # the user's Ctrl-C, as far as anyone can tell
            del sys.modules[name]
            raise
        except BaseException as exc:  # noqa: B036 -- SystemExit at import is its failure too
            del sys.modules[name]
            raise RegistryError(f"cannot load estimator file {show(str(path))}: "
                                f"{type(exc).__name__}: {exc}") from None
    try:
        return getattr(sys.modules[name], attr)
    except AttributeError:
        raise RegistryError(f"{show(str(path))} defines no {attr!r}") from None


def _check_class(cls, spec: str) -> type[Estimator]:
    if not (isinstance(cls, type) and issubclass(cls, Estimator)):
        raise RegistryError(f"{spec!r} is not an ogmbench.api.Estimator subclass")
    return cls
