"""Scene families and noise models (installed as ``ogmbench.generators``).

numpy and scipy only: nothing here knows of zarr, torch, click or pandas.
"""

from ._fields import class_correlation
from ._params import ParamError, Model, Param
from .families import FAMILIES, check_rho, check_size, field, field_expected_phi, urban
from .noise import NOISE_MODELS, apply_noise, clutter, confusion, flip, gaussian, lidar

__all__ = [
    "FAMILIES", "NOISE_MODELS", "ParamError", "Model", "Param", "apply_noise",
    "check_rho", "check_size", "class_correlation", "clutter", "confusion", "field",
    "field_expected_phi", "flip", "gaussian", "lidar", "urban",
]
