"""Scene families and noise models (installed as ``ogmbench.generators``).

numpy and scipy only: nothing here knows of zarr, torch, click or pandas.
"""

from ._fields import class_correlation
from ._params import SEQUENCE_PARAMS, ParamError, Model, Param, check_frames
from .families import (FAMILIES, check_rho, check_size, field, field_expected_phi,
                       field_expected_temporal_phi, field_sequence, urban, urban_sequence)
from .motion import ego_poses, frame_transform, temporal_phi, warp, warps_to_last
from .noise import (NOISE_MODELS, apply_noise, apply_noise_sequence, clutter, confusion, flip,
                    gaussian, lidar)

__all__ = [
    "FAMILIES", "NOISE_MODELS", "SEQUENCE_PARAMS", "ParamError", "Model", "Param",
    "apply_noise", "apply_noise_sequence", "check_frames", "check_rho", "check_size",
    "class_correlation", "clutter", "confusion", "ego_poses", "field", "field_expected_phi",
    "field_expected_temporal_phi", "field_sequence", "flip", "frame_transform", "gaussian",
    "lidar", "temporal_phi", "urban", "urban_sequence", "warp", "warps_to_last",
]
