"""Exact Hamiltonian Monte Carlo for thresholded Gaussian latents (numba kernels).

The target is a Gaussian latent ``Z`` (one value per cell and class, covariance
``corr (x) sigma``: the classes' correlation times a stationary field's covariance on the
periodic grid) under a log-likelihood that depends on ``Z`` only through which latents
lie above their thresholds, i.e. which cells of which classes are occupied: piecewise
constant, with one wall per cell and class.  For a Gaussian prior with identity mass
the Hamiltonian flow is a rotation, so the time a latent reaches its wall is closed
form; at a wall the momentum normal to it pays the log-likelihood's jump (it
refracts) or, short of it, reflects (Pakman & Paninski 2013, "Auxiliary-variable exact
Hamiltonian Monte Carlo samplers for binary distributions"; Afshar & Domke 2015).  No
step size, no rejection: every trajectory leaves the posterior invariant.

The sampler runs in the latents' own coordinates (a "wall space"): position and
momentum of every latent, a fresh momentum drawn each trajectory as ``M p``
(``M = mix (x) basis``, ``p`` standard normal), and an impulse at a wall adds a row of
``corr (x) sigma`` to the momentum.  Between walls nothing changes state, so each cell's
time spent occupied along a trajectory is exact: its average over the trajectory is an
unbiased estimate of the posterior occupancy (the flow preserves the posterior at every
time), with far less variance than the trajectory's end point alone.

Written out loop by loop, with no BLAS and no fast-math: the same bits on every CPU
given the same seed (a chain is chaotic: a last-bit difference would become another
chain).
"""

from __future__ import annotations

import os

# numba vectorises loops of transcendental calls with Intel's SVML where it is installed,
# whose bits differ from the C library's: off, so the kernels' bits do not depend on it
# (read when numba is first imported, as here through the sampled posterior).
os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")

import numba as nb  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["run_chains", "project", "ridge"]

# A trajectory longer than this many wall events is a bug (measured: hundreds at 32x32).
_MAX_EVENTS = 10_000_000
_NEAR = 1e-10  # a wall just crossed is not crossed again at time ~0 by round-off


@nb.njit(cache=True, nogil=True)
def _hit_time(zu, zp, thr, just_crossed):
    """First t in (0, 2 pi) with zu cos t + zp sin t = thr (inf if never)."""
    r = np.sqrt(zu * zu + zp * zp)
    if r <= abs(thr):
        return np.inf
    phi = np.arctan2(zp, zu)
    d = np.arccos(thr / r)
    two_pi = 2.0 * np.pi
    t1 = (phi - d) % two_pi
    t2 = (phi + d) % two_pi
    lo = _NEAR if just_crossed else 0.0
    best = np.inf
    if t1 > lo:
        best = t1
    if lo < t2 < best:
        best = t2
    return best


@nb.njit(cache=True, nogil=True)
def _next_wall(zu, zp, thr, last, t_left, zero):
    """The first wall reached within ``t_left`` and when: (t, wall), wall -1 if none.

    ``zero``: every threshold is 0 and ``t_left`` <= pi/2, so a latent reaches its wall
    in time only if it heads towards 0, at t = atan(|zu| / |zp|): one comparison per wall.
    """
    best = t_left
    wall = -1
    if zero:
        tan_best = np.tan(t_left)
        for j in range(zu.shape[0]):
            a = zu[j]
            b = zp[j]
            if a * b < 0.0 and j != last and abs(a) < abs(b) * tan_best:
                tan_best = abs(a) / abs(b)
                wall = j
        if wall >= 0:
            best = np.arctan(tan_best)
        return best, wall
    for j in range(zu.shape[0]):
        t = _hit_time(zu[j], zp[j], thr[j], j == last)
        if t < best:
            best = t
            wall = j
    return best, wall


@nb.njit(cache=True, nogil=True)
def _rotate(zu, zp, t):
    c = np.cos(t)
    s = np.sin(t)
    for j in range(zu.shape[0]):
        a = zu[j]
        zu[j] = a * c + zp[j] * s
        zp[j] = -a * s + zp[j] * c


