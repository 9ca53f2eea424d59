"""GPU readiness in one run (under 8 minutes on one GPU), printing one table.

On a CUDA machine:

1. the nets tests (``tests/test_nets.py``) pass there;
2. each reference U-Net trains for ``--steps`` (300) steps of the ``paper`` profile
   (width 32, depth 4, batch 32) at 128x128, in fp32 and in bf16 autocast +
   channels_last: samples per second and peak GPU memory;
3. one checkpoint (concat, bf16) gives the same estimates on the GPU and, loaded on the
   CPU, in fp32, within bf16's tolerance (max |difference| <= 0.05, mean <= 0.005);
4. ``ogmbench reproduce`` of a small profile with ``device = "cuda"`` runs end to end;
   with several GPUs and dask-cuda installed, once more on a ``LocalCUDACluster`` (one
   worker per GPU, each declaring ``GPU=1``), and its results.csv equals the first.

Without a GPU it says so and exits 0 (CI and the development machine have none).

    python benchmarks/gpu_check.py [--steps 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BENCH = """[benchmark]
name = "gpu-check"
version = 1
description = "a small benchmark on one GPU"
[[dataset]]
name = "field-g"
family = "field"
noise = "gaussian:sigma=1.0/0.3"
[eval]
estimators = ["identity", "median", "unet", "concat", "film", "xattn"]
prior_controls = ["shuffled"]
reference = "unet"
[profile.default]
rho = [0.0, 0.9]
samples_per_rho = 100
size = 64
training = "default"
steps = 300
train_seeds = 1
device = "cuda"
[check]
rtol = 0.05
atol = 0.002
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to check (run this on a GPU machine)")
        return
    rows: list[tuple[str, str]] = [("device", torch.cuda.get_device_name(0)),
                                   ("GPUs", str(torch.cuda.device_count()))]
    start = time.perf_counter()
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_nets.py"],
                          cwd=ROOT, capture_output=True, text=True)
    rows.append(("nets tests", test.stdout.strip().splitlines()[-1] if test.stdout else "?"))

    import ogmbench
    from ogmbench.api import FitData, Split
    from ogmbench.baselines.nets import Concat

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = ogmbench.generate(tmp / "s.zarr", family="field", noise="gaussian:sigma=1.0/0.3",
                                  rho=[0.0, 0.9], samples_per_rho=200, size=128, seed=1,
                                  split=[0.8, 0.1, 0.1])
        # The training step itself, fp32 against bf16 autocast + channels_last (the
        # estimators always use the latter on CUDA): the paper profile's U-Nets.
        from ogmbench.baselines.nets.models import NoiseUNet

        batch, size = 32, 128
        noisy = torch.from_numpy(store.take("noisy", store.indices("train")[:batch])).cuda()
        for fusion in ("none", "concat", "film", "xattn"):
            for precision in ("fp32", "bf16"):
                torch.manual_seed(0)
                net = NoiseUNet(prior_channels=1, fusion=fusion, width=32, depth=4).cuda()
                fmt = torch.channels_last if precision == "bf16" else torch.contiguous_format
                net = net.to(memory_format=fmt)
                opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
                t, p = (noisy[:, :1].contiguous(memory_format=fmt),
                        noisy[:, 1:].contiguous(memory_format=fmt))
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast("cuda", dtype=torch.bfloat16,
                                        enabled=precision == "bf16"):
                        loss = (net(t, p).float() - t).pow(2).mean()
                    loss.backward()
                    opt.step()
                torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                peak = torch.cuda.max_memory_allocated() / 2**30
                rows.append((f"{fusion} {precision}, {size}x{size}",
                             f"{args.steps * batch / seconds:8.0f} samples/s, "
                             f"peak {peak:5.2f} GiB"))

        # One checkpoint, two devices: concat trained by the estimator on the GPU (bf16),
        # then the same weights on the CPU in fp32.
        data = FitData(Split(store=store, indices=store.indices("train")),
                       Split(store=store, indices=store.indices("val")))
        model = Concat(profile="paper", steps=args.steps, schedule="cosine",
                       val_every=args.steps)
        model.fit(data, target=0, seed=0, device="cuda")
        noisy = store.take("noisy", store.indices("test")[:16])
        on_gpu = model.predict(noisy, 0)
        model.model_.to("cpu").float()
        model.device_ = torch.device("cpu")  # fp32 on the CPU (its profile's precision)
        on_cpu = model.predict(noisy, 0)
        diff = abs(on_gpu.astype("float64") - on_cpu.astype("float64"))
        ok = diff.max() <= 0.05 and diff.mean() <= 0.005
        rows.append(("CPU vs GPU, one checkpoint",
                     f"max |diff| {diff.max():.4f}, mean {diff.mean():.5f}: "
                     + ("within bf16 tolerance" if ok else "OUTSIDE bf16 tolerance")))

        from ogmbench import reproduce

        config = tmp / "bench.toml"
        config.write_text(BENCH)
        t0 = time.perf_counter()
        out, _ = reproduce(config, out=tmp / "report")
        rows.append(("reproduce, device cuda", f"{time.perf_counter() - t0:6.1f} s"))
        if torch.cuda.device_count() > 1:
            try:
                from dask_cuda import LocalCUDACluster
            except ImportError:
                rows.append(("reproduce on Dask", "skipped: dask-cuda not installed"))
            else:
                with LocalCUDACluster(resources={"GPU": 1}) as cluster:
                    t0 = time.perf_counter()
                    again, _ = reproduce(config, out=tmp / "dask", dask=cluster.scheduler_address)
                    same = (again / "results.csv").read_text() == (out / "results.csv").read_text()
                    rows.append(("reproduce on Dask, one worker per GPU",
                                 f"{time.perf_counter() - t0:6.1f} s, results.csv "
                                 + ("identical" if same else "DIFFERS")))
    rows.append(("total", f"{time.perf_counter() - start:6.1f} s"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
