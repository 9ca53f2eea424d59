"""Cost and Monte Carlo error of the sampled field posterior (the smooth-field Bayes limit).

On the default profile's dataset setting (32x32, length scale 4, occupancy 0.5, gaussian
noise sigma 1.0 on X1 and 0.3 on X2), for a few chain lengths: seconds per sample with X2
and without (both cores), each cell's Monte Carlo standard error, and what it does to
the published figures: a Monte Carlo estimate with variance v per cell has an expected
MSE v above the posterior's, so each Bayes MSE is biased up by the mean v and the
attainable gain by the difference of the two biases.  Then the per-trajectory cost of
this kernel against the research prototype's (docs/research/field-sampler, the same
exact HMC in whitened Fourier coordinates), one thread each.

Usage: python benchmarks/field_sampler.py [--per-rho N]
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numba
import numpy as np

from ogmbench.generators import NOISE_MODELS, field
from ogmbench.generators._smooth_posterior import Sampling, smooth_posterior

SIGMA = [1.0, 0.3]
RHO = (0.0, 0.3, 0.6, 0.9)
SETTINGS = (Sampling(2, 20, 60), Sampling(), Sampling(4, 20, 240))


def draw(per_rho: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    clean, rho = [], []
    for value in RHO:
        clean += [field(rng, value, 32, length_scale=4.0) for _ in range(per_rho)]
        rho += [value] * per_rho
    clean = np.stack(clean)
    noisy = clean + rng.standard_normal(clean.shape) * np.array(SIGMA)[None, :, None, None]
    return clean, noisy, np.array(rho)


def measure(clean, noisy, rho, sampling):
    loglik = partial(NOISE_MODELS["gaussian"].cell_loglik, sigma=SIGMA, kappa=0.0)
    out = {}
    for prior in (True, False):
        start = time.perf_counter()
        got = smooth_posterior(noisy, rho, 0, (0.5, 0.5), 4.0, loglik, prior, sampling)
        seconds = (time.perf_counter() - start) / len(noisy)
        mse = ((got.mean - clean[:, 0]) ** 2).mean(axis=(1, 2))
        out[prior] = seconds, mse, (got.error ** 2).mean(axis=(1, 2)), got
    return out


def report(clean, noisy, rho, sampling):
    out = measure(clean, noisy, rho, sampling)
    (s_with, m_with, v_with, got), (s_without, m_without, v_without, _) = out[True], out[False]
    print(f"\n{sampling.chains} chains x ({sampling.burn} burn + {sampling.draws}) trajectories: "
          f"{s_with:.2f} s per sample with X2, {s_without:.2f} without (2 threads); "
          f"480 samples: {480 * (s_with + s_without) / 60:.1f} min")
    print("rho   MSE with X2  bias    MSE without  bias    gain %  gain % debiased  "
          "cell s.e. (with/without)")
    for value in RHO:
        rows = rho == value
        gain = 100 * (m_without[rows].mean() - m_with[rows].mean()) / m_without[rows].mean()
        fixed_with = m_with[rows].mean() - v_with[rows].mean()
        fixed_without = m_without[rows].mean() - v_without[rows].mean()
        fixed = 100 * (fixed_without - fixed_with) / fixed_without
        print(f"{value:<5} {m_with[rows].mean():.4f}     {v_with[rows].mean():.5f}  "
              f"{m_without[rows].mean():.4f}       {v_without[rows].mean():.5f}  "
              f"{gain:6.1f}  {fixed:6.1f}           "
              f"{np.sqrt(v_with[rows].mean()):.4f}/{np.sqrt(v_without[rows].mean()):.4f}")
    fixed = got.traces[..., 5]
    print(f"cells put back in step with their latents (round-off at a wall): "
          f"{int(fixed.sum())} in {fixed.size} trajectories")
    # A chain trapped in another mode shows as a mean log-likelihood apart from the
    # others' (its state's, along the chain after burn-in).
    level = got.traces[:, :, sampling.burn:, 0].mean(axis=2)
    for value in RHO:
        apart = np.ptp(level[rho == value], axis=1)
        print(f"rho {value}: chains' mean log-likelihoods apart by more than 5 nats in "
              f"{(apart > 5).mean():.0%} of samples with X2 (largest {apart.max():.1f})")


def against_prototype(noisy, rho):
    """Seconds per trajectory, one thread: this kernel against the prototype's."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "docs" / "research" / "field-sampler"))
    import sampler as prototype

    loglik = partial(NOISE_MODELS["gaussian"].cell_loglik, sigma=SIGMA, kappa=0.0)
    numba.set_num_threads(1)
    sample, value = noisy[-4:], float(rho[-1])
    sampling = Sampling(1, 0, 100)
    smooth_posterior(sample[:1], value, 0, (0.5, 0.5), 4.0, loglik, True, Sampling(1, 0, 2))
    prototype.posterior_mean(sample[:1], value, 4.0, SIGMA, 0.5, True, 1, 2, 0)
    start = time.perf_counter()
    smooth_posterior(sample, value, 0, (0.5, 0.5), 4.0, loglik, True, sampling)
    ours = (time.perf_counter() - start) / (len(sample) * sampling.draws)
    start = time.perf_counter()
    prototype.posterior_mean(sample, value, 4.0, SIGMA, 0.5, True, 1, sampling.draws, 0)
    theirs = (time.perf_counter() - start) / (len(sample) * sampling.draws)
    print(f"\none thread, with X2, rho {value}: {1000 * ours:.2f} ms per trajectory against "
          f"the prototype's {1000 * theirs:.2f} ms (ratio {ours / theirs:.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-rho", type=int, default=10)
    args = parser.parse_args()
    clean, noisy, rho = draw(args.per_rho)
    measure(clean[:1], noisy[:1], rho[:1], Sampling(1, 0, 2))  # compile (cached after)
    print(f"{args.per_rho} samples per rho, 32x32, length scale 4, sigma {SIGMA}; "
          f"numba {numba.__version__}, {numba.get_num_threads()} threads")
    for sampling in SETTINGS:
        report(clean, noisy, rho, sampling)
    against_prototype(noisy, rho)


if __name__ == "__main__":
    main()
