"""The four reference noise estimators: ``unet``, ``concat``, ``film``, ``xattn``.

Each trains a :class:`~ogmbench.baselines.nets.models.NoiseUNet` to predict the noise in
the target map (MSE on the noise, AdamW, flips and rotations applied to all classes of a
sample together), evaluates on val every ``val_every`` steps and keeps the checkpoint
with the lowest val MSE of the estimate.  The ``plateau`` schedule of the default and
paper profiles trains until the convergence rule of :mod:`ogmbench.curves` holds at the
lowest of three learning rates, ``steps`` being only a cap.
The estimate is ``noisy_target - predicted_noise`` clamped to [0, 1].

Hyper-parameters come from a ``profile`` (``quick`` for tests, ``default`` for 2 CPU
cores, ``paper`` for one GPU); any of them can be overridden by keyword.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from ogmbench.api import Estimator, Hyper, converged, location, resolve_device, write_atomic

from .models import NoiseUNet, count_parameters

__all__ = ["PROFILES", "NoiseEstimator", "UNet", "Concat", "FiLM", "XAttn"]

PROFILES: dict[str, dict] = {
    # Seconds on a CPU: for tests and smoke runs.
    "quick": dict(width=8, depth=2, steps=30, batch_size=8, lr=3e-3, val_every=15,
                  schedule="cosine", precision="fp32"),
    # To convergence (the plateau schedule; steps is a cap): about 1700 steps, 3 minutes
    # for unet and 5 for concat at 32x32 on 2 CPU cores (benchmarks/README.md).
    "default": dict(width=16, depth=3, steps=4000, batch_size=16, lr=2e-3, val_every=100,
                    schedule="plateau", precision="fp32"),
    # Larger maps and models, meant for one GPU (where bf16 is always used).
    "paper": dict(width=32, depth=4, steps=40000, batch_size=32, lr=1e-3, val_every=500,
                  schedule="plateau", precision="fp32"),
}
# Learning-rate schedules.  plateau: lr until the val MSE plateaus (ogmbench.curves'
# rule), then lr / 5, then lr / 25; training stops at the plateau of the last, or at
# ``steps``.  cosine: annealing from lr to 0 over ``steps``; onecycle: a linear warm-up
# over the first 30% of the steps to lr, then cosine annealing.  The annealed ones end
# at a fixed budget, so their curves cannot show convergence (see ogmbench.curves).
SCHEDULES = ("plateau", "cosine", "onecycle")
PLATEAU_FACTOR = 0.2
PLATEAU_RATES = 3
# fp32, or bf16 autocast with channels_last.  On the CPU bf16 pays only where it has
# native bf16 instructions (AVX-512 BF16, AMX); on an AVX2-only CPU it was measured 13x
# slower (benchmarks/README.md), so the profiles keep fp32 there.  CUDA always uses bf16.
PRECISIONS = ("fp32", "bf16")


def _dihedral(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Apply one of the 8 flips/rotations per sample (k in 0..7) to (B, C, H, W)."""
    out = x.clone()
    for code in range(1, 8):
        sel = k == code
        if sel.any():
            y = torch.rot90(x[sel], code % 4, dims=(-2, -1))
            out[sel] = torch.flip(y, dims=(-1,)) if code >= 4 else y
    return out


def _curve(history: list[dict]) -> list[list[float]]:
    """``[[step, val_mse, lr], ...]`` (checkpoints from before rates were kept: no lr)."""
    return [[h["step"], h["val_mse"]] + ([h["lr"]] if "lr" in h else []) for h in history]


