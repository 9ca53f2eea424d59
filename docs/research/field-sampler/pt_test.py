import numpy as np, time
import sampler as S
from common import make_data, true_ll, SIGMA
rng = np.random.default_rng(97)
clean, noisy = make_data(rng, 0.9, 20)
i = 11
basis = S.reduced_basis(32, 32, 4.0)
M, thr, nt = S.constraint_system(basis, 0.9, 0.5, True)
G = np.ascontiguousarray(M @ M.T)
a = S.gaussian_weights(noisy, SIGMA, True)[i]
tll = true_ll(clean, noisy)[i]
coef = np.array([0], np.int64)
betas = np.array([1.0, 0.8, 0.62, 0.47, 0.35, 0.25])
for run in range(3):
    inits = S.initial_states(noisy[i], basis, thr, 0.9, True, 2, np.random.default_rng(run))
    us = [inits[run % 2].copy() for _ in betas]
    lls = np.zeros(len(betas)); hist = []; acc = 0
    t0 = time.time()
    for it in range(300):
        for k, b in enumerate(betas):
            _, tr, _ = S._hmc_chain(us[k], M, G, thr, b * a, 1, 1, np.pi / 2, 10**6 * run + 10 * it + k, nt, coef, 10**7)
            lls[k] = tr[0, 0] / b
        for k in range((it % 2), len(betas) - 1, 2):
            if np.log(rng.random()) < (betas[k] - betas[k + 1]) * (lls[k + 1] - lls[k]):
                us[k], us[k + 1] = us[k + 1], us[k]; lls[k], lls[k + 1] = lls[k + 1], lls[k]; acc += 1
        hist.append(lls[0] - tll)
    h = np.array(hist)
    print(f"PT run {run} ({'prior' if run % 2 == 0 else 'data'} init): beta=1 ll - ll_true, means over blocks of 50: {[round(h[j:j+50].mean(),1) for j in range(0,300,50)]}; swaps acc {acc}; {time.time()-t0:.0f}s", flush=True)
