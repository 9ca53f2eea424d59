"""(c) 32x32, l = 4, sigma (1.0, 0.3), occupancy 0.5: convergence and MSE with vs without prior."""
import numpy as np, time, sys, json
import sampler as S
from common import make_data, true_ll, SIGMA
rho = float(sys.argv[1]); nsamp = int(sys.argv[2]); chains = int(sys.argv[3])
sweeps = int(sys.argv[4]); burn = int(sys.argv[5]); method = sys.argv[6] if len(sys.argv) > 6 else "hmc"
anneal = [float(b) for b in sys.argv[7].split(",")] if len(sys.argv) > 7 else [1.0]
rng = np.random.default_rng(int(rho * 100) + 7)
clean, noisy = make_data(rng, rho, nsamp)
basis = S.reduced_basis(32, 32, 4.0)
res = {}
for prior in [True, False]:
    M, thr, nt = S.constraint_system(basis, rho, 0.5, prior)
    G = np.ascontiguousarray(M @ M.T)
    A = S.gaussian_weights(noisy, SIGMA, prior)
    tll = true_ll(clean, noisy, prior=prior)
    coef = np.array([0], np.int64)
    half = (sweeps - burn) // 2
    rows = []
    t0 = time.time()
    for i in range(nsamp):
        inits = S.initial_states(noisy[i], basis, thr, rho, prior, chains, rng)
        hs, trs = [], []
        for c, u0 in enumerate(inits):
            u = u0.copy(); seed = 100000 * i + 100 * c + (1 if prior else 2)
            if method == "hmc":
                nb_ = burn // len(anneal); tr0 = []
                for k, beta in enumerate(anneal):
                    _, t_, _ = S._hmc_chain(u, M, G, thr, beta * A[i], nb_ if k < len(anneal) - 1 else burn - nb_ * k, burn, np.pi / 2, seed + 10 * k + 5, nt, coef, 10**7)
                    t_[:, 0] /= beta; tr0.append(t_)
                tr0 = np.concatenate(tr0)
                s1, tr1, _ = S._hmc_chain(u, M, G, thr, A[i], half, 0, np.pi / 2, seed + 1, nt, coef, 10**7)
                s2, tr2, _ = S._hmc_chain(u, M, G, thr, A[i], half, 0, np.pi / 2, seed + 2, nt, coef, 10**7)
            else:
                _, tr0 = S._ess_chain(u, M, thr, A[i], burn, burn, seed, nt, coef)
                s1, tr1 = S._ess_chain(u, M, thr, A[i], half, 0, seed + 1, nt, coef)
                s2, tr2 = S._ess_chain(u, M, thr, A[i], half, 0, seed + 2, nt, coef)
            hs += [s1 / half, s2 / half]
            trs.append(np.concatenate([tr0, tr1, tr2]))
        hs = np.array(hs)                      # (2C, cells) half-chain means
        cm = 0.5 * (hs[0::2] + hs[1::2])       # chain means
        trs = np.array(trs)
        post = trs[:, burn:]
        # split R-hat per cell (indicator draws: within-half variance p(1-p) n/(n-1))
        W = (hs * (1 - hs) * half / (half - 1)).mean(0)
        Bv = half * hs.var(0, ddof=1)
        V = (half - 1) / half * W + Bv / half
        with np.errstate(invalid="ignore", divide="ignore"):
            rc = np.where(W > 0, np.sqrt(V / W), 1.0)
        pair = [np.mean(np.abs(cm[a] - cm[b]) > 0.1) for a in range(chains) for b in range(a + 1, chains)]
        mean = cm.mean(0); err = cm.std(0, ddof=1) / np.sqrt(chains)
        x = clean[i, 0].ravel()
        mse = np.mean((mean - x) ** 2)
        mse_se = np.sqrt(np.sum((2 * (mean - x) * err) ** 2)) / x.size
        rows.append(dict(true_ll=float(tll[i]), ll_chain=post[:, :, 0].mean(1).tolist(),
                         ll_first=trs[:, :5, 0].mean(1).tolist(),
                         rhat_count=float(S.split_rhat(post[:, :, 1])), rhat_ll=float(S.split_rhat(post[:, :, 0])),
                         rhat_cell_max=float(np.nanmax(rc)), rhat_cell_frac_gt_1_05=float(np.mean(rc > 1.05)),
                         frac_diff_gt_0_1_mean=float(np.mean(pair)), frac_diff_gt_0_1_max=float(np.max(pair)),
                         mc_err_mean=float(err.mean()), mc_err_max=float(err.max()),
                         mse=float(mse), mse_se=float(mse_se), events=float(post[:, :, 2].mean())))
        rows[-1]["_mean"] = mean
    dt = time.time() - t0
    res[prior] = rows
    r = rows
    f = lambda k: np.array([q[k] for q in r])
    print(f"== rho {rho} prior={prior} {method} chains={chains} sweeps={sweeps} burn={burn}: {dt/nsamp:.2f} s/sample (all chains)")
    gap = np.array([np.array(q['ll_chain']) - q['true_ll'] for q in r])
    print(f"  mean ll(chain) - ll(true latent): mean {gap.mean():.1f}, min over chains/samples {gap.min():.1f}, max {gap.max():.1f}")
    print(f"  split-Rhat count: median {np.median(f('rhat_count')):.3f} max {f('rhat_count').max():.3f}; ll: max {f('rhat_ll').max():.3f}")
    print(f"  per-cell split-Rhat: max over samples {f('rhat_cell_max').max():.3f}; frac cells >1.05 mean {f('rhat_cell_frac_gt_1_05').mean():.4f}")
    print(f"  frac cells |chain_a-chain_b|>0.1: mean {f('frac_diff_gt_0_1_mean').mean():.4f}, worst pair {f('frac_diff_gt_0_1_max').max():.4f}")
    print(f"  MC err per cell: mean {f('mc_err_mean').mean():.4f}, max {f('mc_err_max').max():.4f}; events/traj {f('events').mean():.0f}")
    worst = sorted(range(len(r)), key=lambda k: min(np.array(r[k]['ll_chain']) - r[k]['true_ll']))[:3]
    for k in worst: print(f"  sample {k}: ll_chain - ll_true per chain (even=prior init, odd=data init): {np.round(np.array(r[k]['ll_chain']) - r[k]['true_ll'], 1).tolist()}, frac>0.1 worst pair {r[k]['frac_diff_gt_0_1_max']:.3f}")
    print(f"  MSE vs clean X1: {f('mse').mean():.4f} (per-sample MC se ~{f('mse_se').mean():.4f})", flush=True)
d = np.array([a['mse'] - b['mse'] for a, b in zip(res[True], res[False])])
se_mc = np.array([np.hypot(a['mse_se'], b['mse_se']) for a, b in zip(res[True], res[False])])
print(f"  MSE(with) - MSE(without): mean {d.mean():.4f} +- {d.std(ddof=1)/np.sqrt(len(d)):.4f} (across samples); "
      f"samples with diff > +2 MC se: {int(np.sum(d > 2 * se_mc))}/{len(d)}; max diff {d.max():.4f}")
json.dump({str(k): [{kk: vv for kk, vv in q.items() if kk != "_mean"} for q in v] for k, v in res.items()}, open(f"rows_{method}_rho{rho}_{chains}x{sweeps}_{len(anneal)}.json", "w"))
np.savez(f"res_real_{method}_rho{rho}_{chains}x{sweeps}_{len(anneal)}.npz", d=d, se=se_mc,
         mean_with=np.array([q['_mean'] for q in res[True]]), mean_without=np.array([q['_mean'] for q in res[False]]),
         clean=clean, noisy=noisy)
