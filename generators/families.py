"""Scene families: clean multi-class occupancy maps with a correlation knob ``rho``.

Every family is ``family(rng, rho, size, **params) -> clean`` with ``clean`` a
``uint8`` array of shape (C, H, W) holding 0 and 1.  Each family is declared in
:data:`FAMILIES` with its parameters, defaults and ranges.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from ._fields import equicorrelated_mixing, smooth_unit_variance
from ._params import ParamError, Model, Param, per_class

__all__ = ["field", "urban", "field_expected_phi", "FAMILIES", "check_rho", "check_size"]


# Generation holds a few float64 copies of a sample: 4096^2 keeps that near 1 GB.
MAX_SIDE = 4096


def check_size(size) -> tuple[int, int]:
    """Validate ``size`` (an int or a (H, W) pair) and return (H, W)."""
    height, width = (size, size) if np.isscalar(size) else tuple(size)
    for name, n in (("height", height), ("width", width)):
        if int(n) != n or not 4 <= n <= MAX_SIDE:
            raise ParamError(f"size: {name} must be an integer in [4, {MAX_SIDE}], got {n}")
    return int(height), int(width)


def check_rho(rho: float, classes: int = 2) -> float:
    """Validate the correlation knob for ``classes`` equicorrelated classes."""
    rho = float(rho)
    if not -1.0 <= rho <= 1.0:
        raise ParamError(f"rho must be in [-1, 1], got {rho:g}")
    if classes > 2 and rho < -1.0 / (classes - 1) - 1e-12:
        raise ParamError(
            f"rho must be in [{-1.0 / (classes - 1):.4g}, 1] for {classes} equicorrelated "
            f"classes, got {rho:g}"
        )
    return rho


# --------------------------------------------------------------------------- field


def field(rng, rho, size, *, classes=2, length_scale=4.0, occupancy=0.5):
    """Thresholded Gaussian random fields whose latent correlation is exactly ``rho``.

    White noise is mixed so that every pair of classes has per-cell correlation
    ``rho`` (equicorrelated classes; for two classes class 1 = rho * w0 +
    sqrt(1 - rho^2) * w1), smoothed by a common periodic Gaussian kernel (which keeps
    that correlation), and each class is thresholded at the normal quantile giving
    its occupancy.  The expected phi coefficient between two classes is then the
    bivariate-normal orthant formula, see :func:`field_expected_phi`.

    Parameters
    ----------
    rng : numpy.random.Generator
    rho : float
        Latent correlation in [-1, 1]; with C > 2 classes, in [-1/(C-1), 1].
    size : int or (int, int)
    classes : int
    length_scale : float
        Kernel standard deviation in cells (0: white noise). The field is periodic.
    occupancy : float or tuple of float
        Expected occupied fraction, one value or one per class.

    Returns
    -------
    ndarray of uint8, shape (classes, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> clean = field(np.random.default_rng(0), 0.9, 32, length_scale=2.0)
    >>> clean.shape, clean.dtype
    ((2, 32, 32), dtype('uint8'))
    """
    height, width = check_size(size)
    rho = check_rho(rho, classes)
    occ = per_class(occupancy, classes)
    white = rng.standard_normal((classes, height, width))
    latent = smooth_unit_variance(white, length_scale)
    latent = np.tensordot(equicorrelated_mixing(rho, classes), latent, axes=1)
    threshold = ndtri(1.0 - occ)[:, None, None]
    return (latent > threshold).astype(np.uint8)


def field_expected_phi(rho: float, occupancy_a: float = 0.5, occupancy_b: float = 0.5) -> float:
    """Expected phi coefficient between two ``field`` classes (closed form).

    The joint occupancy is the bivariate normal orthant probability
    P(Z_a > t_a, Z_b > t_b) with correlation ``rho``; for occupancies 0.5 this is
    (2 / pi) * arcsin(rho).
    """
    from scipy.stats import multivariate_normal

    pa, pb = occupancy_a, occupancy_b
    ta, tb = ndtri(1.0 - pa), ndtri(1.0 - pb)
    if rho >= 1.0:  # Z_b = Z_a: both occupied iff Z > max(t_a, t_b)
        joint = min(pa, pb)
    elif rho <= -1.0:  # Z_b = -Z_a: both occupied iff t_a < Z < -t_b
        joint = max(0.0, pa + pb - 1.0)
    else:
        # P(Z_a > t_a, Z_b > t_b) = P(-Z_a < -t_a, -Z_b < -t_b), and (-Z_a, -Z_b) has
        # the same correlation.
        joint = multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]]).cdf([-ta, -tb])
    return float((joint - pa * pb) / np.sqrt(pa * (1 - pa) * pb * (1 - pb)))


# --------------------------------------------------------------------------- urban


def urban(
    rng,
    rho,
    size,
    *,
    roads=2,
    branches=2,
    road_width=8.0,
    vehicle_density=2.0,
    vehicle_length=8.0,
    vehicle_width=4.0,
):
    """Vehicles (class 0) and drivable area (class 1) of a street scene.

    Roads are polylines crossing the map with gentle bends (``roads`` of them; where
    they cross they form junctions) plus ``branches`` side streets leaving an existing
    road at a right angle (T-junctions).  Vehicles are oriented rectangles.  Each
    vehicle is, with probability ``|rho|``, placed by the rule: for ``rho > 0`` in a
    lane of a road and aligned with it, for ``rho < 0`` anywhere its footprint does
    not touch a road; otherwise it is placed uniformly at random with a random
    heading.  Vehicles do not overlap.  So ``rho = 0`` makes vehicle placement
    independent of the roads and the phi coefficient grows with ``rho`` (without roads,
    ``roads=0, branches=0``, rule-placed vehicles fall back to random placement).  As in
    ego-centred BEV maps, the first road passes through the map centre, where the ego
    vehicle sits (not drawn; other vehicles keep clear of it and a lidar scans from it).

    Parameters
    ----------
    rng : numpy.random.Generator
    rho : float
        In [-1, 1].
    size : int or (int, int)
    roads, branches : int
        Number of through roads and of side streets.
    road_width : float
        Road width in cells (two lanes).
    vehicle_density : float
        Expected vehicles per 1000 cells (the count is Poisson distributed).
    vehicle_length, vehicle_width : float
        Vehicle footprint in cells.

    Returns
    -------
    ndarray of uint8, shape (2, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> urban(np.random.default_rng(0), 1.0, 64).shape
    (2, 64, 64)
    """
    height, width = check_size(size)
    rho = check_rho(rho)
    segments = _road_network(rng, height, width, int(roads), int(branches))
    road = _road_mask((height, width), segments, road_width / 2.0)
    vehicles = np.zeros((height, width), dtype=bool)
    # Keep other vehicles off the ego vehicle (not drawn) at the centre, on the first road.
    taken = vehicles.copy()
    if len(segments):
        y0, x0, y1, x1 = segments[0]
        ego = _rectangle(road.shape, height / 2, width / 2, np.arctan2(y1 - y0, x1 - x0),
                         vehicle_length + 2.0, vehicle_width + 2.0)
        if ego is not None:
            taken[ego[0]] |= ego[1]
    n_vehicles = rng.poisson(vehicle_density * height * width / 1000.0)
    for _ in range(n_vehicles):
        u = rng.random()
        mode = "road" if (u < rho) else "offroad" if (u < -rho) else "free"
        footprint = _place_vehicle(
            rng, mode, segments, road, taken, road_width, vehicle_length, vehicle_width
        )
        if footprint is not None:
            window, mask = footprint
            vehicles[window] |= mask
            taken[window] |= mask
    return np.stack([vehicles, road]).astype(np.uint8)


def _road_network(rng, height, width, roads, branches):
    """Segments (y0, x0, y1, x1) of a road network reaching beyond the map."""
    span = float(max(height, width))
    step = span / 4.0
    centre = np.array([height, width]) / 2.0
    segments: list[tuple[float, float, float, float]] = []

    def walk(start, heading, max_len):
        # Gentle bends: the heading drifts a little at every vertex.
        point, walked = np.asarray(start, float), 0.0
        while walked < max_len and np.all(np.abs(point - centre) < 0.75 * span):
            heading += rng.normal(0.0, 0.15)
            nxt = point + step * np.array([np.sin(heading), np.cos(heading)])
            segments.append((*point, *nxt))
            point, walked = nxt, walked + step

    for i in range(roads):
        # The first road carries the ego vehicle through the map centre.
        start = centre if i == 0 else rng.uniform([0.2 * height, 0.2 * width],
                                                  [0.8 * height, 0.8 * width])
        heading = rng.uniform(0.0, np.pi)
        walk(start, heading, np.inf)
        walk(start, heading + np.pi, np.inf)
    through = list(segments)
    for _ in range(branches if through else 0):
        y0, x0, y1, x1 = through[rng.integers(len(through))]
        t = rng.random()
        start = (y0 + t * (y1 - y0), x0 + t * (x1 - x0))
        heading = np.arctan2(y1 - y0, x1 - x0) + rng.choice([-1.0, 1.0]) * np.pi / 2
        walk(start, heading, rng.uniform(0.25, 1.0) * span)
    return np.asarray(segments, dtype=np.float64).reshape(-1, 4)


def _road_mask(shape, segments, half_width):
    """Cells whose centre lies within ``half_width`` of any segment."""
    mask = np.zeros(shape, dtype=bool)
    for y0, x0, y1, x1 in segments:
        # Only the segment's bounding box, widened by the half width, can be on the road.
        r0 = max(0, int(np.floor(min(y0, y1) - half_width)))
        r1 = min(shape[0], int(np.ceil(max(y0, y1) + half_width)) + 1)
        c0 = max(0, int(np.floor(min(x0, x1) - half_width)))
        c1 = min(shape[1], int(np.ceil(max(x0, x1) + half_width)) + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1] + 0.5
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx), 0.0, 1.0)
        near = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)) <= half_width
        mask[r0:r1, c0:c1] |= near
    return mask


def _rectangle(shape, cy, cx, heading, length, width):
    """Footprint of an oriented rectangle: (window slices, boolean mask of the window).

    ``None`` when the rectangle misses the map.
    """
    reach = 0.5 * np.hypot(length, width) + 1.0
    y0, y1 = max(0, int(cy - reach)), min(shape[0], int(cy + reach) + 1)
    x0, x1 = max(0, int(cx - reach)), min(shape[1], int(cx + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1] + 0.5
    along = (yy - cy) * np.sin(heading) + (xx - cx) * np.cos(heading)
    across = (yy - cy) * np.cos(heading) - (xx - cx) * np.sin(heading)
    mask = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    if not mask.any():
        return None
    return (slice(y0, y1), slice(x0, x1)), mask


def _place_vehicle(rng, mode, segments, road, taken, road_width, length, width, tries=20):
    height, width_px = road.shape
    if mode == "road" and len(segments) == 0:
        mode = "free"
    if mode == "road":
        # Pick segments in proportion to their length: uniform along the roads.
        cdf = np.cumsum(np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]))
    for _ in range(tries):
        if mode == "road":
            pick = min(int(np.searchsorted(cdf, rng.random() * cdf[-1])), len(cdf) - 1)
            y0, x0, y1, x1 = segments[pick]
            t = rng.random()
            heading = np.arctan2(y1 - y0, x1 - x0)
            lane = rng.choice([-1.0, 1.0]) * road_width / 4.0
            cy = y0 + t * (y1 - y0) + lane * np.cos(heading)
            cx = x0 + t * (x1 - x0) - lane * np.sin(heading)
            heading += rng.normal(0.0, 0.05) + (np.pi if lane < 0 else 0.0)
        else:
            cy, cx = rng.uniform(0, height), rng.uniform(0, width_px)
            heading = rng.uniform(0.0, np.pi)
        footprint = _rectangle(road.shape, cy, cx, heading, length, width)
        if footprint is None:
            continue
        window, mask = footprint
        if (mask & taken[window]).any():
            continue
        if mode == "offroad" and (mask & road[window]).any():
            continue
        return footprint
    return None


FAMILIES: dict[str, Model] = {
    "field": Model(
        name="field",
        func=field,
        doc="Gaussian copula: thresholded smooth random fields, latent correlation rho "
        "(C > 2: equicorrelated, rho >= -1/(C-1))",
        params=(
            Param("length_scale", 4.0, lo=0.0, doc="kernel sigma in cells (periodic field)",
                  per_class=False),
            Param("occupancy", 0.5, lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                  doc="expected occupied fraction per class"),
        ),
    ),
    "urban": Model(
        name="urban",
        func=urban,
        doc="street scene: vehicles (class 0) placed on, independent of, or off the "
        "roads of a drivable-area network (class 1) by rho",
        class_names=("vehicle", "drivable"),
        # Drivable area is ground: a lidar sees it without being blocked by it.
        noise_defaults={"lidar": {"ground": (0, 1)}, "camera": {"ground": (0, 1)}},
        params=(
            Param("roads", 2, lo=0, hi=20, kind=int, per_class=False, doc="through roads"),
            Param("branches", 2, lo=0, hi=50, kind=int, per_class=False, doc="side streets"),
            Param("road_width", 8.0, lo=0.0, lo_open=True, per_class=False,
                  doc="road width in cells (two lanes)"),
            Param("vehicle_density", 2.0, lo=0.0, per_class=False,
                  doc="expected vehicles per 1000 cells"),
            Param("vehicle_length", 8.0, lo=0.0, lo_open=True, per_class=False,
                  doc="vehicle length in cells"),
            Param("vehicle_width", 4.0, lo=0.0, lo_open=True, per_class=False,
                  doc="vehicle width in cells"),
        ),
    ),
}
