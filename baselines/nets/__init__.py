"""Learned noise estimators (imports torch): one U-Net, four ways for the prior to enter,
and the same with the temporal prior (the target's past frames) alone or with the classes."""

from .estimators import (
    PROFILES, Concat, ConcatBoth, ConcatTime, FiLM, FiLMBoth, FiLMTime, NoiseEstimator, UNet,
    XAttn, XAttnBoth, XAttnTime,
)
from .models import FUSIONS, NoiseUNet, count_parameters
from .warp import warp_frames

__all__ = ["PROFILES", "FUSIONS", "NoiseEstimator", "NoiseUNet", "UNet", "Concat", "FiLM",
           "XAttn", "ConcatTime", "FiLMTime", "XAttnTime", "ConcatBoth", "FiLMBoth", "XAttnBoth",
           "warp_frames", "count_parameters"]
