"""Noise models: corrupt clean class maps into observed occupancy probabilities.

Every model is ``model(rng, x, **params) -> noisy`` where ``x`` is the current
(C, H, W) map in occupancy-probability space (the clean map as float for the first
model of a composition) and ``noisy`` is ``float32`` of the same shape.  A spec string
names one or several models, applied left to right with ``+``::

    gaussian:sigma=0.3
    flip:fp=0.05,fn=0.1
    lidar+confusion:p=0.1
    gaussian:sigma=1.0/0.3        # one value per class, separated by '/'

Models that need a binary map (``lidar``, ``confusion``) read ``x >= 0.5`` as occupied.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit, ndtri

from ._fields import smooth_unit_variance
from ._params import ParamError, Model, Param, per_class

__all__ = ["gaussian", "flip", "clutter", "lidar", "camera", "confusion", "NOISE_MODELS",
           "apply_noise", "apply_noise_sequence"]


def _shared(rng, shape, kappa, class_axis=0):
    """Standard normal fields sharing a component across ``class_axis``: corr = kappa."""
    independent = rng.standard_normal(shape, dtype=np.float32)
    if kappa == 0:
        return independent
    common_shape = list(shape)
    common_shape[class_axis] = 1
    common = rng.standard_normal(common_shape, dtype=np.float32)
    return np.sqrt(kappa) * common + np.sqrt(1.0 - kappa) * independent


def gaussian(rng, x, *, sigma=0.3, kappa=0.0):
    """Additive Gaussian noise on probabilities (not clipped, so values leave [0, 1]).

    Parameters
    ----------
    sigma : float or tuple
        Standard deviation, one value or one per class.
    kappa : float
        Correlation of the noise between classes (a shared component), in [0, 1].
    """
    return _add(x, sigma, _shared(rng, x.shape, kappa))


def _add(x, sigma, unit):
    """``x`` plus unit noise scaled by each class's ``sigma``."""
    return (x + per_class(sigma, x.shape[0])[:, None, None] * unit).astype(np.float32)


def flip(rng, x, *, fp=0.05, fn=0.1):
    """Per-cell false positives (empty -> occupied) and false negatives (occupied -> empty).

    A flipped cell takes ``1 - x``, which for binary input swaps 0 and 1.
    """
    classes = x.shape[0]
    occupied = x >= 0.5
    u = rng.random(x.shape)
    rate = np.where(occupied, per_class(fn, classes)[:, None, None],
                    per_class(fp, classes)[:, None, None])
    return np.where(u < rate, 1.0 - x, x).astype(np.float32)


def clutter(rng, x, *, rate=0.02, dropout=0.02, size=3.0, kappa=0.0):
    """Spatially correlated false-occupancy blobs and dropouts.

    Two smooth random fields (Gaussian kernel of ``size`` cells) are thresholded so
    that a fraction ``rate`` of cells becomes a false-occupancy blob (set to 1) and a
    fraction ``dropout`` drops out (set to 0); blobs win where both fall.  ``kappa``
    correlates the fields of different classes.
    """
    classes = x.shape[0]
    fields = smooth_unit_variance(_shared(rng, (2, *x.shape), kappa, class_axis=1), size)
    blob_t = ndtri(1.0 - per_class(rate, classes))[:, None, None]
    drop_t = ndtri(1.0 - per_class(dropout, classes))[:, None, None]
    out = np.where(fields[1] > drop_t, 0.0, x)
    return np.where(fields[0] > blob_t, 1.0, out).astype(np.float32)


