"""Scene families and noise models (installed as ``ogmbench.generators``).

numpy and scipy (and numba, imported only by the sampled ``field`` posterior): nothing
here knows of zarr, torch, click or pandas, nor of the core but the leaf
:mod:`ogmbench.params` (the parameter declaration shared with the
estimators).  Each family and each noise model declares itself in its own module (a
:class:`Model`); :data:`FAMILIES` and :data:`NOISE_MODELS` register them.
"""

from ._fields import class_correlation
from ._params import SEQUENCE_PARAMS, Calibration, ParamError, Model, Param, check_frames
from .families import (DEFAULT_FAMILY, FAMILIES, check_rho, check_size, field,
                       field_expected_phi, field_expected_temporal_phi, field_sequence, urban,
                       urban_sequence)
from .motion import ego_poses, frame_transform, temporal_phi, warp, warps_to_last
from .noise import NOISE_MODELS, apply_noise, apply_noise_sequence
from .noise.camera import camera
from .noise.clutter import clutter
from .noise.confusion import confusion
from .noise.flip import flip
from .noise.gaussian import gaussian
from .noise.lidar import lidar
from .urban import NUSCENES_FRONT

__all__ = [
    "DEFAULT_FAMILY", "FAMILIES", "NOISE_MODELS", "NUSCENES_FRONT", "SEQUENCE_PARAMS",
    "Calibration", "ParamError", "Model", "Param",
    "apply_noise", "apply_noise_sequence", "camera", "check_frames", "check_rho", "check_size",
    "class_correlation", "clutter", "confusion", "ego_poses", "field", "field_expected_phi",
    "field_expected_temporal_phi", "field_sequence", "flip", "frame_transform", "gaussian",
    "lidar", "temporal_phi", "urban", "urban_sequence", "warp", "warps_to_last",
]
