"""Past frames pulled into the last frame's grid by the known ego motion (imports torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["warp_frames"]


def warp_frames(frames: torch.Tensor, warps: torch.Tensor):
    """Frames pulled into the last frame's grid, and where they saw.

    Parameters
    ----------
    frames : tensor (B, K, H, W)
    warps : tensor (B, K, 2, 3)
        ``[matrix | offset]`` per frame (the protocol's warps): the last frame's cell at
        index o lies at ``matrix @ o + offset`` in the frame's grid.

    Returns
    -------
    (warped, valid) : tensors (B, K, H, W)
        Bilinear samples (``grid_sample``, edges repeated), and 1.0 where the cell's
        centre fell within half a cell of the frame's grid, else 0.0 (and warped 0.0).
    """
    b, k, h, w = frames.shape
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=frames.device),
                                torch.arange(w, dtype=torch.float64, device=frames.device),
                                indexing="ij")
    index = torch.stack([rows, cols], dim=-1).reshape(1, 1, h * w, 2)
    warps = warps.to(device=frames.device, dtype=torch.float64)
    src = index @ warps[..., :2].transpose(-1, -2) + warps[..., None, :, 2]  # (B, K, HW, 2)
    size = torch.tensor([h, w], dtype=torch.float64, device=frames.device)
    valid = ((src > -0.5) & (src < size - 0.5)).all(dim=-1)
    # grid_sample's normalised coordinates, x first (align_corners: -1 and 1 are the
    # centres of the first and last cells).
    scale = 2.0 / (size - 1).clamp(min=1)
    grid = (src * scale - 1.0).flip(-1).reshape(b * k, h, w, 2).to(frames.dtype)
    warped = F.grid_sample(frames.reshape(b * k, 1, h, w), grid, mode="bilinear",
                           padding_mode="border", align_corners=True).reshape(b, k, h, w)
    valid = valid.reshape(b, k, h, w).to(frames.dtype)
    return warped * valid, valid
