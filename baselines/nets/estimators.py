"""The four reference noise estimators: ``unet``, ``concat``, ``film``, ``xattn``.

Each trains a :class:`~ogmbench.baselines.nets.models.NoiseUNet` to predict the noise in
the target map (MSE on the noise, AdamW, flips and rotations applied to all classes of a
sample together), evaluates on val every ``val_every`` steps and keeps the checkpoint
with the lowest val MSE of the estimate.  The ``plateau`` schedule of the default and
paper profiles trains until the convergence rule of :mod:`ogmbench.curves` holds at the
lowest of three learning rates, ``steps`` being only a cap.
The estimate is ``noisy_target - predicted_noise`` clamped to [0, 1].

In a store of sequences the target is the last frame.  ``concat-time``, ``film-time`` and
``xattn-time`` read the target's past frames instead of the other classes (the temporal
prior), ``concat-both``, ``film-both`` and ``xattn-both`` read both: the past frames are
warped into the last frame's grid by the known ego motion
(``torch.nn.functional.grid_sample``, bilinear, with a channel per frame marking the
cells that frame saw) and enter the prior branch as channels.  With ``warp=false`` they
enter as they are, and the network must learn the motion.

Hyper-parameters come from a ``profile`` (``quick`` for tests, ``default`` for 2 CPU
cores, ``paper`` for one GPU); any of them can be overridden by keyword.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import torch

from ogmbench.api import (Estimator, Hyper, location, read_regular, resolve_device, torch_seed,
                          write_atomic)

from . import checkpoints
from .models import NoiseUNet, count_parameters
from .training import PRECISIONS, SCHEDULES, curve, train
from .warp import warp_frames

__all__ = ["PROFILES", "NoiseEstimator", "UNet", "Concat", "FiLM", "XAttn", "ConcatTime",
           "FiLMTime", "XAttnTime", "ConcatBoth", "FiLMBoth", "XAttnBoth"]

PROFILES: dict[str, dict] = {
    # Seconds on a CPU: for tests and smoke runs.
    "quick": dict(width=8, depth=2, steps=30, batch_size=8, lr=3e-3, val_every=15,
                  schedule="cosine", precision="fp32"),
    # To convergence (the plateau schedule; steps is a cap): at 32x32 on the quiet 2-core
    # EPYC about 2000 steps and 80 s for unet, 2700 and 190 s for concat.  val every 50
    # steps (40 val samples cost under 1% of training): each rate is judged after 250
    # steps, not 500; with the early stop past the best, unet and concat stopped 13-36%
    # sooner than at every 100 without it, at a test MSE lower or within 0.2%
    # (benchmarks/README.md).
    "default": dict(width=16, depth=3, steps=4000, batch_size=16, lr=2e-3, val_every=50,
                    schedule="plateau", precision="fp32"),
    # Larger maps and models, meant for one GPU (where bf16 is always used).
    "paper": dict(width=32, depth=4, steps=40000, batch_size=32, lr=1e-3, val_every=500,
                  schedule="plateau", precision="fp32"),
}

class NoiseEstimator(Estimator):
    """Base of the learned estimators; subclasses set ``fusion``."""

    fusion = "none"
    version = "2"  # 2: the plateau schedule stops when a lowered rate settles past the best
    stochastic = True
    # None takes the profile's value.  Steps and batch are capped far above any profile so
    # that a typo cannot ask for days of training or gigabytes per batch.
    hyper = {
        "profile": Hyper(str, choices=tuple(PROFILES)),
        "width": Hyper(int, lo=8, hi=256, none_ok=True),
        "depth": Hyper(int, lo=1, hi=6, none_ok=True),
        "steps": Hyper(int, lo=1, hi=10_000_000, none_ok=True),
        "batch_size": Hyper(int, lo=1, hi=4096, none_ok=True),
        "lr": Hyper(float, lo=0, hi=1, lo_open=True, none_ok=True),
        "val_every": Hyper(int, lo=1, none_ok=True),
        "weight_decay": Hyper(float, lo=0, hi=1),
        "augment": Hyper(bool),
        "schedule": Hyper(str, choices=SCHEDULES, none_ok=True),
        "precision": Hyper(str, choices=PRECISIONS, none_ok=True),
    }

    def __init__(self, profile="default", width=None, depth=None, steps=None, batch_size=None,
                 lr=None, val_every=None, weight_decay=1e-4, augment=True, schedule=None,
                 precision=None):
        self.profile = profile
        self.width = width
        self.depth = depth
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.val_every = val_every
        self.weight_decay = weight_decay
        self.augment = augment
        self.schedule = schedule
        self.precision = precision
        self.config()  # validate now: bad settings are a usage error, not a failed run
        self.model_ = None
        self.device_ = torch.device("cpu")
        self.history_: list[dict] = []
        self.checkpoint_: dict = {}

    # -- configuration ---------------------------------------------------------------

    def config(self) -> dict:
        """The resolved training configuration (profile values, then overrides)."""
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        cfg = dict(PROFILES[self.profile])
        for key in cfg:
            if getattr(self, key) is not None:
                cfg[key] = getattr(self, key)
        cfg.update(weight_decay=self.weight_decay, augment=bool(self.augment), fusion=self.fusion)
        cfg.update(self._fusion_config())
        checks = [
            (isinstance(cfg["width"], int) and cfg["width"] >= 8 and cfg["width"] % 8 == 0,
             f"width must be a multiple of 8 (GroupNorm groups), got {cfg['width']}"),
            (isinstance(cfg["depth"], int) and 1 <= cfg["depth"] <= 6,
             f"depth must be an integer in [1, 6], got {cfg['depth']}"),
            (isinstance(cfg["steps"], int) and cfg["steps"] >= 1,
             f"steps must be an integer >= 1, got {cfg['steps']}"),
            (isinstance(cfg["batch_size"], int) and cfg["batch_size"] >= 1,
             f"batch_size must be an integer >= 1, got {cfg['batch_size']}"),
            (isinstance(cfg["val_every"], int) and cfg["val_every"] >= 1,
             f"val_every must be an integer >= 1, got {cfg['val_every']}"),
            (isinstance(cfg["lr"], (int, float)) and 0 < cfg["lr"] <= 1,
             f"lr must be in (0, 1], got {cfg['lr']}"),
            (cfg["schedule"] in SCHEDULES,
             f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg['schedule']!r}"),
            (cfg["precision"] in PRECISIONS,
             f"precision must be one of {', '.join(PRECISIONS)}, got {cfg['precision']!r}"),
        ] + self._fusion_checks(cfg)
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return cfg

    def build(self, prior_channels: int) -> NoiseUNet:
        cfg = self.config()
        return NoiseUNet(prior_channels=prior_channels, fusion=self.fusion, width=cfg["width"],
                         depth=cfg["depth"], **self._fusion_config())

    def _fusion_config(self) -> dict:
        """Settings of the fusion itself (cross-attention's heads and levels)."""
        return {}

    def _fusion_checks(self, cfg) -> list:
        return []

    def describe(self) -> dict:
        model = self.model_ if self.model_ is not None else self.build(1)
        out = {"parameters": count_parameters(model), "config": self.config(),
               "device": self.device_.type}
        if self.checkpoint_:
            out["checkpoint"] = self.checkpoint_
        if self.history_:
            best = min(self.history_, key=lambda h: h["val_mse"])
            out.update(best_step=best["step"], best_val_mse=best["val_mse"],
                       trained_steps=self.history_[-1]["step"],
                       curve=curve(self.history_))
        return out

    # -- tensors ---------------------------------------------------------------------

    def _inputs(self, noisy: np.ndarray, target: int, warps=None) -> torch.Tensor:
        """The network's input (B, 1 + P, H, W) on the device: the target (of the last
        frame), then the prior channels: the other classes (all of them for single maps;
        at the last frame if the estimator uses them), and the past frames of the target
        if it reads them (warped, with their seen-masks, or as they are)."""
        x = torch.from_numpy(np.array(noisy, dtype=np.float32)).to(self.device_)
        prior = [k for k in range(x.shape[-3]) if k != target]
        if x.ndim == 4:
            if self.uses_past:
                raise ValueError(f"{type(self).__name__} reads past frames: it needs "
                                 "sequences (B, T, C, H, W) and their warps")
            return torch.cat([x[:, target:target + 1], x[:, prior]], dim=1)
        parts = [x[:, -1, target:target + 1]]
        if self.uses_prior:
            parts.append(x[:, -1, prior])
        if self.uses_past:
            past = x[:, :-1, target]
            if self.warp:
                if warps is None:
                    raise ValueError(f"{type(self).__name__} warps past frames: give warps")
                warps = torch.from_numpy(np.array(warps[:, :-1], dtype=np.float64))
                warped, valid = warp_frames(past, warps)
                parts += [warped, valid]
            else:
                parts.append(past)
        return torch.cat(parts, dim=1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted noise (B, 1, H, W) from inputs made by :meth:`_inputs`."""
        t = x[:, :1]
        # No prior channel at all: a zero channel keeps the architecture unchanged.
        p = x[:, 1:] if x.shape[1] > 1 else torch.zeros_like(t)
        if self.device_.type == "cuda" or self.config()["precision"] == "bf16":
            with torch.autocast(self.device_.type, dtype=torch.bfloat16):
                noise = self.model_(t.contiguous(memory_format=torch.channels_last),
                                    p.contiguous(memory_format=torch.channels_last))
            return noise.float()
        return self.model_(t, p)

    def _stacked(self, split, target: int) -> tuple[torch.Tensor, np.ndarray]:
        """A whole split's inputs (warped once, not at every step) and clean targets."""
        noisy, clean, _ = split.load()
        warps = getattr(split, "warps", None)
        x = [self._inputs(noisy[i:i + 64], target, None if warps is None else warps[i:i + 64])
             for i in range(0, len(noisy), 64)]
        shape = (0, 1, *noisy.shape[-2:])
        return (torch.cat(x) if x else torch.zeros(shape, device=self.device_)), clean

    # -- protocol --------------------------------------------------------------------

    def fit(self, data, *, target, seed=0, device="cpu"):
        cfg = self.config()
        self.device_ = torch.device(resolve_device(device))
        x, clean = self._stacked(data.train, target)
        if len(x) == 0:
            raise ValueError(f"{type(self).__name__} needs train samples")
        prior_channels = max(1, x.shape[1] - 1)
        torch.manual_seed(seed)
        self.model_ = self.build(prior_channels).to(self.device_)
        checkpoint, key = self._checkpoint_path(data, target, seed, (0, *data.train.shape))
        replace, refused = True, ""
        there = checkpoints.occupant(checkpoint) if checkpoint is not None else None
        if there == "other":
            replace, refused = False, "not a regular file (a folder, a pipe or a link)"
            warnings.warn(f"checkpoint {checkpoint}: {refused}; trained again (it is kept)",
                          stacklevel=2)
        elif there == "file":
            state, refused, replace = checkpoints.load(read_regular(checkpoint), key,
                                                       self.device_)
            # One saved before learning rates were recorded cannot be judged by the
            # convergence rule: trained again (and the file, ours, replaced).
            if state is not None and all("lr" in h for h in state["history"]):
                self.model_.load_state_dict(state["state_dict"])
                self.history_ = state["history"]
                self.model_.eval()
                self.checkpoint_ = {"path": str(checkpoint), "trained": False}
                return self
            refused = refused or "saved before learning rates were recorded"
            warnings.warn(f"checkpoint {checkpoint}: {refused}; trained again"
                          + ("" if replace else " (the file is kept)"), stacklevel=2)
        self._train(cfg, x, clean, data, target, seed)
        if checkpoint is not None:
            self.checkpoint_ = {"path": str(checkpoint), "trained": True,
                                **({"refused": refused} if refused else {})}
            if replace:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                # Written whole: a unit rerun elsewhere (Dask) may write the same checkpoint
                # at the same time.
                state = {"state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()},
                         "history": self.history_, "config": cfg}
                write_atomic(checkpoint, checkpoints.dump(state, key))
        return self

    def _checkpoint_path(self, data, target, seed, shape):
        cache_dir = getattr(data, "cache_dir", None)
        if cache_dir is None:
            return None, ""
        key = json.dumps([getattr(data, "cache_key", ""), type(self).__name__, self.version,
                          self.config(), int(target), int(seed), list(shape[1:])], sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return location(cache_dir) / f"{type(self).__name__.lower()}-{digest}.pt", key

    def _train(self, cfg, x, clean, data, target, seed):
        y = torch.from_numpy(clean[:, target:target + 1].astype(np.float32)).to(self.device_)
        val_x, val_clean = self._stacked(data.val, target)
        val_mse = (lambda: self._val_mse(val_x, val_clean, target)) if len(val_x) else None
        gen = torch.Generator().manual_seed(torch_seed(seed))
        self.history_ = train(self.model_, self._forward, val_mse, cfg, x, x[:, :1] - y, gen,
                              getattr(data, "progress", None))

    def _val_mse(self, x, clean, target) -> float:
        estimate = self._estimate(x)
        return float(np.mean((estimate - clean[:, target]) ** 2))

    @torch.no_grad()
    def _estimate(self, x: torch.Tensor) -> np.ndarray:
        self.model_.eval()
        out = []
        for start in range(0, len(x), 64):
            batch = x[start:start + 64]
            estimate = batch[:, 0] - self._forward(batch)[:, 0]
            out.append(estimate.clamp(0.0, 1.0).float().cpu().numpy())
        h, w = x.shape[-2:]
        return np.concatenate(out) if out else np.empty((0, h, w), np.float32)

    @torch.no_grad()
    def predict(self, noisy, target, warps=None):
        if self.model_ is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before predict")
        out = [self._estimate(self._inputs(noisy[i:i + 64], target,
                                           None if warps is None else warps[i:i + 64]))
               for i in range(0, len(noisy), 64)]
        h, w = noisy.shape[-2:]
        return np.concatenate(out) if out else np.empty((0, h, w), np.float32)


class UNet(NoiseEstimator):
    """U-Net noise estimator on the target alone (the no-prior ablation)."""

    fusion = "none"
    uses_prior = False


class Concat(NoiseEstimator):
    """U-Net noise estimator; prior features concatenated and fused by 1x1 convolutions."""

    fusion = "concat"
    uses_prior = True


class FiLM(NoiseEstimator):
    """U-Net noise estimator; prior features modulate the target's by FiLM (gamma, beta)."""

    fusion = "film"
    uses_prior = True


class _Attention:
    """Cross-attention's own settings (heads, levels), shared by the xattn estimators."""

    fusion = "xattn"
    version = "3"  # 2: a locality bias in the attention logits; 3: NoiseEstimator's 2
    hyper = {**NoiseEstimator.hyper, "heads": Hyper(int, lo=1, hi=64),
             "attn_levels": Hyper(int, lo=0, hi=6)}

    def _fusion_config(self) -> dict:
        return {"heads": self.heads, "attn_levels": self.attn_levels}

    def _fusion_checks(self, cfg) -> list:
        bottleneck = cfg["width"] * 2 ** cfg["depth"]
        return [(isinstance(cfg["heads"], int) and cfg["heads"] >= 1
                 and bottleneck % cfg["heads"] == 0,
                 f"heads must divide the bottleneck width {bottleneck}, got {cfg['heads']}")]


class XAttn(_Attention, NoiseEstimator):
    """U-Net noise estimator; target features attend to prior features (cross-attention)."""

    uses_prior = True

    def __init__(self, profile="default", width=None, depth=None, steps=None, batch_size=None,
                 lr=None, val_every=None, weight_decay=1e-4, augment=True, schedule=None,
                 precision=None, heads=4, attn_levels=2):
        self.heads = heads
        self.attn_levels = attn_levels
        super().__init__(profile=profile, width=width, depth=depth, steps=steps,
                         batch_size=batch_size, lr=lr, val_every=val_every,
                         weight_decay=weight_decay, augment=augment, schedule=schedule,
                         precision=precision)


# -- the temporal prior (stores of sequences) -----------------------------------------

class _Past(NoiseEstimator):
    """Base of the estimators that read the target's past frames (``warp``: aligned by
    the ego motion first, or not)."""

    uses_past = True
    hyper = {**NoiseEstimator.hyper, "warp": Hyper(bool)}

    def __init__(self, profile="default", width=None, depth=None, steps=None, batch_size=None,
                 lr=None, val_every=None, weight_decay=1e-4, augment=True, schedule=None,
                 precision=None, warp=True):
        self.warp = warp
        super().__init__(profile=profile, width=width, depth=depth, steps=steps,
                         batch_size=batch_size, lr=lr, val_every=val_every,
                         weight_decay=weight_decay, augment=augment, schedule=schedule,
                         precision=precision)

    def config(self) -> dict:
        return {**super().config(), "warp": bool(self.warp)}


class _PastAttention(_Attention, _Past):
    hyper = {**_Past.hyper, **_Attention.hyper}

    def __init__(self, profile="default", width=None, depth=None, steps=None, batch_size=None,
                 lr=None, val_every=None, weight_decay=1e-4, augment=True, schedule=None,
                 precision=None, warp=True, heads=4, attn_levels=2):
        self.heads = heads
        self.attn_levels = attn_levels
        super().__init__(profile=profile, width=width, depth=depth, steps=steps,
                         batch_size=batch_size, lr=lr, val_every=val_every,
                         weight_decay=weight_decay, augment=augment, schedule=schedule,
                         precision=precision, warp=warp)


class ConcatTime(_Past):
    """``concat`` with the target's past frames as its prior (not the other classes)."""

    fusion = "concat"


class FiLMTime(_Past):
    """``film`` with the target's past frames as its prior (not the other classes)."""

    fusion = "film"


class XAttnTime(_PastAttention):
    """``xattn`` with the target's past frames as its prior (not the other classes)."""


class ConcatBoth(_Past):
    """``concat`` with both priors: the other classes and the target's past frames."""

    fusion = "concat"
    uses_prior = True


class FiLMBoth(_Past):
    """``film`` with both priors: the other classes and the target's past frames."""

    fusion = "film"
    uses_prior = True


class XAttnBoth(_PastAttention):
    """``xattn`` with both priors: the other classes and the target's past frames."""

    uses_prior = True
