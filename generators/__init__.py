"""Scene families and noise models (installed as ``ogmbench.generators``).

numpy and scipy only: nothing here knows of zarr, torch, click or pandas.
"""

from ._fields import class_correlation
from ._params import ConfigError, Model, Param
from .families import FAMILIES, check_rho, check_size, field, field_expected_phi, urban
from .noise import NOISE_MODELS, apply_noise, clutter, confusion, flip, gaussian, lidar, parse_noise_spec

__all__ = [
    "FAMILIES", "NOISE_MODELS", "ConfigError", "Model", "Param", "apply_noise",
    "check_rho", "check_size", "class_correlation", "clutter", "confusion", "field",
    "field_expected_phi", "flip", "gaussian", "lidar", "parse_noise_spec", "urban",
]
