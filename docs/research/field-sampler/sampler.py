"""Posterior mean of a thresholded Gaussian random field (ogmbench ``field`` family).

Model (two classes, periodic H x W grid):
    Z1 = S0, Z2 = rho S0 + sqrt(1 - rho^2) S1, S = Gaussian-smoothed unit-variance white noise,
    X_c = 1[Z_c > t_c], t_c = ndtri(1 - occupancy_c),
    Y_c = X_c + sigma_c eps (gaussian noise), so log p(Y | X) = sum_j a_j X_j + const,
    a_j = (Y_j - 1/2) / sigma_c^2.

Latent: whitened coefficients u ~ N(0, I) of a reduced real Fourier basis B (all modes
but a 1e-9 share of the variance; the identity when length_scale == 0), so that every
cell-class latent is a row of M u and the log-likelihood is piecewise constant in u
with one hyperplane per cell and class.

Sampler: exact HMC for a Gaussian prior times a piecewise-constant likelihood
(Pakman & Paninski 2013; Afshar & Domke 2015): the Hamiltonian flow of the prior is a
rotation, hyperplane hits are found in closed form, and at each hit the normal momentum
refracts (kinetic energy pays the log-likelihood jump) or reflects.  Rejection free.
Also provided for comparison: an exact elliptical Gibbs step (theta drawn exactly from
its piecewise-constant conditional on the ellipse u cos + nu sin).

Public entry point: :func:`posterior_mean`.
"""

from __future__ import annotations

import numpy as np
import numba as nb
from scipy.special import ndtri

__all__ = ["posterior_mean", "reduced_basis", "constraint_system", "run_chains",
           "exact_white_posterior"]


# ----------------------------------------------------------------------------- basis

