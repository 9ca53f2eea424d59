"""What ``--threads`` buys: eval alone and beside a second copy, at 1 and 2 threads.

Two workloads, each run as a whole ``ogmbench eval`` process:

* ``quick``: ``ogmbench eval STORE --profile quick`` (every estimator, the U-Nets on the
  seconds-long smoke-test training) on a small store;
* ``unet``: one ``unet`` training of the default profile, capped at ``--steps`` steps,
  on a store of the default benchmark's dataset settings (field, 32x32).

Each workload is timed with ``--threads 1`` and ``--threads 2``, alone and with a
second identical copy started at the same moment (the "another job on the machine"
case).  Printed: wall seconds per copy, and the slowdown of the pair against one copy
alone (1.0: the copies did not fight; 2.0: the same as running them one after the
other).  Run it on a quiet 2-core machine:

    python benchmarks/threads.py [--steps 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ogmbench


def _eval(store: Path, out: Path, threads: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "ogmbench", "eval", str(store), "--out", str(out),
            "--threads", str(threads), *extra]


def _timed(commands: list[list[str]]) -> list[float]:
    """Start the commands together; the wall seconds of each."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for c in commands]
    ends = []
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(proc.args)}\n{err.decode()[-2000:]}")
        ends.append(time.perf_counter() - start)
    return ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = ogmbench.generate(tmp / "quick.zarr", family="field", rho=[0.0, 0.9],
                                  samples_per_rho=40, size=32, seed=1).path
        default = ogmbench.generate(tmp / "default.zarr", family="field",
                                    noise="gaussian:sigma=1.0/0.3", rho=[0.0, 0.9],
                                    samples_per_rho=60, size=32, seed=1,
                                    split=[0.35, 0.05, 0.6]).path
        workloads = {
            "quick eval": (small, ["--profile", "quick"]),
            f"unet, {args.steps} steps": (default, ["--estimator", f"unet:steps={args.steps}",
                                                    "--profile", "default"]),
        }
        print(f"{'workload':<22}{'threads':>8}{'alone s':>9}{'pair s':>8}{'pair/alone':>11}")
        n = 0
        for name, (store, extra) in workloads.items():
            for threads in (1, 2):
                n += 1
                alone = _timed([_eval(store, tmp / f"r{n}a", threads, extra)])[0]
                pair = max(_timed([_eval(store, tmp / f"r{n}b{k}", threads, extra)
                                   for k in range(2)]))
                print(f"{name:<22}{threads:>8}{alone:9.1f}{pair:8.1f}{pair / alone:11.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
