"""Cost of a T-frame sequence against T single frames, through ``ogmbench generate``.

Both sides run the whole writer (seeding, family, noise, correlation, digests, zarr) with
one worker: N sequences of T frames (``--frames T``) against N * T single maps of the
same size, family, classes and noise.  Goal (issue 14): ratio <= 1.2.

The sequence side does more by design: its world reaches beyond the first frame's map
by as far as the ego and the fastest objects travel (objects that can drive into view
must exist), every object is tested for room in every frame, and each sample also gets
its frame-to-frame phi (a warp per frame).  Time on a quiet machine.

    python benchmarks/sequence_speed.py            # all cases, 3 repeats
    python benchmarks/sequence_speed.py --quick    # fewer samples, 1 repeat
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ogmbench

BEV = "vehicle,drivable,walkway"
# (family, noise, size, classes, frames): the temporal datasets of the benchmark file
# are urban at 200 x 200 (0.5 m) under camera or lidar noise.
CASES = [
    ("field", "gaussian:sigma=0.5", 128, None, 4),
    ("urban", "gaussian:sigma=0.5", 200, BEV, 4),
    ("urban", "gaussian:sigma=0.5", 200, BEV, 8),
    ("urban", "lidar", 200, BEV, 4),
    ("urban", "camera", 200, BEV, 4),
    ("urban", "camera", 200, BEV, 8),
]


def timed(tmp: Path, **settings) -> float:
    out = Path(tempfile.mkdtemp(dir=tmp)) / "s.zarr"
    start = time.perf_counter()
    ogmbench.generate(out, **settings)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, repeats = (4, 1) if args.quick else (12, 3)
    print(f"{'case':<46} {'T':>2} {'sequences s':>12} {'singles s':>10} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for family, noise, size, classes, frames in CASES:
            base = dict(family=family, noise=noise, size=size, classes=classes, rho=[0.5],
                        split=(1.0, 0.0, 0.0))
            seq = statistics.median(timed(tmp, samples_per_rho=n, frames=frames, **base)
                                    for _ in range(repeats))
            one = statistics.median(timed(tmp, samples_per_rho=n * frames, **base)
                                    for _ in range(repeats))
            name = f"{family} {noise.split(':')[0]} {size}^2"
            print(f"{name:<46} {frames:>2} {seq:>12.2f} {one:>10.2f} {seq / one:>6.2f}")


if __name__ == "__main__":
    main()
