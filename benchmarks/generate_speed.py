"""Speed and memory of ``ogmbench generate`` against the bare numpy/scipy work.

For each case, the bare reference makes the same maps by calling the family and noise
functions in a plain loop and saves them with ``np.save`` (one file per shard's worth of
samples); ``ogmbench generate`` (one worker) does the same plus per-sample seeding,
correlation, digests, compression and the zarr store.  Goal: ratio <= 1.5.

Peak memory is measured in fresh processes for N and 4N samples: it must not grow with N.

    python benchmarks/generate_speed.py            # all cases
    python benchmarks/generate_speed.py --quick    # smaller N
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ogmbench
from ogmbench.config import make_config
from ogmbench.generators import FAMILIES, apply_noise, class_correlation

# (family, noise, size, classes): the last is the BEV-scale dataset of the benchmark,
# 100 m x 100 m at 0.5 m with three classes under camera noise.
BEV = "vehicle,drivable,walkway"
CASES = [("field", "gaussian:sigma=0.5", 128, None), ("field", "gaussian:sigma=0.5", 256, None),
         ("urban", "lidar", 128, None), ("urban", "lidar", 256, None),
         ("urban", "camera", 200, BEV)]


def bare(config, n, out_dir: Path) -> float:
    """Same maps, plain loop, np.save per shard-sized block; returns seconds."""
    family = FAMILIES[config.family]
    params = config.family_kwargs
    block = config.layout.shard
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for first in range(0, n, block):
        m = min(block, n - first)
        clean = np.empty((m, config.classes, *config.size), np.uint8)
        noisy = np.empty((m, config.classes, *config.size), np.float32)
        for j in range(m):
            rho = config.rho[(first + j) % len(config.rho)]
            clean[j] = family.func(rng, rho, config.size, **params)
            noisy[j] = apply_noise(rng, clean[j], config.noise_steps)
        np.save(out_dir / f"clean{first}.npy", clean)
        np.save(out_dir / f"noisy{first}.npy", noisy)
    return time.perf_counter() - start


def timed_generate(settings, tmp: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=tmp)) / "b.zarr"  # fresh: no deletion in the timing
    start = time.perf_counter()
    ogmbench.generate(out, **settings)
    return time.perf_counter() - start


def peak_rss_mb(settings) -> float:
    """Peak resident memory of a fresh process generating ``settings``."""
    code = (
        "import json, resource, sys, tempfile, ogmbench\n"
        "s = json.loads(sys.argv[1])\n"
        "ogmbench.generate(tempfile.mkdtemp() + '/m.zarr', **s)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(settings)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sample counts")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    print(f"{'case':<28} {'N':>5} {'bare s':>8} {'ogmbench s':>11} {'samples/s':>10} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for family, noise, size, classes in CASES:
            n = max(16, int((384 if size == 128 else 96) * scale))
            settings = dict(family=family, noise=noise, rho=[0.0, 0.5, 0.9],
                            samples_per_rho=n // 3, size=size,
                            **({"classes": classes} if classes else {}))
            config = make_config(**settings)
            # Warm caches (FFT plans, imports) so neither side pays them.
            bare(config, min(4, n), tmp)
            t_bare = min(bare(config, config.n_samples, tmp) for _ in range(2))
            t_gen = min(timed_generate(settings, tmp) for _ in range(2))
            label = f"{family}+{noise.split(':')[0]} {size}^2" + (f" K={config.classes}"
                                                                  if classes else "")
            print(f"{label:<28} {config.n_samples:>5} "
                  f"{t_bare:>8.2f} {t_gen:>11.2f} {config.n_samples / t_gen:>10.1f} "
                  f"{t_gen / t_bare:>6.2f}")
        # The correlation measurement is part of ogmbench's work, not of the bare loop;
        # show its share so the ratio can be read honestly.
        maps = np.random.default_rng(0).integers(0, 2, (64, 2, 256, 256), dtype=np.uint8)
        t0 = time.perf_counter()
        for m in maps:
            class_correlation(m)
        print(f"(phi per 256^2 sample: {(time.perf_counter() - t0) / 64 * 1e3:.2f} ms)")

    base = dict(family="field", noise="gaussian:sigma=0.5", rho=[0.0, 0.9], size=128)
    n_small = int(256 * scale)
    small = peak_rss_mb({**base, "samples_per_rho": n_small // 2})
    large = peak_rss_mb({**base, "samples_per_rho": 2 * n_small})
    print(f"peak RSS: {small:.0f} MB for N={n_small}, {large:.0f} MB for N={4 * n_small} "
          f"(ratio {large / small:.2f}; flat in N means ~1)")


if __name__ == "__main__":
    main()