@nb.njit(cache=True, nogil=True)
def _impulse(zp, wall, delta, corr, sigma):
    """Add ``delta`` times row ``wall`` of ``corr (x) sigma`` to ``zp``."""
    n = sigma.shape[0]
    slot, cell = wall // n, wall % n
    row = sigma[cell]
    for c in range(corr.shape[0]):
        k = delta * corr[slot, c]
        if k == 0.0:
            continue
        part = zp[c * n:(c + 1) * n]
        for j in range(n):
            part[j] += k * row[j]


@nb.njit(cache=True, nogil=True)
def _cross(zp, wall, state, table, bits, norm, corr, sigma):
    """Refract or reflect at ``wall``; returns the log-likelihood change (0 if reflected)."""
    n = sigma.shape[0]
    cell = wall % n
    old = state[cell]
    new = old ^ bits[wall // n]
    jump = table[cell, new] - table[cell, old]
    vn = zp[wall] / norm
    if vn * vn > -2.0 * jump:
        vnew = np.sqrt(vn * vn + 2.0 * jump)
        if vn < 0.0:
            vnew = -vnew
        state[cell] = new
    else:
        vnew = -vn
        jump = 0.0
    _impulse(zp, wall, (vnew - vn) / norm, corr, sigma)
    return jump


@nb.njit(cache=True, nogil=True)
def _trajectory(zu, zp, state, table, thr, bits, norm, corr, sigma, length, zero, busy):
    """Follow the flow for ``length``; ``busy`` gets each cell's time with the target
    (slot 0) occupied.  Returns (log-likelihood change, wall events)."""
    n = sigma.shape[0]
    since = np.zeros(n)
    for cell in range(n):
        busy[cell] = 0.0
    now, last, events, change = 0.0, -1, 0, 0.0
    while events < _MAX_EVENTS:
        t, wall = _next_wall(zu, zp, thr, last, length - now, zero)
        _rotate(zu, zp, t)
        now += t
        if wall < 0:
            break
        events += 1
        before = state[wall % n]
        change += _cross(zp, wall, state, table, bits, norm, corr, sigma)
        if wall < n and state[wall] != before:
            if state[wall] & bits[0]:
                since[wall] = now
            else:
                busy[wall] += now - since[wall]
        last = wall
    for cell in range(n):
        if state[cell] & bits[0]:
            busy[cell] += length - since[cell]
    return change, events


@nb.njit(cache=True, nogil=True)
def project(out, mix, basis, coef):
    """``out = (mix (x) basis) coef``: latents of every slot from whitened coefficients.

    ``mix`` (slots, L) mixes the L white fields, ``basis`` (cells, m) smooths them (an
    empty basis means the identity: white fields), ``coef`` (L, m or cells).
    """
    slots, fields = mix.shape
    n = out.shape[0] // slots
    white = basis.shape[1] == 0
    smooth = np.empty((fields, n))
    for k in range(fields):
        for i in range(n):
            if white:
                smooth[k, i] = coef[k, i]
                continue
            total = 0.0
            for q in range(basis.shape[1]):
                total += basis[i, q] * coef[k, q]
            smooth[k, i] = total
    for c in range(slots):
        for i in range(n):
            total = 0.0
            for k in range(fields):
                total += mix[c, k] * smooth[k, i]
            out[c * n + i] = total


@nb.njit(cache=True, nogil=True)
def _chain(zu, table, thr, bits, mix, basis, corr, sigma, draws, burn, t_max, seed, mean, trace):
    """One chain from ``zu``: ``mean`` gets the target's time-averaged occupancy over the
    trajectories after ``burn``; ``trace`` each trajectory's end (log-likelihood, target
    count, sum of the target's latents, cells where every class read agrees, wall
    events, cells put back in step with their latents: see _resync)."""
    np.random.seed(seed)
    n = sigma.shape[0]
    norm = np.sqrt(corr[0, 0] * sigma[0, 0])
    zero = t_max <= np.pi / 2
    for j in range(thr.shape[0]):
        zero = zero and thr[j] == 0.0
    state = np.zeros(n, np.int64)
    for j in range(zu.shape[0]):
        if zu[j] > thr[j]:
            state[j % n] |= bits[j // n]
    ll = 0.0
    for cell in range(n):
        ll += table[cell, state[cell]]
    size = n if basis.shape[1] == 0 else basis.shape[1]
    coef = np.empty((mix.shape[1], size))
    zp = np.empty_like(zu)
    busy = np.empty(n)
    for cell in range(n):
        mean[cell] = 0.0
    for it in range(burn + draws):
        for k in range(coef.shape[0]):
            for q in range(size):
                coef[k, q] = np.random.standard_normal()
        project(zp, mix, basis, coef)
        length = t_max * (0.5 + 0.5 * np.random.random())
        change, events = _trajectory(zu, zp, state, table, thr, bits, norm, corr, sigma,
                                     length, zero, busy)
        ll += change + _resync(zu, thr, state, table, bits, n, trace[it])
        if it >= burn:
            for cell in range(n):
                mean[cell] += busy[cell] / length / draws
        _record(trace[it], zu, state, bits, ll, events, n)


@nb.njit(cache=True, nogil=True)
def _resync(zu, thr, state, table, bits, n, row):
    """Put back in step a cell whose recorded state disagrees with its latent (a latent
    left at its threshold to the last bit by a reflection could cross it by round-off
    without an event); returns the log-likelihood change and counts them in ``row[5]``."""
    change, fixes = 0.0, 0
    for j in range(zu.shape[0]):
        cell, bit = j % n, bits[j // n]
        if (zu[j] > thr[j]) != ((state[cell] & bit) != 0):
            new = state[cell] ^ bit
            change += table[cell, new] - table[cell, state[cell]]
            state[cell] = new
            fixes += 1
    row[5] = fixes
    return change


@nb.njit(cache=True, nogil=True)
def _record(row, zu, state, bits, ll, events, n):
    everyone = 0
    for b in bits:
        everyone |= b
    count, total, agree = 0.0, 0.0, 0.0
    for cell in range(n):
        if state[cell] & bits[0]:
            count += 1.0
        if state[cell] == 0 or state[cell] == everyone:
            agree += 1.0
        total += zu[cell]
    row[0] = ll
    row[1] = count
    row[2] = total
    row[3] = agree
    row[4] = events


@nb.njit(cache=True, parallel=True)
def run_chains(starts, tables, owner, thr, bits, mix, basis, corr, sigma, draws, burn, t_max,
               seeds):
    """Run one chain per row of ``starts`` (chains, walls), in parallel.

    Chain ``c`` reads the log-likelihood table ``tables[owner[c]]`` (cells, states) and
    draws from ``seeds[c]``: its result does not depend on how the chains are spread
    over threads.  Returns the chains' time-averaged target occupancy (chains, cells)
    and their traces (chains, burn + draws, 6).
    """
    chains = starts.shape[0]
    n = sigma.shape[0]
    means = np.zeros((chains, n))
    traces = np.zeros((chains, burn + draws, 6))
    for c in nb.prange(chains):
        zu = starts[c].copy()
        _chain(zu, tables[owner[c]], thr, bits, mix, basis, corr, sigma, draws, burn, t_max,
               seeds[c], means[c], traces[c])
    return means, traces


@nb.njit(cache=True, nogil=True)
def ridge(latent, basis, out):
    """``out`` = the coefficients whose field is closest to ``latent`` under a standard
    normal prior on them (basis columns are orthogonal): (B'B + I)^-1 B' latent."""
    if basis.shape[1] == 0:
        for i in range(latent.shape[0]):
            out[i] = latent[i] / 2.0
        return
    for q in range(basis.shape[1]):
        dot, squared = 0.0, 0.0
        for i in range(latent.shape[0]):
            dot += basis[i, q] * latent[i]
            squared += basis[i, q] * basis[i, q]
        out[q] = dot / (squared + 1.0)