def _mode_variance(height, width, length_scale):
    """lambda_k = |G(k)|^2 over the full spectrum, normalised to mean 1 (unit variance)."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    g2 = np.exp(-4.0 * np.pi ** 2 * length_scale ** 2 * (fy ** 2 + fx ** 2))
    return g2 / g2.mean()


def reduced_basis(height, width, length_scale, tol=1e-9):
    """Real basis B (H*W, m) with B B^T = field covariance up to a ``tol`` variance share.

    Z = B u, u ~ N(0, I_m).  Identity for ``length_scale == 0``.
    """
    n = height * width
    if length_scale == 0:
        return np.eye(n)
    lam = _mode_variance(height, width, float(length_scale))
    share = (lam / lam.sum()).ravel()
    order = np.argsort(share)
    dropped = np.cumsum(share[order]) < tol
    keep = np.zeros(n, bool)
    keep[order[~dropped]] = True
    keep = keep.reshape(height, width)
    yy, xx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    cols, done = [], np.zeros_like(keep)
    for ky in range(height):
        for kx in range(width):
            if not keep[ky, kx] or done[ky, kx]:
                continue
            cy, cx = (-ky) % height, (-kx) % width
            done[ky, kx] = done[cy, cx] = True
            phase = 2 * np.pi * (ky * yy / height + kx * xx / width)
            if (cy, cx) == (ky, kx):
                cols.append(np.cos(phase).ravel() * np.sqrt(lam[ky, kx] / n))
            else:
                w = np.sqrt(2 * lam[ky, kx] / n)
                cols.append(np.cos(phase).ravel() * w)
                cols.append(np.sin(phase).ravel() * w)
    return np.ascontiguousarray(np.stack(cols, axis=1))


def constraint_system(basis, rho, occupancy, prior):
    """Rows of M (one per cell and observed class), thresholds, and the target rows.

    prior=True: u = (w_a, w_b), Z2 = B w_a, Z1 = rho B w_a + sqrt(1 - rho^2) B w_b
    (the same joint law as the generator's mixing); rows [class 1 cells, class 2 cells].
    prior=False: Z1 = B u, rows = class 1 cells.
    """
    occ = np.broadcast_to(np.asarray(occupancy, float), (2,))
    thr = ndtri(1.0 - occ)
    n, m = basis.shape
    if not prior:
        return np.ascontiguousarray(basis), np.full(n, thr[0]), n
    s = np.sqrt(max(0.0, 1.0 - rho * rho))
    M = np.zeros((2 * n, 2 * m))
    M[:n, :m] = rho * basis
    M[:n, m:] = s * basis
    M[n:, :m] = basis
    return M, np.concatenate([np.full(n, thr[0]), np.full(n, thr[1])]), n


def gaussian_weights(noisy, sigma, prior):
    """a_j = log p(Y | X=1) - log p(Y | X=0) for gaussian noise, rows as in M. (B, K)."""
    noisy = np.asarray(noisy, float)
    b = noisy.shape[0]
    a1 = (noisy[:, 0].reshape(b, -1) - 0.5) / sigma[0] ** 2
    if not prior:
        return a1
    a2 = (noisy[:, 1].reshape(b, -1) - 0.5) / sigma[1] ** 2
    return np.concatenate([a1, a2], axis=1)


# ----------------------------------------------------------------------------- kernels

@nb.njit(cache=True)
def _next_hit(zu, zp, thr, exclude_small):
    """First t in (0, 2pi) with zu cos t + zp sin t = thr (inf if none)."""
    r = np.sqrt(zu * zu + zp * zp)
    if r <= abs(thr):
        return np.inf
    phi = np.arctan2(zp, zu)
    d = np.arccos(thr / r)
    two_pi = 2.0 * np.pi
    t1 = (phi - d) % two_pi
    t2 = (phi + d) % two_pi
    lo = 1e-10 if exclude_small else 0.0
    best = np.inf
    if t1 > lo:
        best = t1
    if t2 > lo and t2 < best:
        best = t2
    return best


@nb.njit(cache=True)
def _hmc_chain(u, M, G, thr, a, n_traj, n_burn, t_max, seed, n_target, coef_idx,
               max_events):
    """Exact HMC, piecewise-constant log-likelihood sum_j a_j 1[M_j u > thr_j]."""
    np.random.seed(seed)
    K, D = M.shape
    Zu = M @ u
    X = np.zeros(K, np.bool_)
    ll = 0.0
    for j in range(K):
        if Zu[j] > thr[j]:
            X[j] = True
            ll += a[j]
    sq = np.empty(K)
    for j in range(K):
        sq[j] = np.sqrt(G[j, j])
    sumX = np.zeros(n_target)
    ncoef = coef_idx.shape[0]
    # per trajectory: ll, occupied target count, events, coefficients...
    trace = np.zeros((n_traj, 3 + ncoef))
    p = np.empty(D)
    n_resync_fix = 0
    zero_thr = t_max <= np.pi / 2
    for j in range(K):
        if thr[j] != 0.0:
            zero_thr = False
    for it in range(n_traj):
        for d in range(D):
            p[d] = np.random.standard_normal()
        Zp = M @ p
        t_left = t_max * (0.5 + 0.5 * np.random.random())
        last = -1
        events = 0
        while events < max_events:
            tb = t_left
            jb = -1
            if zero_thr:
                # thr == 0 and t_left <= pi/2: a hit in (0, tb] needs zu, zp of opposite
                # signs and t = atan(|zu| / |zp|) <= tb, i.e. |zu| <= |zp| tan(tb).
                tan_b = np.tan(tb)
                for j in range(K):
                    zu = Zu[j]
                    zp = Zp[j]
                    if zu * zp < 0.0 and j != last:
                        azu = abs(zu)
                        azp = abs(zp)
                        if azu < azp * tan_b:
                            tb = np.arctan(azu / azp)
                            tan_b = azu / azp
                            jb = j
            else:
                for j in range(K):
                    t = _next_hit(Zu[j], Zp[j], thr[j], j == last)
                    if t < tb:
                        tb = t
                        jb = j
            c = np.cos(tb)
            s = np.sin(tb)
            for j in range(K):
                zu = Zu[j]
                Zu[j] = zu * c + Zp[j] * s
                Zp[j] = -zu * s + Zp[j] * c
            for d in range(D):
                ud = u[d]
                u[d] = ud * c + p[d] * s
                p[d] = -ud * s + p[d] * c
            t_left -= tb
            if jb < 0:
                break
            events += 1
            vn = Zp[jb] / sq[jb]
            dl = -a[jb] if X[jb] else a[jb]   # log-lik change if we cross
            if vn * vn > -2.0 * dl:
                vnew = np.sqrt(vn * vn + 2.0 * dl)
                if vn < 0:
                    vnew = -vnew
                X[jb] = not X[jb]
                ll += dl
            else:
                vnew = -vn
            delta = (vnew - vn) / sq[jb]
            for d in range(D):
                p[d] += delta * M[jb, d]
            for j in range(K):
                Zp[j] += delta * G[jb, j]
            last = jb
        # resync to kill round-off drift
        Zu = M @ u
        for j in range(K):
            xj = Zu[j] > thr[j]
            if xj != X[j]:
                n_resync_fix += 1
                X[j] = xj
                ll += a[j] if xj else -a[j]
        cnt = 0.0
        for j in range(n_target):
            if X[j]:
                cnt += 1.0
        if it >= n_burn:
            for j in range(n_target):
                if X[j]:
                    sumX[j] += 1.0
        trace[it, 0] = ll
        trace[it, 1] = cnt
        trace[it, 2] = events
        for q in range(ncoef):
            trace[it, 3 + q] = u[coef_idx[q]]
    return sumX, trace, n_resync_fix


@nb.njit(cache=True)
def _ess_chain(u, M, thr, a, n_iter, n_burn, seed, n_target, coef_idx):
    """Exact elliptical Gibbs: theta | (u, nu) drawn exactly from exp(L(theta)) on [0, 2pi)."""
    np.random.seed(seed)
    K, D = M.shape
    two_pi = 2.0 * np.pi
    Zu = M @ u
    sumX = np.zeros(n_target)
    ncoef = coef_idx.shape[0]
    trace = np.zeros((n_iter, 3 + ncoef))
    nu = np.empty(D)
    pos = np.empty(2 * K)
    inc = np.empty(2 * K)
    for it in range(n_iter):
        for d in range(D):
            nu[d] = np.random.standard_normal()
        Zn = M @ nu
        l0 = 0.0
        ne = 0
        for j in range(K):
            if Zu[j] > thr[j]:
                l0 += a[j]
            r = np.sqrt(Zu[j] ** 2 + Zn[j] ** 2)
            if r <= abs(thr[j]):
                continue
            phi = np.arctan2(Zn[j], Zu[j])
            dd = np.arccos(thr[j] / r)
            pos[ne] = (phi - dd) % two_pi   # entering z > thr
            inc[ne] = a[j]
            ne += 1
            pos[ne] = (phi + dd) % two_pi   # leaving
            inc[ne] = -a[j]
            ne += 1
        order = np.argsort(pos[:ne])
        # intervals: [0, p0), [p0, p1), ..., [p_{ne-1}, 2pi)
        lv = np.empty(ne + 1)
        wid = np.empty(ne + 1)
        lv[0] = l0
        prev = 0.0
        for q in range(ne):
            wid[q] = pos[order[q]] - prev
            prev = pos[order[q]]
            lv[q + 1] = lv[q] + inc[order[q]]
        wid[ne] = two_pi - prev
        mx = lv.max()
        w = wid * np.exp(lv - mx)
        cw = np.cumsum(w)
        r = np.random.random() * cw[-1]
        q = np.searchsorted(cw, r)
        if q > ne:
            q = ne
        start = 0.0 if q == 0 else pos[order[q - 1]]
        theta = start + np.random.random() * wid[q]
        c, s = np.cos(theta), np.sin(theta)
        for d in range(D):
            u[d] = u[d] * c + nu[d] * s
        for j in range(K):
            Zu[j] = Zu[j] * c + Zn[j] * s
        ll = 0.0
        cnt = 0.0
        for j in range(K):
            if Zu[j] > thr[j]:
                ll += a[j]
                if j < n_target:
                    cnt += 1.0
                    if it >= n_burn:
                        sumX[j] += 1.0
        trace[it, 0] = ll
        trace[it, 1] = cnt
        trace[it, 2] = ne
        for qq in range(ncoef):
            trace[it, 3 + qq] = u[coef_idx[qq]]
    return sumX, trace


# ----------------------------------------------------------------------------- driver

def initial_states(noisy_one, basis, thr, rho, prior, chains, rng):
    """Even chains start from the prior, odd ones from a data-driven guess.

    Guess: latent = 2 (Y - 1/2) - t per class, least-squares projected on the basis,
    mapped to the whitened coordinates, plus a little jitter.
    """
    n = basis.shape[0]
    pinv = np.linalg.pinv(basis)
    D = basis.shape[1] * (2 if prior else 1)
    out = []
    for c in range(chains):
        if c % 2 == 0:
            out.append(rng.standard_normal(D))
            continue
        z = [pinv @ (2.0 * (noisy_one[k].ravel() - 0.5) - thr[min(k * n, len(thr) - 1)])
             for k in range(2)]
        if prior:
            s = np.sqrt(max(1e-6, 1.0 - rho * rho))
            u0 = np.concatenate([z[1], (z[0] - rho * z[1]) / s])
        else:
            u0 = z[0]
        out.append(u0 + 0.1 * rng.standard_normal(D))
    return out


def run_chains(a, M, G, thr, n_target, inits, n_traj, n_burn, seed, method="hmc",
               t_max=np.pi / 2, coef_idx=None, max_events=10 ** 7,
               betas=(1.0, 0.8, 0.62, 0.47, 0.35, 0.25)):
    """Run one chain per initial state; returns per-chain means (C, n_target) and traces."""
    if coef_idx is None:
        coef_idx = np.array([0], np.int64)
    means, traces, fixes = [], [], 0
    for c, u0 in enumerate(inits):
        u = np.array(u0, float)
        if method == "pt":
            s, tr = pt_chain(u, a, M, G, thr, n_target, n_traj, n_burn, seed + 7919 * c, betas,
                             coef_idx)
        elif method == "hmc":
            s, tr, fx = _hmc_chain(u, M, G, thr, a, n_traj, n_burn, t_max, seed + 7919 * c,
                                   n_target, coef_idx, max_events)
            fixes += fx
        else:
            s, tr = _ess_chain(u, M, thr, a, n_traj, n_burn, seed + 7919 * c, n_target,
                               coef_idx)
        means.append(s / max(1, n_traj - n_burn))
        traces.append(tr)
    return np.array(means), np.array(traces), fixes


def pt_chain(u0, a, M, G, thr, n_target, n_traj, n_burn, seed, betas, coef_idx=None):
    """Parallel tempering over the likelihood (a -> beta a), one HMC trajectory per replica
    per round, then alternating even/odd neighbour swaps.  Returns (sumX, trace) of the
    beta = 1 replica, like ``_hmc_chain``.  Cost: len(betas) trajectories per round."""
    if coef_idx is None:
        coef_idx = np.array([0], np.int64)
    rng = np.random.default_rng(seed)
    betas = np.asarray(betas, float)
    us = [np.array(u0, float) for _ in betas]
    lls = np.zeros(len(betas))
    sumX = np.zeros(n_target)
    trace = np.zeros((n_traj, 3 + len(coef_idx)))
    for it in range(n_traj):
        for k, b in enumerate(betas):
            s, tr, _ = _hmc_chain(us[k], M, G, thr, b * a, 1, 0 if (k == 0 and it >= n_burn) else 1,
                                  np.pi / 2, int(rng.integers(2 ** 31)), n_target, coef_idx, 10 ** 7)
            lls[k] = tr[0, 0] / b
            if k == 0:
                trace[it] = tr[0]
        for k in range(it % 2, len(betas) - 1, 2):
            if np.log(rng.random()) < (betas[k] - betas[k + 1]) * (lls[k + 1] - lls[k]):
                us[k], us[k + 1] = us[k + 1], us[k]
                lls[k], lls[k + 1] = lls[k + 1], lls[k]
        if it >= n_burn:
            x = (M[:n_target] @ us[0]) > thr[:n_target]
            sumX += x
            trace[it, 0] = lls[0]
            trace[it, 1] = x.sum()
    return sumX, trace


def split_rhat(x):
    """Split-R-hat of (chains, draws) (Gelman et al. BDA3)."""
    x = np.asarray(x, float)
    n = x.shape[1] // 2
    x = np.concatenate([x[:, :n], x[:, n:2 * n]], axis=0)
    w = x.var(axis=1, ddof=1).mean(axis=-1) if x.ndim == 3 else x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(axis=0, ddof=1)
    var = (n - 1) / n * w + b / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(var / w)


def exact_white_posterior(noisy, rho, sigma, occupancy, prior):
    """Closed form per cell for length_scale == 0 (2-class orthant prior x likelihood)."""
    from scipy.stats import multivariate_normal
    noisy = np.asarray(noisy, float)
    occ = np.broadcast_to(np.asarray(occupancy, float), (2,))
    t = ndtri(1.0 - occ)
    a1 = (noisy[:, 0] - 0.5) / sigma[0] ** 2
    if not prior:
        logit = a1 + np.log(occ[0] / (1 - occ[0]))
        return 1.0 / (1.0 + np.exp(-logit))
    a2 = (noisy[:, 1] - 0.5) / sigma[1] ** 2
    cov = np.array([[1.0, rho], [rho, 1.0]])
    p = {}
    for x1 in (0, 1):
        for x2 in (0, 1):
            sg = np.array([1.0 if x1 else -1.0, 1.0 if x2 else -1.0])
            # P(sg (Z - t) > 0) = P(-sg Z < -sg t)
            val = multivariate_normal(mean=np.zeros(2), cov=cov * np.outer(sg, sg)).cdf(-sg * t)
            p[x1, x2] = val
    lw = {k: np.log(p[k]) + k[0] * a1 + k[1] * a2 for k in p}
    mx = np.maximum.reduce(list(lw.values()))
    num = np.exp(lw[1, 0] - mx) + np.exp(lw[1, 1] - mx)
    den = num + np.exp(lw[0, 0] - mx) + np.exp(lw[0, 1] - mx)
    return num / den


def posterior_mean(noisy, rho, length_scale=4.0, sigma=(1.0, 0.3), occupancy=0.5,
                   prior=True, chains=4, sweeps=200, burn=50, seed=0, method="hmc",
                   return_details=False, betas=(1.0, 0.8, 0.62, 0.47, 0.35, 0.25)):
    """Per-cell P(X1 = 1 | noisy maps) for a batch of samples sharing (rho, length_scale).

    Parameters
    ----------
    noisy : (B, 2, H, W) gaussian-noise maps.
    sweeps : HMC trajectories per chain (travel time ~U(pi/4, pi/2)); ``burn`` discarded.
    method : "hmc" (plain exact HMC), "pt" (exact HMC inside parallel tempering over
        ``betas``; sweeps = PT rounds, each costing len(betas) trajectories; recommended
        with prior at high rho), "ess" (exact elliptical Gibbs; not recommended).

    Returns
    -------
    mean : (B, H, W) pooled posterior mean over chains.
    mc_error : (B, H, W) standard error from the between-chain spread (std / sqrt(chains)).
    details (optional) : list of dicts with per-chain means, traces, split-R-hats.
    """
    noisy = np.asarray(noisy, float)
    b, _, h, w = noisy.shape
    sigma = np.broadcast_to(np.asarray(sigma, float), (2,))
    basis = reduced_basis(h, w, length_scale)
    M, thr, n_target = constraint_system(basis, rho, occupancy, prior)
    G = np.ascontiguousarray(M @ M.T)
    weights = gaussian_weights(noisy, sigma, prior)
    rng = np.random.default_rng(seed)
    mean = np.empty((b, h, w))
    err = np.empty((b, h, w))
    details = []
    for i in range(b):
        inits = initial_states(noisy[i], basis, thr, rho, prior, chains, rng)
        cm, tr, fixes = run_chains(weights[i], M, G, thr, n_target, inits, sweeps, burn,
                                   seed * 1000003 + i * 101, method, betas=betas)
        mean[i] = cm.mean(axis=0).reshape(h, w)
        err[i] = (cm.std(axis=0, ddof=1) / np.sqrt(chains)).reshape(h, w) if chains > 1 \
            else np.nan
        if return_details:
            post = tr[:, burn:]
            details.append(dict(chain_means=cm, traces=tr, fixes=fixes,
                                rhat_count=split_rhat(post[:, :, 1]),
                                rhat_ll=split_rhat(post[:, :, 0])))
    if return_details:
        return mean, err, details
    return mean, err