def confusion(rng, x, *, p=0.1):
    """Cross-class noise: a fraction ``p`` of a class's occupied cells is reported in another.

    A confused cell reads free (``1 - x``) in its own class and occupied (the larger
    of the two values) in a uniformly chosen other class.  All decisions are taken
    from the input, so the order of the classes does not matter.
    """
    classes = x.shape[0]
    if classes < 2:
        raise ParamError("confusion needs at least 2 classes")
    moved = (x >= 0.5) & (rng.random(x.shape) < per_class(p, classes)[:, None, None])
    # Destination k + offset (mod C), offset uniform in 1..C-1: any other class.
    offset = rng.integers(1, classes, size=x.shape)
    out = np.where(moved, 1.0 - x, x)
    for k in range(classes):
        dest = (k + offset[k]) % classes
        for j in range(classes):
            if j != k:
                cells = moved[k] & (dest == j)
                out[j][cells] = np.maximum(out[j][cells], x[k][cells])
    return out.astype(np.float32)


def lidar(
    rng,
    x,
    *,
    scans=4,
    beams=0,
    max_range=0.0,
    p_near=0.95,
    p_far=0.7,
    p_false=0.002,
    range_noise=0.5,
    jitter=1.0,
    p_occ=0.75,
    p_free=0.35,
    clamp=0.97,
    ego_y=0.5,
    ego_x=0.5,
    ground=0,
):
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
    occupied = x >= 0.5
    ground = per_class(ground, classes).astype(bool)
    blocking = occupied[~ground].any(axis=0).ravel()
    max_range = float(max_range) or 0.5 * float(np.hypot(height, width))
    beams = int(beams) or int(np.ceil(2 * np.pi * max_range))
    step = 0.5
    radii = (np.arange(int(np.ceil(max_range / step))) + 0.5) * step
    p_detect = p_near + (p_far - p_near) * radii / max_range
    l_occ, l_free, l_max = logit(p_occ), logit(p_free), logit(clamp)
    logodds = np.zeros((classes, height * width))
    flat_occ = occupied.reshape(classes, -1)
    non_ground = np.flatnonzero(~ground)
    for _ in range(int(scans)):
        oy = ego_y * height + rng.normal(0.0, jitter)
        ox = ego_x * width + rng.normal(0.0, jitter)
        angles = (np.arange(beams) + rng.random()) * (2 * np.pi / beams)
        ys = oy + np.sin(angles)[:, None] * radii
        xs = ox + np.cos(angles)[:, None] * radii
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
        returns = np.where(blocked, u < p_detect, u < p_false) & fresh
        n = cell.shape[1]
        first = np.where(returns.any(axis=1), returns.argmax(axis=1), n)
        shift = np.rint(rng.normal(0.0, range_noise, beams) / step).astype(np.intp)
        hit = np.where(first < n, np.clip(first + shift, 0, n - 1), n)
        # The return is occupied evidence for the blocking classes present at the true
        # return cell; a spurious return is blamed on one random blocking class.
        true_cell = cell[np.arange(beams), np.minimum(first, n - 1)]
        spurious_class = non_ground[rng.integers(len(non_ground), size=beams)] if non_ground.size else None
        index = np.arange(n)[None, :]
        before = fresh & (index < hit[:, None])
        at_hit = inside & (index == hit[:, None])
        seen = before | at_hit
        for k in range(classes):
            if ground[k]:
                # Ground: evidence of its own state in every observed cell.
                v = rng.random(cell.shape)
                says_occ = np.where(flat_occ[k][cell], v < p_detect, v < p_false)
                weights = np.where(says_occ, l_occ, l_free)[seen]
                logodds[k] += np.bincount(cell[seen], weights, minlength=height * width)
                continue
            logodds[k] += l_free * np.bincount(cell[before], minlength=height * width)
            from_k = flat_occ[k][true_cell] & (first < n)
            if spurious_class is not None:
                spurious = (first < n) & ~blocking[true_cell]
                from_k |= spurious & (spurious_class == k)
            rays = at_hit & from_k[:, None]
            logodds[k] += l_occ * np.bincount(cell[rays], minlength=height * width)
        np.clip(logodds, -l_max, l_max, out=logodds)
    return expit(logodds).reshape(classes, height, width).astype(np.float32)