def _scheduler(opt, cfg):
    """The per-step learning-rate scheduler of an annealed schedule; None for plateau,
    whose rate the training loop lowers itself when the val curve plateaus."""
    if cfg["schedule"] == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg["lr"], total_steps=cfg["steps"], pct_start=0.3,
            anneal_strategy="cos", cycle_momentum=False)
    if cfg["schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["steps"])
    return None


class NoiseEstimator(Estimator):
    """Base of the learned estimators; subclasses set ``fusion``."""

    fusion = "none"
    version = "1"
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
                       curve=_curve(self.history_))
        return out

    # -- tensors ---------------------------------------------------------------------

    @staticmethod
    def _split(noisy: torch.Tensor, target: int):
        prior = [k for k in range(noisy.shape[1]) if k != target]
        t = noisy[:, target:target + 1]
        # No prior class at all: a zero channel keeps the architecture unchanged.
        p = noisy[:, prior] if prior else torch.zeros_like(t)
        return t, p

    def _forward(self, noisy: torch.Tensor, target: int) -> torch.Tensor:
        t, p = self._split(noisy, target)
        if self.device_.type == "cuda" or self.config()["precision"] == "bf16":
            with torch.autocast(self.device_.type, dtype=torch.bfloat16):
                noise = self.model_(t.contiguous(memory_format=torch.channels_last),
                                    p.contiguous(memory_format=torch.channels_last))
            return noise.float()
        return self.model_(t, p)

    # -- protocol --------------------------------------------------------------------

    def fit(self, data, *, target, seed=0, device="cpu"):
        cfg = self.config()
        self.device_ = torch.device(resolve_device(device))
        noisy, clean, _ = data.train.load()
        if len(noisy) == 0:
            raise ValueError(f"{type(self).__name__} needs train samples")
        prior_channels = max(1, noisy.shape[1] - 1)
        torch.manual_seed(seed)
        self.model_ = self.build(prior_channels).to(self.device_)
        checkpoint = self._checkpoint_path(data, target, seed, noisy.shape)
        if checkpoint is not None and checkpoint.is_file():
            state = torch.load(io.BytesIO(checkpoint.read_bytes()), map_location=self.device_,
                               weights_only=True)
            # One saved before learning rates were recorded cannot be judged by the
            # convergence rule: trained again (and the file, ours, replaced).
            if all("lr" in h for h in state["history"]):
                self.model_.load_state_dict(state["state_dict"])
                self.history_ = state["history"]
                self.model_.eval()
                self.checkpoint_ = {"path": str(checkpoint), "trained": False}
                return self
        self._train(cfg, noisy, clean, data, target, seed)
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            # Written whole: a unit rerun elsewhere (Dask) may write the same checkpoint at
            # the same time.
            buffer = io.BytesIO()
            torch.save({"state_dict": {k: v.cpu() for k, v in self.model_.state_dict().items()},
                        "history": self.history_, "config": cfg}, buffer)
            write_atomic(checkpoint, buffer.getvalue())
            self.checkpoint_ = {"path": str(checkpoint), "trained": True}
        return self

    def _checkpoint_path(self, data, target, seed, shape):
        cache_dir = getattr(data, "cache_dir", None)
        if cache_dir is None:
            return None
        key = json.dumps([getattr(data, "cache_key", ""), type(self).__name__, self.version,
                          self.config(), int(target), int(seed), list(shape[1:])], sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return location(cache_dir) / f"{type(self).__name__.lower()}-{digest}.pt"

    def _train(self, cfg, noisy, clean, data, target, seed):
        dev = self.device_
        x = torch.from_numpy(np.ascontiguousarray(noisy)).to(dev)
        y = torch.from_numpy(clean[:, target:target + 1].astype(np.float32)).to(dev)
        noise = x[:, target:target + 1] - y
        val_noisy, val_clean, _ = data.val.load()
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        opt = torch.optim.AdamW(self.model_.parameters(), lr=cfg["lr"],
                                weight_decay=cfg["weight_decay"])
        sched = _scheduler(opt, cfg)
        progress = getattr(data, "progress", None)
        best, self.history_ = (float("inf"), None), []
        rates_left = PLATEAU_RATES - 1
        start = time.perf_counter()
        for step in range(1, cfg["steps"] + 1):
            self.model_.train()
            idx = torch.randint(len(x), (cfg["batch_size"],), generator=gen)
            batch, target_noise = x[idx], noise[idx]
            if cfg["augment"]:
                # Rotating by 90 degrees swaps H and W: non-square maps get the four
                # shape-keeping transforms (identity, 180 degrees and the two flips).
                square = x.shape[-1] == x.shape[-2]
                k = (torch.randint(8, (len(idx),), generator=gen) if square
                     else 2 * torch.randint(4, (len(idx),), generator=gen)).to(dev)
                both = _dihedral(torch.cat([batch, target_noise], dim=1), k)
                batch, target_noise = both[:, :-1], both[:, -1:]
            loss = F.mse_loss(self._forward(batch, target), target_noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            lr = opt.param_groups[0]["lr"]  # the rate this step trains with
            opt.step()
            if sched is not None:
                sched.step()
            loss = loss.item()
            stop = False
            if step % cfg["val_every"] == 0 or step == cfg["steps"]:
                score = self._val_mse(val_noisy, val_clean, target) if len(val_noisy) else float(loss)
                self.history_.append({"step": step, "train_loss": float(loss), "val_mse": score,
                                      "lr": lr, "seconds": round(time.perf_counter() - start, 2)})
                if score < best[0]:
                    best = (score, copy.deepcopy(self.model_.state_dict()))
                # The report's own rule decides: lower the rate, or stop at the last one.
                if cfg["schedule"] == "plateau" and converged(_curve(self.history_)):
                    if rates_left == 0:
                        stop = True
                    else:
                        rates_left -= 1
                        for group in opt.param_groups:
                            group["lr"] = lr * PLATEAU_FACTOR
            if progress is not None:
                progress(cfg["steps"] if stop else step, cfg["steps"],
                         f"converged at step {step}" if stop else f"loss {float(loss):.4f}")
            if stop:
                break
        if best[1] is None:
            raise ValueError(f"training diverged: the val MSE was never finite "
                             f"(lr {cfg['lr']}, {cfg['steps']} steps)")
        self.model_.load_state_dict(best[1])
        self.model_.eval()

    def _val_mse(self, noisy, clean, target) -> float:
        estimate = self.predict(noisy, target)
        return float(np.mean((estimate - clean[:, target]) ** 2))

    @torch.no_grad()
    def predict(self, noisy, target):
        if self.model_ is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before predict")
        self.model_.eval()
        out = []
        for start in range(0, len(noisy), 64):
            x = torch.from_numpy(np.array(noisy[start:start + 64], dtype=np.float32)).to(self.device_)
            estimate = x[:, target] - self._forward(x, target)[:, 0]
            out.append(estimate.clamp(0.0, 1.0).float().cpu().numpy())
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


class XAttn(NoiseEstimator):
    """U-Net noise estimator; target features attend to prior features (cross-attention)."""

    fusion = "xattn"
    uses_prior = True
    version = "2"  # 2: a locality bias in the attention logits
    hyper = {**NoiseEstimator.hyper, "heads": Hyper(int, lo=1, hi=64),
             "attn_levels": Hyper(int, lo=0, hi=6)}

    def __init__(self, profile="default", width=None, depth=None, steps=None, batch_size=None,
                 lr=None, val_every=None, weight_decay=1e-4, augment=True, schedule=None,
                 precision=None, heads=4, attn_levels=2):
        self.heads = heads
        self.attn_levels = attn_levels
        super().__init__(profile=profile, width=width, depth=depth, steps=steps,
                         batch_size=batch_size, lr=lr, val_every=val_every,
                         weight_decay=weight_decay, augment=augment, schedule=schedule,
                         precision=precision)

    def _fusion_config(self) -> dict:
        return {"heads": self.heads, "attn_levels": self.attn_levels}

    def _fusion_checks(self, cfg) -> list:
        bottleneck = cfg["width"] * 2 ** cfg["depth"]
        return [(isinstance(cfg["heads"], int) and cfg["heads"] >= 1
                 and bottleneck % cfg["heads"] == 0,
                 f"heads must divide the bottleneck width {bottleneck}, got {cfg['heads']}")]
