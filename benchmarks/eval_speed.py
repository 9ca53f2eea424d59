"""Eval throughput per classical estimator against the bare library call.

For each estimator, ``ogmbench eval`` (one worker, no prior controls) streams the test
split from the store, predicts, checks the output and computes every metric; its test
loop is timed (``timings.test_s`` in run.json).  The reference calls the same
scipy / scikit-image function, with the parameters eval chose on val, on the same test
maps already in memory.  Goal: ratio <= 1.2.

    python benchmarks/eval_speed.py [--size 128] [--samples-per-rho 100]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.signal import wiener
from skimage.restoration import denoise_tv_chambolle

import ogmbench
from ogmbench import registry
from ogmbench.evaluate import EvalConfig, run_eval


def bare_call(name, params, noisy):
    """The library call an estimator wraps, on in-memory (B, C, H, W) maps, target 0."""
    x = noisy[:, 0]
    if name == "identity":
        return np.clip(x, 0, 1)
    if name == "median":
        return ndimage.median_filter(x, size=(1, params["size"], params["size"]))
    if name == "gaussian":
        return ndimage.gaussian_filter(x, sigma=(0, params["sigma"], params["sigma"]))
    if name == "morph":
        k = (1, params["size"], params["size"])
        return ndimage.grey_closing(ndimage.grey_opening((x >= 0.5).astype(np.float32), size=k), size=k)
    if name == "wiener":
        return np.stack([wiener(m.astype(np.float64), mysize=params["size"]) for m in x])
    if name == "tv":
        return denoise_tv_chambolle(x, weight=params["weight"], channel_axis=0)
    return None  # no single library call: guided, mrf and bayes-cell are ogmbench code


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--samples-per-rho", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ogmbench.generate(Path(tmp) / "s.zarr", samples_per_rho=args.samples_per_rho,
                                  size=args.size)
        names = list(registry.BUILTIN)
        # Warm-up: one-time imports and codec start-up are not per-sample costs.
        run_eval(store.path, ["identity"], EvalConfig(out=Path(tmp) / "warm"))
        run_dir, _ = run_eval(store.path, names, EvalConfig(out=Path(tmp) / "run"))
        record = json.loads((run_dir / "run.json").read_text())["estimators"]
        test = store.indices("test")
        noisy = store.noisy[test[0]:test[-1] + 1]
        print(f"{len(test)} test samples of {args.size}x{args.size}")
        print(f"{'estimator':<12} {'eval samples/s':>15} {'bare samples/s':>15} {'ratio':>6}")
        for name in names:
            rec = record[name]
            eval_s = rec["timings"]["test_s"]
            params = rec["params"]
            if bare_call(name, params, noisy[:2]) is None:
                _, cls, _ = registry.load(name)
                model = cls(**params)
                if name == "bayes-cell":  # needs its fitted table: reuse eval's choice
                    from ogmbench.api import FitData, Split
                    model.fit(FitData(Split(store=store, indices=store.indices("train")),
                                      Split(store=store, indices=store.indices("val"))), target=0)
                call = lambda m=model: m.predict(noisy, 0)  # noqa: E731
                label = " (own predict)"
            else:
                call, label = (lambda n=name, p=params: bare_call(n, p, noisy)), ""
            bare_s = min(_timed(call) for _ in range(3))
            print(f"{name:<12} {len(test) / eval_s:>15.1f} {len(test) / bare_s:>15.1f} "
                  f"{eval_s / bare_s:>6.2f}{label}")


def _timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