def camera(
    rng,
    x,
    *,
    cameras=6,
    fov=70.0,
    max_range=0.0,
    depth_noise=0.1,
    depth_error=0.05,
    angular_blur=1.0,
    opacity=0.5,
    ego_y=0.5,
    ego_x=0.5,
    ground=0,
):
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
    from scipy import ndimage

    classes, height, width = x.shape
    ground = per_class(ground, classes).astype(bool)
    cy, cx = ego_y * height, ego_x * width
    # Never further than the map's farthest corner: beyond it there is nothing to see,
    # and the samples (and memory) grow with the range.
    corner = float(max(np.hypot(y - cy, x - cx) for y in (0, height) for x in (0, width)))
    max_range = min(float(max_range) or 0.5 * float(np.hypot(height, width)), max(corner, 1.0))
    # Log-spaced range samples: a smear or error proportional to range is a constant
    # width there.  Samples are at most a cell apart at max_range.
    r_min = 0.5
    dl = 1.0 / max_range
    n_r = max(2, int(np.ceil(np.log(max_range / r_min) / dl)) + 1)
    radii = r_min * np.exp(np.arange(n_r) * dl)
    # Rays at most a cell apart at max_range (and every half degree nearer maps), so no
    # cell falls between two rays.
    n_a = max(720, int(np.ceil(2 * np.pi * max_range)))
    da = 2 * np.pi / n_a
    angles = np.arange(n_a) * da
    ys = cy + np.sin(angles)[:, None] * radii - 0.5
    xs = cx + np.cos(angles)[:, None] * radii - 0.5
    # The cell each sample reads (order 0 below); past the map's edge the world goes on
    # as at the edge (mode "nearest"), seen like the rest.
    iy = np.clip(np.rint(ys), 0, height - 1)
    ix = np.clip(np.rint(xs), 0, width - 1)
    # Each sample reads its own cell (order 0): a cell blocks the view exactly as much as
    # ``opacity`` says, whatever the number of samples that fall in it.
    values = np.stack([ndimage.map_coordinates(x[k], [ys, xs], order=0, mode="nearest")
                       for k in range(classes)])
    values = np.clip(values, 0.0, 1.0, dtype=np.float64)  # earlier models may leave [0, 1]
    # Visibility: the view through every cell before this sample's cell (never its own:
    # an object's front face is seen).
    blocking = values[~ground].max(axis=0) if (~ground).any() else np.zeros_like(ys)
    step = np.diff(radii, prepend=0.0)[None, :]
    through = np.log1p(-np.minimum(opacity * blocking, 1.0 - 1e-12)) * step
    before = np.cumsum(through, axis=1) - through
    cell = iy * width + ix
    entered = np.ones(cell.shape, bool)
    entered[:, 1:] = cell[:, 1:] != cell[:, :-1]
    first = np.maximum.accumulate(np.where(entered, np.arange(n_r), 0), axis=1)
    visible = np.exp(np.take_along_axis(before, first, axis=1))
    heading = (angles[:, None] - 2 * np.pi * np.arange(int(cameras))[None, :] / int(cameras))
    off_axis = np.abs((heading + np.pi) % (2 * np.pi) - np.pi)
    in_view = (off_axis <= np.radians(fov) / 2).any(axis=1)
    visible *= in_view[:, None] & (radii <= max_range)[None, :]
    # A random depth error, smooth across angles (a few degrees): a shift along log range.
    error = ndimage.gaussian_filter1d(rng.standard_normal(n_a), 5.0 / np.degrees(da),
                                      mode="wrap")
    error *= depth_error / max(float(error.std()), 1e-12)
    shift = np.log1p(np.clip(error, -0.9, None)) / dl
    sigma = np.log1p(depth_noise) / dl

    def smear(field):  # (angles, radii): shifted, smeared along rays, blurred across
        rows = np.arange(n_r)[None, :] - shift[:, None]
        out = ndimage.map_coordinates(field, [np.broadcast_to(np.arange(n_a)[:, None], rows.shape),
                                              rows], order=1, mode="nearest")
        if sigma > 0:
            # The ends extend: the ego's surroundings and the last range are seen as they are.
            out = ndimage.gaussian_filter1d(out, sigma, axis=1, mode="nearest")
        if angular_blur > 0:
            out = ndimage.gaussian_filter1d(out, angular_blur / np.degrees(da), axis=0,
                                            mode="wrap")
        return out

    seen = smear(visible)
    polar = np.stack([smear(visible * values[k]) + 0.5 * (1.0 - seen) for k in range(classes)])
    # Back to the map: each cell reads the polar grid at its own (angle, log range).
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    r = np.hypot(yy - cy, xx - cx)
    a = (np.arctan2(yy - cy, xx - cx) % (2 * np.pi)) / da
    row = np.log(np.maximum(r, r_min) / r_min) / dl
    wrapped = np.concatenate([polar, polar[:, :1]], axis=1)  # angle 2*pi is angle 0
    out = np.stack([ndimage.map_coordinates(wrapped[k], [a, row], order=1, mode="nearest")
                    for k in range(classes)])
    out[:, r > max_range] = 0.5
    return np.clip(out, 0.0, 1.0).astype(np.float32)  # rounding may step past 0 or 1


