"""Learned noise estimators (imports torch): one U-Net, four ways for the prior to enter."""

from .estimators import PROFILES, Concat, FiLM, NoiseEstimator, UNet, XAttn
from .models import FUSIONS, NoiseUNet, count_parameters

__all__ = ["PROFILES", "FUSIONS", "NoiseEstimator", "NoiseUNet", "UNet", "Concat", "FiLM",
           "XAttn", "count_parameters"]
