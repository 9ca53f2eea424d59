"""A learned estimator for ogmbench, end to end (docs/SUBMITTING.md, "A torch estimator").

A small residual CNN that predicts the noise in the target map from all classes (so it
uses the prior).  What it shows:

* what ``fit`` receives: ``data.train`` and ``data.val`` (``split.load()`` gives
  ``noisy`` (n, C, H, W) float32, ``clean`` (n, C, H, W) uint8 and ``rho``), nothing of
  the test split;
* the device: ``resolve_device(device)`` ("auto" takes a GPU where there is one);
* seeds: the same ``seed`` gives the same weights (torch's generator seeded from it);
* the learning curve: ``describe()["curve"]``, ``[step, val_mse, lr]`` per evaluation,
  which eval judges by ogmbench's convergence rule, and training stopped by that rule;
* checkpoints: written whole to ``data.cache_dir`` (the one folder a plugin may write)
  under a name made from ``data.cache_key``, and reused by the next run.

Run its checks with ``check_estimator(TinyCNN, params={"steps": 40})``, and eval it with
``ogmbench eval STORE --estimator docs/torch_estimator.py:TinyCNN``.
"""

import hashlib
import io

import numpy as np
import torch
from torch import nn

from ogmbench.api import Estimator, Hyper, converged, location, resolve_device, write_atomic


class TinyCNN(Estimator):
    """Residual CNN noise estimator: estimate = clip(noisy target - predicted noise)."""

    name = "tinycnn"
    version = "1"
    uses_prior = True  # it reads the other classes: the prior controls and twins apply
    stochastic = True  # its numbers depend on the seed: eval --train-seeds N reports the spread
    hyper = {"steps": Hyper(int, lo=1, hi=100_000), "width": Hyper(int, lo=4, hi=128),
             "lr": Hyper(float, lo=0, hi=1, lo_open=True)}

    def __init__(self, steps=400, width=16, lr=3e-3):
        self.steps, self.width, self.lr = steps, width, lr

    def _net(self, classes: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(classes, self.width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(self.width, self.width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(self.width, 1, 3, padding=1))

    def fit(self, data, *, target, seed=0, device="cpu"):
        self.device_ = torch.device(resolve_device(device))
        noisy, clean, _ = data.train.load()
        x = torch.from_numpy(self._stack(noisy, target)).to(self.device_)
        noise = x[:, :1] - torch.from_numpy(clean[:, target:target + 1].astype(np.float32)).to(x)
        torch.manual_seed(seed)  # the same seed, the same weights
        self.net_ = self._net(x.shape[1]).to(self.device_)
        checkpoint = self._checkpoint(data, target, seed, x.shape[1])
        if checkpoint is not None and checkpoint.is_file():
            saved = torch.load(io.BytesIO(checkpoint.read_bytes()), weights_only=True)
            self.net_.load_state_dict(saved["weights"])
            self.curve_ = saved["curve"]
            return self
        self._train(x, noise, data.val, target, seed)
        if checkpoint is not None:  # written whole: another process may read it meanwhile
            buffer = io.BytesIO()
            torch.save({"weights": self.net_.state_dict(), "curve": self.curve_}, buffer)
            write_atomic(checkpoint, buffer.getvalue())
        return self

    def _train(self, x, noise, val, target, seed):
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(seed)
        val_noisy, val_clean, _ = val.load()
        self.curve_ = []
        for step in range(1, self.steps + 1):
            batch = torch.randint(len(x), (min(16, len(x)),), generator=gen)
            loss = nn.functional.mse_loss(self.net_(x[batch]), noise[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 20 == 0 or step == self.steps:
                mse = float(np.mean((self.predict(val_noisy, target) - val_clean[:, target]) ** 2))
                self.curve_.append([step, mse, self.lr])
                if converged(self.curve_):  # ogmbench's own rule decides when to stop
                    break

    def _checkpoint(self, data, target, seed, channels):
        if getattr(data, "cache_dir", None) is None:
            return None
        key = f"{data.cache_key}|{self.get_params()}|{target}|{seed}|{channels}|{self.version}"
        return location(data.cache_dir) / f"tinycnn-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"

    @staticmethod
    def _stack(noisy, target):
        """The target first, then the other classes (the prior)."""
        order = [target] + [k for k in range(noisy.shape[1]) if k != target]
        return np.ascontiguousarray(noisy[:, order], dtype=np.float32)

    @torch.no_grad()
    def predict(self, noisy, target):
        x = torch.from_numpy(self._stack(noisy, target)).to(self.device_)
        estimate = x[:, 0] - self.net_(x)[:, 0]
        return estimate.clamp(0, 1).cpu().numpy().astype(np.float32)

    def describe(self):
        return {"curve": getattr(self, "curve_", []),
                "parameters": sum(p.numel() for p in self._net(2).parameters())}