_P01 = dict(lo=0.0, hi=1.0)

NOISE_MODELS: dict[str, Model] = {
    "gaussian": Model(
        "gaussian", gaussian,
        doc="additive Gaussian noise on probabilities (not clipped)",
        params=(
            Param("sigma", 0.3, lo=0.0, lo_open=True, doc="standard deviation"),
            Param("kappa", 0.0, **_P01, per_class=False, doc="noise correlation between classes"),
        ),
    ),
    "flip": Model(
        "flip", flip,
        doc="per-cell false positives and false negatives",
        params=(
            Param("fp", 0.05, **_P01, doc="P(empty cell reads occupied)"),
            Param("fn", 0.1, **_P01, doc="P(occupied cell reads empty)"),
        ),
    ),
    "clutter": Model(
        "clutter", clutter,
        doc="spatially correlated false-occupancy blobs and dropouts",
        params=(
            Param("rate", 0.02, **_P01, doc="fraction of cells in false-occupancy blobs"),
            Param("dropout", 0.02, **_P01, doc="fraction of cells dropped to 0"),
            Param("size", 3.0, lo=0.0, doc="blob length scale in cells", per_class=False),
            Param("kappa", 0.0, **_P01, per_class=False, doc="blob correlation between classes"),
        ),
    ),
    "lidar": Model(
        "lidar", lidar,
        doc="ray-cast lidar mapping from an ego pose, log-odds fusion; unobserved = 0.5",
        params=(
            Param("scans", 4, lo=1, hi=1000, kind=int, per_class=False, doc="scans fused"),
            # A ray per cell of a 4096-cell circle is about 26k rays: 100k is far above any
            # use, and keeps a typo from asking for gigabytes of ray samples.
            Param("beams", 0, lo=0, hi=100_000, kind=int, per_class=False,
                  doc="rays per scan (0: one per cell of the max-range circle)"),
            Param("max_range", 0.0, lo=0.0, hi=100_000.0, per_class=False,
                  doc="range in cells (0: half the map diagonal)"),
            Param("p_near", 0.95, **_P01, per_class=False, doc="detection probability at range 0"),
            Param("p_far", 0.7, **_P01, per_class=False, doc="detection probability at max range"),
            Param("p_false", 0.002, **_P01, per_class=False, doc="spurious return per free cell"),
            Param("range_noise", 0.5, lo=0.0, per_class=False, doc="range error std in cells"),
            Param("jitter", 1.0, lo=0.0, per_class=False, doc="ego pose std per scan, cells"),
            Param("p_occ", 0.75, lo=0.5, hi=1.0, hi_open=True, per_class=False,
                  doc="inverse sensor model: P(occupied | return)"),
            Param("p_free", 0.35, lo=0.0, hi=0.5, lo_open=True, per_class=False,
                  doc="inverse sensor model: P(occupied | pass-through)"),
            Param("clamp", 0.97, lo=0.5, hi=1.0, lo_open=True, hi_open=True, per_class=False,
                  doc="probability clamp of the fused map"),
            Param("ego_y", 0.5, **_P01, per_class=False, doc="ego row, fraction of height"),
            Param("ego_x", 0.5, **_P01, per_class=False, doc="ego column, fraction of width"),
            Param("ground", 0, lo=0, hi=1, kind=int,
                  doc="1 for ground classes that never block rays (family default)"),
        ),
    ),
    "camera": Model(
        "camera", camera,
        doc="camera-based BEV: depth smeared along rays growing with range, occlusion, "
        "field of view; unobserved = 0.5",
        params=(
            Param("cameras", 6, lo=1, hi=32, kind=int, per_class=False,
                  doc="cameras, evenly spaced, the first facing +x"),
            Param("fov", 70.0, lo=0.0, hi=360.0, lo_open=True, per_class=False,
                  doc="field of view of each camera, degrees"),
            Param("max_range", 0.0, lo=0.0, hi=100_000.0, per_class=False,
                  doc="range in cells (0: half the map diagonal)"),
            Param("depth_noise", 0.1, lo=0.0, hi=2.0, per_class=False,
                  doc="depth smear std as a fraction of range"),
            Param("depth_error", 0.05, lo=0.0, hi=0.5, per_class=False,
                  doc="random depth error std as a fraction of range (smooth across angles)"),
            Param("angular_blur", 1.0, lo=0.0, hi=45.0, per_class=False,
                  doc="blur across rays, degrees"),
            Param("opacity", 0.5, **_P01, per_class=False,
                  doc="fraction of the view one occupied cell blocks"),
            Param("ego_y", 0.5, **_P01, per_class=False, doc="ego row, fraction of height"),
            Param("ego_x", 0.5, **_P01, per_class=False, doc="ego column, fraction of width"),
            Param("ground", 0, lo=0, hi=1, kind=int,
                  doc="1 for ground classes that never block the view (family default)"),
        ),
    ),
    "confusion": Model(
        "confusion", confusion,
        doc="cross-class noise: occupied cells reported in another class",
        params=(Param("p", 0.1, **_P01, doc="fraction of occupied cells confused"),),
    ),
}


