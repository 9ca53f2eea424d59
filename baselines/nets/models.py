"""One U-Net noise estimator; the prior classes enter by concatenation, FiLM or cross-attention.

``NoiseUNet(fusion=...)`` predicts the noise in the target map.  The four variants
share the target encoder, the decoder and (for the three prior variants) a prior
encoder of the same shape; they differ only in the fusion modules applied to the target
encoder's features at every scale:

* ``none``   no prior (the ablation);
* ``concat`` target and prior features concatenated along channels, fused by a 1x1
  convolution added to the target features (residual, initialised near zero);
* ``film``   the prior features produce per-channel scale and shift (gamma, beta) that
  modulate the target features, initialised near identity;
* ``xattn``  multi-head cross-attention, target features as queries, prior features as
  keys and values, with 2-D sinusoidal positional encodings, a fixed per-head
  locality bias (ALiBi-like slopes) and a residual connection, at the bottleneck and one level up
  (``torch.nn.functional.scaled_dot_product_attention``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NoiseUNet", "FUSIONS", "count_parameters"]

FUSIONS = ("none", "concat", "film", "xattn")


def _norm(channels: int) -> nn.GroupNorm:
    # Per-sample normalisation: a sample's output never depends on its batch.
    return nn.GroupNorm(min(8, channels), channels)


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1), _norm(cout), nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1), _norm(cout), nn.SiLU(),
        )


class Encoder(nn.Module):
    """Features at ``depth + 1`` scales: width * 2**level channels, halved resolution per level."""

    def __init__(self, cin: int, width: int, depth: int):
        super().__init__()
        self.stem = ConvBlock(cin, width)
        self.down = nn.ModuleList()
        for level in range(depth):
            c = width * 2**level
            self.down.append(nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
                                           ConvBlock(2 * c, 2 * c)))

    def forward(self, x):
        feats = [self.stem(x)]
        for block in self.down:
            feats.append(block(feats[-1]))
        return feats


class ConcatFusion(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.mix = nn.Conv2d(2 * c, c, 1)
        # Residual and near identity at the start, like the other fusions: every prior
        # variant begins as the no-prior U-Net and learns how much of the prior to take.
        nn.init.normal_(self.mix.weight, std=1e-3)
        nn.init.zeros_(self.mix.bias)

    def forward(self, h, p):
        return h + self.mix(torch.cat([h, p], dim=1))


class FiLMFusion(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.to_gamma_beta = nn.Conv2d(c, 2 * c, 1)
        # Near identity at the start (gamma ~ 0, beta ~ 0), but not exactly: gradients
        # must reach the prior encoder from the first step.
        nn.init.normal_(self.to_gamma_beta.weight, std=1e-3)
        nn.init.zeros_(self.to_gamma_beta.bias)

    def forward(self, h, p):
        gamma, beta = self.to_gamma_beta(p).chunk(2, dim=1)
        return h * (1 + gamma) + beta


def positional_encoding(channels: int, height: int, width: int, device, dtype) -> torch.Tensor:
    """2-D sinusoidal encoding (channels, H, W): half the channels for y, half for x."""
    quarter = channels // 4
    freq = torch.exp(torch.arange(quarter, device=device, dtype=torch.float32)
                     * (-math.log(10000.0) / max(quarter, 1)))
    y = torch.arange(height, device=device, dtype=torch.float32)[:, None] * freq
    x = torch.arange(width, device=device, dtype=torch.float32)[:, None] * freq
    pe = torch.zeros(channels, height, width, device=device)
    pe[0:quarter] = torch.sin(y).T[:, :, None]
    pe[quarter:2 * quarter] = torch.cos(y).T[:, :, None]
    pe[2 * quarter:3 * quarter] = torch.sin(x).T[:, None, :]
    pe[3 * quarter:4 * quarter] = torch.cos(x).T[:, None, :]
    return pe.to(dtype)


class CrossAttention(nn.Module):
    def __init__(self, c: int, heads: int):
        super().__init__()
        if c % heads:
            raise ValueError(f"{c} channels do not split into {heads} heads")
        self.heads = heads
        self.norm_q, self.norm_kv = _norm(c), _norm(c)
        self.q = nn.Linear(c, c)
        self.k = nn.Linear(c, c)
        self.v = nn.Linear(c, c)
        self.out = nn.Linear(c, c)
        nn.init.normal_(self.out.weight, std=1e-3)  # near-identity residual at the start
        nn.init.zeros_(self.out.bias)
        # A fixed per-head locality bias on the logits, -slope_h * distance^2 (in cells of
        # this level), with slopes 1, 1/4, 1/16, ... as ALiBi does in 1-D: some heads look
        # at the same location, where a correlated prior is informative, others further.
        # Without it, random query/key projections attend everywhere alike and the
        # prior's per-location information is averaged away; fixed slopes (not learned)
        # keep the fast attention kernels usable.
        self.register_buffer("slopes", 4.0 ** -torch.arange(heads, dtype=torch.float32),
                             persistent=False)
        self._bias_cache: dict = {}

    def _bias(self, height, width, device, dtype):
        key = (height, width, device, dtype)
        if key not in self._bias_cache:
            ys, xs = torch.meshgrid(torch.arange(height, device=device),
                                    torch.arange(width, device=device), indexing="ij")
            pos = torch.stack([ys.flatten(), xs.flatten()], dim=1).float()
            dist2 = torch.cdist(pos, pos).pow(2)  # (N, N)
            self._bias_cache[key] = (-self.slopes[:, None, None] * dist2).to(dtype)[None]
        return self._bias_cache[key]  # (1, heads, N, N)

    def forward(self, h, p):
        b, c, height, width = h.shape
        pe = positional_encoding(c, height, width, h.device, h.dtype)
        q_in = (self.norm_q(h) + pe).flatten(2).transpose(1, 2)  # (B, N, C)
        kv = self.norm_kv(p)
        k_in = (kv + pe).flatten(2).transpose(1, 2)
        v_in = kv.flatten(2).transpose(1, 2)

        def split(t):
            return t.view(b, -1, self.heads, c // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            split(self.q(q_in)), split(self.k(k_in)), split(self.v(v_in)),
            attn_mask=self._bias(height, width, h.device, q_in.dtype))
        attended = attended.transpose(1, 2).reshape(b, -1, c)
        return h + self.out(attended).transpose(1, 2).reshape(b, c, height, width)


class NoiseUNet(nn.Module):
    """U-Net predicting the noise of the target map, with an optional prior branch.

    Parameters
    ----------
    prior_channels : int
        Number of prior classes (ignored for ``fusion="none"``).
    fusion : {"none", "concat", "film", "xattn"}
    width : int
        Channels at full resolution (doubled per level).
    depth : int
        Down-sampling steps; inputs are padded to a multiple of 2**depth.
    heads : int
        Attention heads (``xattn``).
    attn_levels : int
        Levels with cross-attention, counted from the bottleneck up (``xattn``).
    """

    def __init__(self, prior_channels: int = 1, fusion: str = "none", width: int = 16,
                 depth: int = 3, heads: int = 4, attn_levels: int = 2):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.fusion, self.depth = fusion, depth
        self.target_encoder = Encoder(1, width, depth)
        channels = [width * 2**level for level in range(depth + 1)]
        if fusion != "none":
            self.prior_encoder = Encoder(max(1, prior_channels), width, depth)
            if fusion == "concat":
                self.fuse = nn.ModuleList(ConcatFusion(c) for c in channels)
            elif fusion == "film":
                self.fuse = nn.ModuleList(FiLMFusion(c) for c in channels)
            else:
                levels = range(depth, max(-1, depth - attn_levels), -1)
                self.fuse = nn.ModuleDict({str(level): CrossAttention(channels[level], heads)
                                           for level in levels})
        self.up = nn.ModuleList()
        self.decode = nn.ModuleList()
        for level in range(depth - 1, -1, -1):
            c = channels[level]
            self.up.append(nn.ConvTranspose2d(2 * c, c, 2, stride=2))
            self.decode.append(ConvBlock(2 * c, c))
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, target: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise (B, 1, H, W) of ``target`` (B, 1, H, W) given ``prior`` (B, P, H, W)."""
        height, width = target.shape[-2:]
        multiple = 2**self.depth
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            pad = (0, pad_w, 0, pad_h)
            target = F.pad(target, pad, mode="replicate")
            prior = None if prior is None else F.pad(prior, pad, mode="replicate")
        feats = self.target_encoder(target)
        if self.fusion != "none":
            prior_feats = self.prior_encoder(prior)
            if self.fusion == "xattn":
                for key, module in self.fuse.items():
                    level = int(key)
                    feats[level] = module(feats[level], prior_feats[level])
            else:
                feats = [module(h, p) for module, h, p in zip(self.fuse, feats, prior_feats)]
        h = feats[-1]
        for up, decode, skip in zip(self.up, self.decode, reversed(feats[:-1])):
            h = decode(torch.cat([up(h), skip], dim=1))
        return self.head(h)[..., :height, :width]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
