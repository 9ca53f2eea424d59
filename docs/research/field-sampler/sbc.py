"""(a) Simulation-based calibration on 16x16, l = 2, rho 0.9, sigma (1.0, 0.3)."""
import numpy as np, time, sys
from scipy import stats
import sampler as S
method = sys.argv[1] if len(sys.argv) > 1 else "hmc"
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 500
thin = int(sys.argv[3]) if len(sys.argv) > 3 else 5
H, L_SC, RHO, SIG = 16, 2.0, 0.9, np.array([1.0, 0.3])
NDRAW, BURN = 49, 50
rng = np.random.default_rng(123)
basis = S.reduced_basis(H, H, L_SC)
m = basis.shape[1]
for prior in ([True, False] if len(sys.argv) < 5 else [sys.argv[4] == "1"]):
    M, thr, nt = S.constraint_system(basis, RHO, 0.5, prior)
    G = np.ascontiguousarray(M @ M.T)
    D = M.shape[1]
    coef = np.array([0, 1, 7, m - 1] + ([m, m + 3] if prior else []), np.int64)
    names = [f"u[{c}]" for c in coef] + ["count X1", "count X2" if prior else None, "loglik"]
    names = [n for n in names if n]
    ranks = []
    t0 = time.time()
    for r in range(reps):
        u = rng.standard_normal(D)
        Z = M @ u
        X = (Z > thr).astype(float)
        n1 = H * H
        sig = np.concatenate([np.full(n1, SIG[0])] + ([np.full(n1, SIG[1])] if prior else []))
        Y = X + sig * rng.standard_normal(X.shape)
        a = (Y - 0.5) / sig ** 2
        n_traj = BURN + NDRAW * thin
        u0 = rng.standard_normal(D)
        if method == "hmc":
            _, tr, _ = S._hmc_chain(u0, M, G, thr, a, n_traj, BURN, np.pi / 2, 1000 + r, nt, coef, 10 ** 7)
        else:
            _, tr = S._ess_chain(u0, M, thr, a, n_traj, BURN, 1000 + r, nt, coef)
        draws = tr[BURN + thin - 1::thin][:NDRAW]
        # statistics of draws: coefficients, count X1, (count X2), ll
        cntX2 = None
        truth = list(u[coef]) + [X[:nt].sum()]
        dstat = [draws[:, 3 + q] for q in range(len(coef))] + [draws[:, 1]]
        if prior:
            # count X2 per draw is not traced; use ll instead of it
            pass
        truth.append((a * X).sum()); dstat.append(draws[:, 0])
        rk = [np.sum(d < t) + rng.integers(0, np.sum(d == t) + 1) for t, d in zip(truth, dstat)]
        ranks.append(rk)
    ranks = np.array(ranks)
    dt = time.time() - t0
    names = [f"u[{c}]" for c in coef] + ["count X1", "loglik"]
    print(f"== {method} prior={prior} reps={reps} thin={thin} draws={NDRAW} ({dt:.1f}s, {dt/reps*1e3:.0f} ms/rep)")
    for q, nm in enumerate(names):
        h = np.bincount(ranks[:, q] // 5, minlength=10)
        chi = stats.chisquare(h).pvalue
        ks = stats.kstest((ranks[:, q] + rng.random(reps)) / (NDRAW + 1), "uniform").pvalue
        print(f"  {nm:9s} chi2(10 bins) p={chi:.3f}  KS p={ks:.3f}  hist={h.tolist()}")