def apply_noise(rng, clean, steps) -> np.ndarray:
    """Apply resolved noise ``steps`` [(name, params), ...] left to right."""
    x = clean.astype(np.float32)
    for name, params in steps:
        x = NOISE_MODELS[name].func(rng, x, **params)
    return x


def apply_noise_sequence(rng, clean, steps, memory: float = 0.0) -> np.ndarray:
    """Noise ``steps`` applied to each frame of a (T, C, H, W) sequence in turn.

    Every frame's noise is drawn anew from ``rng``, so frame 0 is :func:`apply_noise` of
    frame 0.  With ``memory`` > 0 the ``gaussian`` steps' noise persists in each cell:
    ``n_t = memory * n_{t-1} + sqrt(1 - memory^2) * e_t`` with ``e_t`` the frame's fresh
    draw, so every frame keeps its marginal law and consecutive frames' noise in a cell
    (of the moving grid: a sensor's own artefact) has correlation ``memory``.
    """
    out = np.empty(clean.shape, np.float32)
    carried: dict[int, np.ndarray] = {}
    for t, frame in enumerate(clean):
        x = frame.astype(np.float32)
        for i, (name, params) in enumerate(steps):
            if name == "gaussian" and memory > 0:
                unit = _shared(rng, x.shape, params["kappa"])
                if i in carried:
                    unit = (memory * carried[i] + np.sqrt(1.0 - memory ** 2) * unit
                            ).astype(np.float32)
                carried[i] = unit
                x = _add(x, params["sigma"], unit)
            else:
                x = NOISE_MODELS[name].func(rng, x, **params)
        out[t] = x
    return out
