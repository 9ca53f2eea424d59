"""Training throughput of the four learned estimators, and the bare torch reference.

For each of unet, concat, film and xattn (default profile, 64x64 maps, batch 16) this
times ``fit`` for a fixed number of steps through the estimator (batch sampling,
augmentation, validation every ``val_every`` steps) and a bare loop of forward, MSE
loss, backward and AdamW step on the same model and random tensors.  The ratio shows
what the estimator's bookkeeping costs.  Runs on every available device (cpu, and cuda
when present: bf16 autocast and channels_last there).

    python benchmarks/train_speed.py [--steps 40] [--size 64]

With ``--converge``, it trains instead to convergence on the default benchmark's
``field-gaussian`` data (``--size``, default 64; 100 samples per rho, rho 0, 0.3, 0.6, 0.9) under each
training configuration given (``schedule:lr:steps[:precision]``), and prints per
configuration the wall time, the time per step, the best val MSE and its step, the test
MSE, and the convergence rule's verdict (ogmbench.curves):

    python benchmarks/train_speed.py --converge cosine:2e-3:800 onecycle:4e-3:800 \
        [--estimator concat]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ogmbench.api import FitData, Split
from ogmbench.baselines.nets import Concat, FiLM, UNet, XAttn, count_parameters
from ogmbench.generators import apply_noise, field
from ogmbench.generators.noise import NOISE_MODELS


def make_data(n: int, size: int) -> FitData:
    rng = np.random.default_rng(0)
    steps = [("gaussian", NOISE_MODELS["gaussian"].resolve({"sigma": "1.0/0.3"}, 2))]
    splits = []
    for count in (n, n // 4):
        clean = np.stack([field(rng, 0.9, size) for _ in range(count)])
        noisy = np.stack([apply_noise(rng, c, steps) for c in clean])
        splits.append(Split(noisy, clean))
    return FitData(*splits)


def bare_loop(model, batch: int, size: int, steps: int, device: torch.device) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    t = torch.randn(batch, 1, size, size, device=device)
    p = torch.randn(batch, 1, size, size, device=device)
    y = torch.randn(batch, 1, size, size, device=device)
    if device.type == "cuda":
        t, p = (x.contiguous(memory_format=torch.channels_last) for x in (t, p))
    start = time.perf_counter()
    for _ in range(steps):
        if device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(t, p)
        else:
            out = model(t, p)
        loss = torch.nn.functional.mse_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _config(text: str) -> dict:
    """``schedule:lr:steps[:precision][:key=value...]`` as the estimator's keywords."""
    schedule, lr, steps, *rest = text.split(":")
    cfg = dict(schedule=schedule, lr=float(lr), steps=int(steps), precision="fp32")
    for part in rest:
        key, eq, value = part.partition("=")
        if eq:
            cfg[key] = int(value)
        else:
            cfg["precision"] = part
    return cfg


def converge(configs: list[str], estimator: str, size: int, samples_per_rho: int = 100,
             split: tuple[float, float, float] | None = None,
             seeds: tuple[int, ...] = (0,), curves: str | None = None) -> None:
    """Train ``estimator`` under each configuration (and training seed) on the default
    benchmark's data."""
    import tempfile

    import ogmbench
    from ogmbench.curves import converged, improvement
    from ogmbench.registry import load

    with tempfile.TemporaryDirectory() as tmp:
        store = ogmbench.generate(f"{tmp}/field.zarr", family="field",
                                  noise="gaussian:sigma=1.0/0.3", rho=[0.0, 0.3, 0.6, 0.9],
                                  samples_per_rho=samples_per_rho, size=size, seed=0,
                                  **({"split": split} if split else {}))
        data = FitData(*(Split(store=store, indices=store.indices(s)) for s in ("train", "val")))
        test_noisy, test_clean, _ = Split(store=store, indices=store.indices("test")).load()
        cls = load(estimator)[1]
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {estimator}, "
              f"{len(data.train)} train / {len(data.val)} val / {len(test_noisy)} test samples")
        print(f"{'config':<26} {'seed':>4} {'wall s':>7} {'s/step':>7} {'best val':>9} {'at step':>8} "
              f"{'test MSE':>9} {'steps':>6} {'last gain':>10} {'converged':>9}")
        for text, seed in ((t, s) for t in configs for s in seeds):
            est = cls(**_config(text))
            start = time.perf_counter()
            est.fit(data, target=0, seed=seed, device="cpu")
            wall = time.perf_counter() - start
            facts = est.describe()
            test = float(np.mean((est.predict(test_noisy, 0) - test_clean[:, 0]) ** 2))
            gain, verdict = improvement(facts["curve"]), converged(facts["curve"])
            trained = facts["trained_steps"]
            if curves:
                with open(curves, "a") as out:
                    out.write(json.dumps({"config": text, "seed": seed, "curve": facts["curve"],
                                          "test_mse": test, "wall": wall}) + "\n")
            print(f"{text:<26} {seed:>4} {wall:>7.0f} {wall / trained:>7.3f} "
                  f"{facts['best_val_mse']:>9.5f} {facts['best_step']:>8} {test:>9.5f} "
                  f"{trained:>6} {'' if gain is None else f'{100 * gain:.2f} %':>10} "
                  f"{ {True: 'yes', False: 'no', None: 'cannot tell'}[verdict]:>9}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--converge", nargs="+",
                        metavar="SCHEDULE:LR:STEPS[:PRECISION][:KEY=VALUE]")
    parser.add_argument("--samples-per-rho", type=int, default=100)
    parser.add_argument("--split", type=lambda t: tuple(float(v) for v in t.split(",")))
    parser.add_argument("--seeds", type=lambda t: tuple(int(v) for v in t.split(",")),
                        default=(0,))
    parser.add_argument("--curves", help="append each training's curve to this JSON-lines file")
    parser.add_argument("--estimator", default="concat")
    args = parser.parse_args()
    if args.converge:
        converge(args.converge, args.estimator, args.size, args.samples_per_rho, args.split,
                 args.seeds, args.curves)
        return
    data = make_data(160, args.size)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"{'device':<6} {'estimator':<8} {'params':>9} {'fit samples/s':>14} "
          f"{'bare samples/s':>15} {'ratio':>6}")
    for device in devices:
        for cls in (UNet, Concat, FiLM, XAttn):
            est = cls(steps=args.steps, val_every=args.steps)
            batch = est.config()["batch_size"]
            start = time.perf_counter()
            est.fit(data, target=0, seed=0, device=device)
            if device == "cuda":
                torch.cuda.synchronize()
            fit_s = time.perf_counter() - start
            model = est.build(1).to(device)
            bare_loop(model, batch, args.size, 3, torch.device(device))  # warm-up
            bare_s = bare_loop(model, batch, args.size, args.steps, torch.device(device))
            samples = batch * args.steps
            print(f"{device:<6} {cls.__name__.lower():<8} {count_parameters(model):>9} "
                  f"{samples / fit_s:>14.1f} {samples / bare_s:>15.1f} {fit_s / bare_s:>6.2f}")


if __name__ == "__main__":
    main()
