"""The ``camera`` noise model: camera-based BEV occupancy, a lift-splat network's errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import ndimage

from .._params import Model, Param, per_class
from .._portable import arctan2, exp, gaussian_filter1d, log, log1p, std
from ._common import P01

__all__ = ["camera", "MODEL"]


def camera(rng, x, *, cameras=6, fov=70.0, max_range=0.0, depth_noise=0.1, depth_error=0.05,
           angular_blur=1.0, opacity=0.5, ego_y=0.5, ego_x=0.5, ground=0):
    """Camera-based BEV occupancy: depth smeared along viewing rays, growing with range.

    What a lift-splat camera network gets wrong, on a polar grid around the ego
    (``ego_y``, ``ego_x`` as fractions of the map): ``cameras`` evenly spaced cameras,
    the first facing +x, each seeing ``fov`` degrees; cells outside every field of view
    or beyond ``max_range`` cells are not observed and read exactly 0.5.  Along each
    ray the view is blocked gradually by the non-ground classes (each occupied cell
    lets ``1 - opacity`` of the view through), so what lies behind an object is
    unobserved (0.5) rather than free.  What is seen is smeared along the ray by a
    Gaussian whose standard deviation is ``depth_noise`` times the range (monocular
    depth errors grow with distance; objects on one ray bleed into each other), shifted
    along the ray by a random depth error (``depth_error`` times the range, smooth
    across angles), and blurred across rays by ``angular_blur`` degrees (far cells
    blur over more cells).  A cell's output is its evidence weighted by how well it
    was seen, and 0.5 for the rest: ``smear(T * x) + 0.5 * (1 - smear(T))`` with
    ``T`` the visibility.  It composes with the other models (``camera+flip:fp=0.01``).
    """
    classes, height, width = x.shape
    ground = per_class(ground, classes).astype(bool)
    cy, cx = ego_y * height, ego_x * width
    # Never further than the map's farthest corner: beyond it there is nothing to see,
    # and the samples (and memory) grow with the range.
    corner = float(max(np.hypot(y - cy, col - cx) for y in (0, height) for col in (0, width)))
    max_range = min(float(max_range) or 0.5 * float(np.hypot(height, width)), max(corner, 1.0))
    polar = _polar_grid(max_range)
    ys = cy + np.sin(polar.angles)[:, None] * polar.radii - 0.5
    xs = cx + np.cos(polar.angles)[:, None] * polar.radii - 0.5
    # Each sample reads its own cell (order 0): a cell blocks the view exactly as much as
    # ``opacity`` says, whatever the number of samples that fall in it.
    values = np.stack([ndimage.map_coordinates(x[k], [ys, xs], order=0, mode="nearest")
                       for k in range(classes)])
    values = np.clip(values, 0.0, 1.0, dtype=np.float64)  # earlier models may leave [0, 1]
    visible = _visibility(values[~ground], ys, xs, (height, width), opacity, polar.radii)
    visible *= _in_view(polar.angles, cameras, fov)[:, None] & (polar.radii <= max_range)[None, :]
    # A random depth error, smooth across angles (a few degrees): a shift along log range.
    error = gaussian_filter1d(rng.standard_normal(len(polar.angles)),
                              5.0 / np.degrees(polar.da), mode="wrap")
    error *= depth_error / max(std(error), 1e-12)
    blur = SimpleNamespace(shift=log1p(np.clip(error, -0.9, None)) / polar.dl,
                           sigma=log1p(depth_noise) / polar.dl,
                           across=angular_blur / np.degrees(polar.da))
    seen = _smear(visible, blur)
    smeared = np.stack([_smear(visible * values[k], blur) + 0.5 * (1.0 - seen)
                        for k in range(classes)])
    return _to_map(smeared, polar, (cy, cx), (height, width), max_range)


def _polar_grid(max_range):
    """Log-spaced ranges and the angles of the rays (a smear or error proportional to
    range is a constant width in log range)."""
    r_min = 0.5
    dl = 1.0 / max_range
    # Samples at most a cell apart at max_range.
    n_r = max(2, int(np.ceil(log(max_range / r_min) / dl)) + 1)
    # Rays at most a cell apart at max_range (and every half degree nearer maps), so no
    # cell falls between two rays.
    n_a = max(720, int(np.ceil(2 * np.pi * max_range)))
    da = 2 * np.pi / n_a
    return SimpleNamespace(r_min=r_min, dl=dl, da=da, radii=r_min * exp(np.arange(n_r) * dl),
                           angles=np.arange(n_a) * da)


def _visibility(blockers, ys, xs, shape, opacity, radii):
    """The fraction of the view that reaches each sample: through every cell before its
    own cell (never its own: an object's front face is seen)."""
    height, width = shape
    # The cell each sample reads; past the map's edge the world goes on as at the edge
    # (mode "nearest"), seen like the rest.
    iy = np.clip(np.rint(ys), 0, height - 1)
    ix = np.clip(np.rint(xs), 0, width - 1)
    blocking = blockers.max(axis=0) if len(blockers) else np.zeros_like(ys)
    step = np.diff(radii, prepend=0.0)[None, :]
    through = log1p(-np.minimum(opacity * blocking, 1.0 - 1e-12)) * step
    before = np.cumsum(through, axis=1) - through
    cell = iy * width + ix
    entered = np.ones(cell.shape, bool)
    entered[:, 1:] = cell[:, 1:] != cell[:, :-1]
    first = np.maximum.accumulate(np.where(entered, np.arange(len(radii)), 0), axis=1)
    return exp(np.take_along_axis(before, first, axis=1))


def _in_view(angles, cameras, fov):
    """Whether each ray is in some camera's field of view."""
    heading = (angles[:, None] - 2 * np.pi * np.arange(int(cameras))[None, :] / int(cameras))
    off_axis = np.abs((heading + np.pi) % (2 * np.pi) - np.pi)
    return (off_axis <= np.radians(fov) / 2).any(axis=1)


def _smear(field, blur):
    """A polar field (angles, radii) shifted and smeared along the rays, blurred across."""
    n_a, n_r = field.shape
    rows = np.arange(n_r)[None, :] - blur.shift[:, None]
    out = ndimage.map_coordinates(field, [np.broadcast_to(np.arange(n_a)[:, None], rows.shape),
                                          rows], order=1, mode="nearest")
    if blur.sigma > 0:
        # The ends extend: the ego's surroundings and the last range are seen as they are.
        out = gaussian_filter1d(out, blur.sigma, axis=1, mode="nearest")
    if blur.across > 0:
        out = gaussian_filter1d(out, blur.across, axis=0, mode="wrap")
    return out


def _to_map(polar_maps, polar, centre, shape, max_range):
    """Back to the map: each cell reads the polar grid at its own (angle, log range)."""
    (cy, cx), (height, width) = centre, shape
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    r = np.hypot(yy - cy, xx - cx)
    a = (arctan2(yy - cy, xx - cx) % (2 * np.pi)) / polar.da
    row = log(np.maximum(r, polar.r_min) / polar.r_min) / polar.dl
    wrapped = np.concatenate([polar_maps, polar_maps[:, :1]], axis=1)  # angle 2*pi is angle 0
    out = np.stack([ndimage.map_coordinates(wrapped[k], [a, row], order=1, mode="nearest")
                    for k in range(len(polar_maps))])
    out[:, r > max_range] = 0.5
    return np.clip(out, 0.0, 1.0).astype(np.float32)  # rounding may step past 0 or 1


MODEL = Model(
    "camera", camera,
    doc="camera-based BEV: depth smeared along rays growing with range, occlusion, "
    "field of view; unobserved = 0.5",
    params=(
        Param(name="cameras", default=6, kind=int, lo=1, hi=32,
              doc="cameras, evenly spaced, the first facing +x"),
        Param(name="fov", default=70.0, lo=0.0, hi=360.0, lo_open=True,
              doc="field of view of each camera, degrees"),
        Param(name="max_range", default=0.0, lo=0.0, hi=100_000.0,
              doc="range in cells (0: half the map diagonal)"),
        Param(name="depth_noise", default=0.1, lo=0.0, hi=2.0,
              doc="depth smear std as a fraction of range"),
        Param(name="depth_error", default=0.05, lo=0.0, hi=0.5,
              doc="random depth error std as a fraction of range (smooth across angles)"),
        Param(name="angular_blur", default=1.0, lo=0.0, hi=45.0, doc="blur across rays, degrees"),
        Param(name="opacity", default=0.5, **P01,
              doc="fraction of the view one occupied cell blocks"),
        Param(name="ego_y", default=0.5, **P01, doc="ego row, fraction of height"),
        Param(name="ego_x", default=0.5, **P01, doc="ego column, fraction of width"),
        Param(name="ground", default=0, kind=int, lo=0, hi=1, per_class=True,
              doc="1 for ground classes that never block the view (family default)"),
    ),
)
