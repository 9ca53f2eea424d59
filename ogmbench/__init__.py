"""ogmbench: a benchmark for denoising multi-class occupancy grid maps.

Does a second class's map help as a prior when denoising the first, and by how much,
depending on how correlated the classes are?  ogmbench generates paired clean/noisy
class maps with a controlled inter-class correlation ``rho`` and evaluates estimators
on them.

``import ogmbench`` stays light: torch is imported only by what needs it
(:class:`ogmbench.TorchDataset`).
"""

__version__ = "0.1.0"

from .generators import ConfigError  # noqa: E402
from .store import Store, StoreError, open_store, verify_store  # noqa: E402
from .generate import GenerateConfig, generate, make_config, make_sample  # noqa: E402

__all__ = [
    "__version__", "ConfigError", "GenerateConfig", "Store", "StoreError", "TorchDataset",
    "generate", "make_config", "make_sample", "open_store", "verify_store",
]


def __getattr__(name):
    # Lazy: the torch adapter imports torch, which `import ogmbench` must not do.
    if name == "TorchDataset":
        from .torch_data import TorchDataset

        return TorchDataset
    raise AttributeError(f"module 'ogmbench' has no attribute {name!r}")
