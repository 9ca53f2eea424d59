"""ogmbench: a benchmark for denoising multi-class occupancy grid maps.

Does a second class's map help as a prior when denoising the first, and by how much,
depending on how correlated the classes are?  ogmbench generates paired clean/noisy
class maps with a controlled inter-class correlation ``rho`` and evaluates estimators
on them.

This is the package face: it re-exports the public names and no room imports it.
``import ogmbench`` stays light: torch is imported only by what needs it
(:class:`ogmbench.TorchDataset`).
"""

from ._version import __version__
from .config import GenerateConfig, make_config
from .errors import ConfigError, RunFailure, StoreError, UsageError
from .generate import generate, make_sample
from .store import Store, open_store, verify_store

__all__ = [
    "__version__", "ConfigError", "GenerateConfig", "RunFailure", "Store", "StoreError",
    "TorchDataset", "UsageError", "generate", "make_config", "make_sample", "open_store",
    "verify_store",
]


def __getattr__(name):
    # Lazy: the torch adapter imports torch, which `import ogmbench` must not do.
    if name == "TorchDataset":
        from .torch_data import TorchDataset

        return TorchDataset
    raise AttributeError(f"module 'ogmbench' has no attribute {name!r}")
