"""The ``lidar`` noise model: ray-cast lidar mapping from an ego pose, log-odds fusion."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.special import expit, logit

from .._params import Model, Param, per_class
from ._common import P01

__all__ = ["lidar", "MODEL"]

# Cells between the samples along a ray.
_STEP = 0.5


def lidar(rng, x, *, scans=4, beams=0, max_range=0.0, p_near=0.95, p_far=0.7, p_false=0.002,
          range_noise=0.5, jitter=1.0, p_occ=0.75, p_free=0.35, clamp=0.97, ego_y=0.5,
          ego_x=0.5, ground=0):
    """Simulated lidar occupancy mapping: ray casting, noisy returns, log-odds fusion.

    Each of ``scans`` scans casts ``beams`` rays from the ego pose (``ego_y``,
    ``ego_x`` as fractions of the map; Gaussian pose ``jitter`` in cells per scan).
    Rays are blocked by the union of the non-ground classes: an occupied cell is
    detected with a probability falling linearly from ``p_near`` at range 0 to
    ``p_far`` at ``max_range`` (a missed obstacle is passed through and seen as free);
    a free cell gives a spurious return with probability ``p_false``; the return's
    range has Gaussian error ``range_noise`` (cells).  Cells before the return are
    observed free, the return cell occupied, cells behind it are not observed.
    Ground classes (``ground=1``) never block rays; every cell a ray observes gives
    them evidence of their own state through the same detection probabilities.
    Evidence is fused per class with the inverse sensor model (log-odds of
    ``p_occ`` / ``p_free`` per observation, clamped to ``clamp``), and mapped back to
    probability; cells never observed stay exactly 0.5.
    """
    classes, height, width = x.shape
    occupied = (x >= 0.5).reshape(classes, -1)
    ground = per_class(ground, classes).astype(bool)
    blocking = occupied[~ground].any(axis=0)
    max_range = float(max_range) or 0.5 * float(np.hypot(height, width))
    beams = int(beams) or int(np.ceil(2 * np.pi * max_range))
    radii = (np.arange(int(np.ceil(max_range / _STEP))) + 0.5) * _STEP
    sensor = SimpleNamespace(p_detect=p_near + (p_far - p_near) * radii / max_range,
                             p_false=p_false, l_occ=logit(p_occ), l_free=logit(p_free))
    l_max = logit(clamp)
    logodds = np.zeros((classes, height * width))
    for _ in range(int(scans)):
        oy = ego_y * height + rng.normal(0.0, jitter)
        ox = ego_x * width + rng.normal(0.0, jitter)
        ray = _cast(rng, (oy, ox), (height, width), beams, radii, blocking, sensor,
                    range_noise)
        _fuse(rng, logodds, ray, occupied, ground, blocking, sensor)
        np.clip(logodds, -l_max, l_max, out=logodds)
    return expit(logodds).reshape(classes, height, width).astype(np.float32)


def _cast(rng, origin, shape, beams, radii, blocking, sensor, range_noise):
    """One scan's rays from ``origin``: the cell of every sample along each ray, which
    samples are observed free (``before``) and which is the return (``at_hit``)."""
    height, width = shape
    angles = (np.arange(beams) + rng.random()) * (2 * np.pi / beams)
    ys = origin[0] + np.sin(angles)[:, None] * radii
    xs = origin[1] + np.cos(angles)[:, None] * radii
    iy, ix = np.floor(ys).astype(np.intp), np.floor(xs).astype(np.intp)
    inside = np.logical_and.accumulate(
        (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width), axis=1
    )
    cell = np.where(inside, iy * width + ix, 0)
    # One observation per cell per ray: drop samples repeating the previous cell.
    fresh = inside.copy()
    fresh[:, 1:] &= cell[:, 1:] != cell[:, :-1]
    u = rng.random(cell.shape)
    blocked = blocking[cell] & fresh
    returns = np.where(blocked, u < sensor.p_detect, u < sensor.p_false) & fresh
    n = cell.shape[1]
    first = np.where(returns.any(axis=1), returns.argmax(axis=1), n)
    shift = np.rint(rng.normal(0.0, range_noise, beams) / _STEP).astype(np.intp)
    hit = np.where(first < n, np.clip(first + shift, 0, n - 1), n)
    index = np.arange(n)[None, :]
    before = fresh & (index < hit[:, None])
    at_hit = inside & (index == hit[:, None])
    return SimpleNamespace(cell=cell, before=before, at_hit=at_hit, seen=before | at_hit,
                           returned=first < n,
                           true_cell=cell[np.arange(beams), np.minimum(first, n - 1)])


def _fuse(rng, logodds, ray, occupied, ground, blocking, sensor):
    """Add one scan's evidence to every class's log-odds (cells flattened)."""
    cells = logodds.shape[1]
    # The return is occupied evidence for the blocking classes present at the true
    # return cell; a spurious return is blamed on one random blocking class.
    non_ground = np.flatnonzero(~ground)
    spurious_class = (non_ground[rng.integers(len(non_ground), size=len(ray.true_cell))]
                      if non_ground.size else None)
    for k in range(len(logodds)):
        if ground[k]:
            # Ground: evidence of its own state in every observed cell.
            v = rng.random(ray.cell.shape)
            says_occ = np.where(occupied[k][ray.cell], v < sensor.p_detect, v < sensor.p_false)
            weights = np.where(says_occ, sensor.l_occ, sensor.l_free)[ray.seen]
            logodds[k] += np.bincount(ray.cell[ray.seen], weights, minlength=cells)
            continue
        logodds[k] += sensor.l_free * np.bincount(ray.cell[ray.before], minlength=cells)
        from_k = occupied[k][ray.true_cell] & ray.returned
        if spurious_class is not None:
            spurious = ray.returned & ~blocking[ray.true_cell]
            from_k |= spurious & (spurious_class == k)
        rays = ray.at_hit & from_k[:, None]
        logodds[k] += sensor.l_occ * np.bincount(ray.cell[rays], minlength=cells)


MODEL = Model(
    "lidar", lidar,
    doc="ray-cast lidar mapping from an ego pose, log-odds fusion; unobserved = 0.5",
    params=(
        Param(name="scans", default=4, kind=int, lo=1, hi=1000, doc="scans fused"),
        # A ray per cell of a 4096-cell circle is about 26k rays: 100k is far above any
        # use, and keeps a typo from asking for gigabytes of ray samples.
        Param(name="beams", default=0, kind=int, lo=0, hi=100_000,
              doc="rays per scan (0: one per cell of the max-range circle)"),
        Param(name="max_range", default=0.0, lo=0.0, hi=100_000.0,
              doc="range in cells (0: half the map diagonal)"),
        Param(name="p_near", default=0.95, **P01, doc="detection probability at range 0"),
        Param(name="p_far", default=0.7, **P01, doc="detection probability at max range"),
        Param(name="p_false", default=0.002, **P01, doc="spurious return per free cell"),
        Param(name="range_noise", default=0.5, lo=0.0, doc="range error std in cells"),
        Param(name="jitter", default=1.0, lo=0.0, doc="ego pose std per scan, cells"),
        Param(name="p_occ", default=0.75, lo=0.5, hi=1.0, hi_open=True,
              doc="inverse sensor model: P(occupied | return)"),
        Param(name="p_free", default=0.35, lo=0.0, hi=0.5, lo_open=True,
              doc="inverse sensor model: P(occupied | pass-through)"),
        Param(name="clamp", default=0.97, lo=0.5, hi=1.0, lo_open=True, hi_open=True,
              doc="probability clamp of the fused map"),
        Param(name="ego_y", default=0.5, **P01, doc="ego row, fraction of height"),
        Param(name="ego_x", default=0.5, **P01, doc="ego column, fraction of width"),
        Param(name="ground", default=0, kind=int, lo=0, hi=1, per_class=True,
              doc="1 for ground classes that never block rays (family default)"),
    ),
)
