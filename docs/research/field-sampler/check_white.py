"""(b) length_scale = 0: HMC posterior mean vs the exact per-cell closed form."""
import numpy as np, time, sys
from common import *
import sampler as S
sys.path.insert(0, '/work/main')
from generators._posterior import white_posterior
rng = np.random.default_rng(5)
out = []
for rho in [0.0, 0.9]:
    clean, noisy = make_data(rng, rho, 2, size=16, l=0.0)
    for prior in [True, False]:
        ex = S.exact_white_posterior(noisy, rho, SIGMA, 0.5, prior)
        # cross-check my closed form against ogmbench's white_posterior
        def ll(nk, st, cls):
            sg = SIGMA[cls]
            return sum(-(nk[None, :, i] - st[:, i, None, None, None]) ** 2 / (2 * sg[i] ** 2) for i in range(len(cls)))
        ref = white_posterior(noisy, np.full(2, rho), 0, (0.5, 0.5), ll, prior)
        t0 = time.time()
        m, e = S.posterior_mean(noisy, rho, 0.0, SIGMA, 0.5, prior, chains=4, sweeps=1500, burn=100, seed=3)
        dt = time.time() - t0
        d = np.abs(m - ex)
        z = d / np.maximum(e, 1e-3)
        print(f"rho {rho} prior {prior}: |mine-ogmbench closed form| {np.abs(ex-ref).max():.1e}; "
              f"max|MC-exact| {d.max():.4f} mean {d.mean():.4f}; mean MC err {e.mean():.4f}; "
              f"RMS(diff)/RMS(err) {np.sqrt((d**2).mean()/(e**2).mean()):.3f}; frac z>3 {(z>3).mean():.4f} (t_3 expects 0.058); {dt:.1f}s", flush=True)
