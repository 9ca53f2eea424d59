"""ogmbench: a benchmark for denoising multi-class occupancy grid maps.

Does a second class's map help as a prior when denoising the first, and by how much,
depending on how correlated the classes are?  ogmbench generates paired clean/noisy
class maps with a controlled inter-class correlation ``rho`` and evaluates estimators
on them.

This is the package face: it re-exports the public names and no room imports it.
``import ogmbench`` stays light: torch and pandas are imported only by what needs them
(:class:`ogmbench.TorchDataset`, :func:`ogmbench.run_eval`, :func:`ogmbench.aggregate`,
:func:`ogmbench.reproduce`, loaded on first use).
"""

from ._version import __version__
from .config import GenerateConfig, make_config
from .errors import ConfigError, RunFailure, StoreError, UsageError
from .generate import generate, make_sample
from .store import Store, open_store, verify_store

__all__ = [
    "__version__", "ConfigError", "EvalConfig", "GenerateConfig", "RunFailure", "Store",
    "StoreError", "TorchDataset", "UsageError", "aggregate", "generate", "make_config",
    "make_sample", "open_store", "reproduce", "run_eval", "verify_store",
]

# Lazy: each pulls in what `import ogmbench` must not (torch, pandas, the estimators).
_LAZY = {"TorchDataset": "torch_data", "EvalConfig": "evaluate", "run_eval": "evaluate",
         "aggregate": "leaderboard", "reproduce": "reproduction"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ogmbench' has no attribute {name!r}")
