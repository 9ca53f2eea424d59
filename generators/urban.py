"""Metric street scenes: the ``urban`` family.

A scene is drawn in metres and rasterised once at ``resolution`` metres per cell, so the
same seed and extent in metres give the same streets at 0.5 m and at 0.25 m.  Its classes, in this fixed
order, are :data:`CLASSES`: vehicles (cars, trucks and buses), the drivable area,
walkways along the roads, pedestrian crossings on the road arms at junctions, and
pedestrians.  Every class is drawn whatever subset is asked for, so a subset's maps are
the same as the full scene's maps of those classes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._params import ParamError, check_names, check_rho, check_size

__all__ = ["CLASSES", "DEFAULT_CLASSES", "FOOTPRINTS", "GROUND", "OBJECT_TYPES", "urban",
           "check_classes", "check_span", "noise_defaults"]

CLASSES = ("vehicle", "drivable", "walkway", "ped_crossing", "pedestrian")
# Two classes by default: the target and the prior of the benchmark's first urban dataset.
DEFAULT_CLASSES = ("vehicle", "drivable")
# Flat classes: a lidar or a camera sees them without being blocked by them.
GROUND = frozenset({"drivable", "walkway", "ped_crossing"})
# Placed in this order, largest first, so the large ones still find room.
OBJECT_TYPES = ("bus", "truck", "car", "pedestrian")
# Mean footprints (length, width) in metres: the nuScenes anchors of mmdetection3d.
FOOTPRINTS = {"car": (4.61, 1.95), "truck": (6.74, 2.46), "bus": (11.19, 2.94),
              "pedestrian": (0.73, 0.66)}
# Objects tried this often before one is given up (a full lane or walkway).
TRIES = 20
# 8-neighbourhood: objects keep one empty cell between them, so each is its own component.
_EIGHT = np.ones((3, 3), bool)
# Larger maps are cities, not scenes around an ego (and junction finding grows fast).
MAX_SPAN = 2048.0
# Crossings on arms nearly parallel to the other road are placed as if at this sine.
MIN_SIN = 0.5
# Roads bend a little (the heading drifts by BEND radians) every SEGMENT metres.
SEGMENT, BEND = 25.0, 0.15
# A branch starts on its road up to rounding: where two roads meet, in segment lengths.
_EPS = 1e-9


def check_classes(classes) -> tuple[str, ...]:
    """Validate a subset of :data:`CLASSES`, given in their fixed order."""
    return check_names(classes, CLASSES, "urban")


def check_span(shape, params) -> None:
    """Refuse maps over :data:`MAX_SPAN` metres on a side (before any work starts)."""
    resolution = float(params.get("resolution", 0.5))
    if max(shape) * resolution > MAX_SPAN:
        raise ParamError(f"urban maps are at most {MAX_SPAN:g} m on a side, got "
                         f"{max(shape)} cells of {resolution:g} m")


def noise_defaults(names) -> dict[str, dict]:
    """Noise defaults by the chosen classes: ground classes never block a lidar or a
    camera."""
    ground = tuple(int(name in GROUND) for name in names)
    return {"lidar": {"ground": ground}, "camera": {"ground": ground}}


def urban(rng, rho, size, *, classes=DEFAULT_CLASSES, resolution=0.5, roads=3.3, branches=3.3,
          lanes=4, lane_width=3.5, walkway_width=3.5, crossing_width=4.0, crossings=0.2,
          cars=23.0, trucks=2.9, buses=0.5, pedestrians=25.0,
          car_length=FOOTPRINTS["car"][0], car_width=FOOTPRINTS["car"][1],
          truck_length=FOOTPRINTS["truck"][0], truck_width=FOOTPRINTS["truck"][1],
          bus_length=FOOTPRINTS["bus"][0], bus_width=FOOTPRINTS["bus"][1],
          pedestrian_length=FOOTPRINTS["pedestrian"][0],
          pedestrian_width=FOOTPRINTS["pedestrian"][1], size_spread=0.1):
    """A street scene around an ego vehicle, in metres, as one map per class.

    Roads are polylines crossing the map with gentle bends, crossing at junctions, plus
    side streets leaving a road at a right angle; their numbers grow with the map's side
    so that a larger map shows more of the same city, not a denser one.  Each
    road has ``lanes`` lanes, half in each direction, and a walkway on both sides.  A
    junction's arms get a pedestrian crossing with probability ``crossings``.  Object
    counts are Poisson with the given means per hectare, whatever the layout, and each
    object keeps one empty cell from the others (one that finds no free spot in
    ``TRIES`` tries is dropped, which only happens on crowded or tiny maps).  An object
    is the cells whose centres it covers; one covering none is placed again, so at
    cells coarser than an object (a pedestrian at 1 m) it takes a whole cell.

    ``rho`` is the fraction of objects that follow the layout rule: a vehicle in a lane
    and aligned with it, a pedestrian on a walkway or a crossing.  With probability
    ``-rho`` (rho < 0) an object keeps off that area instead, and otherwise it is placed
    uniformly with a uniform heading: rho = 0 makes objects independent of the layout.
    The first road carries the ego vehicle (not drawn) at the map centre, where a lidar
    or cameras see from; the others keep clear of it.

    Parameters
    ----------
    rng : numpy.random.Generator
    rho : float
        In [-1, 1].
    size : int or (int, int)
        Map size in cells.
    classes : tuple of str
        A subset of :data:`CLASSES`, in that order.
    resolution : float
        Metres per cell.
    roads, branches : float
        Mean number of through roads and of side streets per 100 m of the map's longer
        side (Poisson).  With ``roads > 0`` there is always at least one, the ego's;
        ``roads = 0`` draws no road, no side street and no ego.
    lanes : int
    lane_width, walkway_width, crossing_width : float
        Metres; a crossing's width is along the road.
    crossings : float
        Probability that a junction's arm has a pedestrian crossing.
    cars, trucks, buses, pedestrians : float
        Mean count per hectare.
    car_length, car_width, truck_length, truck_width, bus_length, bus_width,
    pedestrian_length, pedestrian_width : float
        Mean footprints in metres.
    size_spread : float
        Each object's length and width are the mean times a log-normal factor of mean 1
        and this standard deviation of its logarithm.

    Returns
    -------
    ndarray of uint8, shape (len(classes), H, W)

    Examples
    --------
    >>> import numpy as np
    >>> urban(np.random.default_rng(0), 1.0, 64, classes=("vehicle", "walkway")).shape
    (2, 64, 64)
    """
    height, width = check_size(size)
    rho = check_rho(rho)
    names = check_classes(classes)
    res = float(resolution)
    check_span((height, width), {"resolution": res})
    # Separate streams: the layout draws nothing by the raster, so it is the same at any
    # resolution; object placement retries where the raster says a spot is taken.
    layout_rng, object_rng = rng.spawn(2)
    scene = _Scene(height, width, res)
    road_half = lanes * lane_width / 2.0
    lines, ego_heading = _road_network(layout_rng, scene, roads, branches, lane_width, lanes)
    segments = np.concatenate(lines) if lines else np.zeros((0, 4))
    distance = scene.distance_to(segments, road_half + walkway_width)
    maps = {"drivable": distance <= road_half}
    maps["walkway"] = (distance <= road_half + walkway_width) & ~maps["drivable"]
    crossing = np.zeros(scene.shape, bool)
    for cy, cx, heading, angle in _junction_arms(lines, layout_rng, crossings, scene,
                                                 road_half / MIN_SIN + crossing_width):
        # Just past the other road's edge, which is farther along an oblique arm.
        along = road_half / max(abs(np.sin(angle)), MIN_SIN) + crossing_width / 2.0
        footprint = scene.rectangle(cy + along * np.sin(heading), cx + along * np.cos(heading),
                                    heading + np.pi / 2, 2 * road_half, crossing_width)
        if footprint is not None:
            crossing[footprint[0]] |= footprint[1]
    maps["ped_crossing"] = crossing & maps["drivable"]

    sizes = {"car": (car_length, car_width), "truck": (truck_length, truck_width),
             "bus": (bus_length, bus_width), "pedestrian": (pedestrian_length, pedestrian_width)}
    means = {"car": cars, "truck": trucks, "bus": buses, "pedestrian": pedestrians}
    hectares = height * width * res * res / 1e4
    placer = _Placer(scene, object_rng, segments, lanes, lane_width, road_half,
                     maps["drivable"], maps["walkway"] | maps["ped_crossing"])
    if ego_heading is not None:
        placer.keep_clear(scene.rectangle(scene.cy, scene.cx, ego_heading,
                                          car_length + 2.0, car_width + 2.0))
    objects = {"vehicle": np.zeros(scene.shape, bool), "pedestrian": np.zeros(scene.shape, bool)}
    for kind in OBJECT_TYPES:
        into = objects["pedestrian" if kind == "pedestrian" else "vehicle"]
        for _ in range(object_rng.poisson(means[kind] * hectares)):
            length, breadth = np.asarray(sizes[kind]) * np.exp(
                object_rng.normal(-size_spread ** 2 / 2, size_spread, 2))
            u = object_rng.random()
            mode = "rule" if u < rho else "against" if u < -rho else "free"
            footprint = placer.place(kind, mode, length, breadth)
            if footprint is not None:
                into[footprint[0]] |= footprint[1]
    maps.update(objects)
    return np.stack([maps[name] for name in names]).astype(np.uint8)


class _Scene:
    """The map's cells in metres: cell (i, j) has its centre at ((i + .5) r, (j + .5) r)."""

    def __init__(self, height, width, resolution):
        self.shape = (height, width)
        self.res = resolution
        self.cy, self.cx = height * resolution / 2.0, width * resolution / 2.0
        self.span = max(height, width) * resolution

    def inside(self, y, x) -> bool:
        return 0.0 <= y < self.shape[0] * self.res and 0.0 <= x < self.shape[1] * self.res

    def window(self, y0, y1, x0, x1):
        """Cell slices covering [y0, y1] x [x0, x1] metres, clipped to the map (or None)."""
        r = self.res
        rows = max(0, int(np.floor(y0 / r))), min(self.shape[0], int(np.ceil(y1 / r)) + 1)
        cols = max(0, int(np.floor(x0 / r))), min(self.shape[1], int(np.ceil(x1 / r)) + 1)
        if rows[0] >= rows[1] or cols[0] >= cols[1]:
            return None
        return slice(*rows), slice(*cols)

    def centres(self, window):
        """(y, x) in metres of the centres of a window's cells."""
        rows, cols = window
        return ((np.arange(rows.start, rows.stop)[:, None] + 0.5) * self.res,
                (np.arange(cols.start, cols.stop)[None, :] + 0.5) * self.res)

    def distance_to(self, segments, reach):
        """Distance in metres from each cell centre to the nearest segment, up to ``reach``
        (farther cells get ``inf``): each segment only updates its widened bounding box."""
        out = np.full(self.shape, np.inf)
        for y0, x0, y1, x1 in segments:
            window = self.window(min(y0, y1) - reach, max(y0, y1) + reach,
                                 min(x0, x1) - reach, max(x0, x1) + reach)
            if window is None:
                continue
            yy, xx = self.centres(window)
            dy, dx = y1 - y0, x1 - x0
            t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / (dy * dy + dx * dx), 0.0, 1.0)
            near = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))
            np.minimum(out[window], near, out=out[window])
        return out

    def rectangle(self, cy, cx, heading, length, width):
        """(window, mask) of the cells whose centres lie in an oriented rectangle, or None
        when none does; ``length`` runs along ``heading``."""
        reach = 0.5 * np.hypot(length, width)
        window = self.window(cy - reach, cy + reach, cx - reach, cx + reach)
        if window is None:
            return None
        yy, xx = self.centres(window)
        along = (yy - cy) * np.sin(heading) + (xx - cx) * np.cos(heading)
        across = (yy - cy) * np.cos(heading) - (xx - cx) * np.sin(heading)
        mask = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
        if not mask.any():
            return None
        return window, mask


def _road_network(rng, scene, roads, branches, lane_width, lanes):
    """Roads as polylines, each an array of segments (y0, x0, y1, x1) in metres that
    reaches beyond the map, and the ego's heading (None without roads): the first road
    passes so that one of its lanes is centred on the ego at the map centre."""
    step = SEGMENT
    per_side = scene.span / 100.0
    # The ego's road, and the others' count by the map's side: the same network density
    # (road length per area) at any map size.
    roads = 0 if roads <= 0 else 1 + rng.poisson(max(roads * per_side - 1.0, 0.0))
    branches = rng.poisson(branches * per_side)
    centre = np.array([scene.cy, scene.cx])
    lines: list[np.ndarray] = []
    ego_heading = None

    def walk(start, heading, max_len):
        # Gentle bends: the heading drifts a little at every vertex.
        point, walked, out = np.asarray(start, float), 0.0, []
        while walked < max_len and np.all(np.abs(point - centre) < 0.75 * scene.span):
            heading += rng.normal(0.0, BEND)
            nxt = point + step * np.array([np.sin(heading), np.cos(heading)])
            out.append((*point, *nxt))
            point, walked = nxt, walked + step
        return out

    for i in range(roads):
        heading = rng.uniform(0.0, np.pi)
        if i == 0:  # the ego's road: its nearest lane centre on the map centre
            offset = lane_width / 2.0 if lanes % 2 == 0 else 0.0
            # The lane at +offset of the centre line runs along ``heading`` (as _in_lane).
            start = centre + offset * np.array([np.cos(heading), -np.sin(heading)])
        else:
            start = centre + rng.uniform(-0.3, 0.3, 2) * scene.span
        back = walk(start, heading + np.pi, np.inf)
        ahead = walk(start, heading, np.inf)
        if i == 0 and ahead:
            ego_heading = float(np.arctan2(ahead[0][2] - ahead[0][0], ahead[0][3] - ahead[0][1]))
        # One polyline in one direction: the backward walk reversed, then the forward one.
        line = [(y1, x1, y0, x0) for y0, x0, y1, x1 in reversed(back)] + ahead
        lines.append(np.asarray(line, float).reshape(-1, 4))
    through = np.concatenate(lines) if lines else np.zeros((0, 4))
    for _ in range(branches if len(through) else 0):
        y0, x0, y1, x1 = through[rng.integers(len(through))]
        t = rng.random()
        start = (y0 + t * (y1 - y0), x0 + t * (x1 - x0))
        heading = np.arctan2(y1 - y0, x1 - x0) + rng.choice([-1.0, 1.0]) * np.pi / 2
        branch = np.asarray(walk(start, heading, rng.uniform(0.25, 1.0) * scene.span),
                            float).reshape(-1, 4)
        if len(branch):
            lines.append(branch)
    return lines, ego_heading


def _junction_arms(lines, rng, probability, scene, margin):
    """(y, x, heading, angle) of the junction arms that get a crossing: every road
    leaving a point where two roads meet, in both directions unless the road starts
    there; ``angle`` is between the arm and the other road.  Only segments within
    ``margin`` metres of the map are tested: a junction farther out draws nothing."""
    near = [_near_map(line, scene, margin) for line in lines]
    arms = []
    for a in range(len(lines)):
        for b in range(a + 1, len(lines)):
            if len(near[a]) and len(near[b]):
                for point, dirs in _meetings(lines[a], lines[b], near[a], near[b]):
                    arms += [(*point, h, angle) for h, angle in dirs]
    keep = rng.random(len(arms)) < probability
    return [arm for arm, k in zip(arms, keep) if k]


def _near_map(line, scene, margin):
    """Indices of a polyline's segments whose bounding box comes within ``margin``."""
    lo = np.minimum(line[:, :2], line[:, 2:])
    hi = np.maximum(line[:, :2], line[:, 2:])
    size = np.array(scene.shape) * scene.res
    return np.flatnonzero(np.all((hi >= -margin) & (lo <= size + margin), axis=1))


def _meetings(first, second, rows, cols):
    """Where two polylines meet, testing segments ``rows`` of the first against ``cols``
    of the second: (point, [(heading of an arm leaving it, angle to the other road)])."""
    p, r = first[rows, None, :2], first[rows, None, 2:] - first[rows, None, :2]
    q, s = second[None, cols, :2], second[None, cols, 2:] - second[None, cols, :2]
    cross = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((q - p)[..., 0] * s[..., 1] - (q - p)[..., 1] * s[..., 0]) / cross
        u = ((q - p)[..., 0] * r[..., 1] - (q - p)[..., 1] * r[..., 0]) / cross
    # Half-open on the segments' ends, so a vertex shared by two segments counts once;
    # a branch starts on its road, at u = 0 of its first segment.
    hit = (t >= 0) & (t < 1) & (u >= -_EPS) & (u < 1) & (cross != 0)
    out = []
    for i, j in zip(*np.nonzero(hit)):
        point = p[i, 0] + t[i, j] * r[i, 0]
        ha = np.arctan2(r[i, 0, 0], r[i, 0, 1])
        hb = np.arctan2(s[0, j, 0], s[0, j, 1])
        angle = ha - hb
        # The second polyline (a branch) starts here: it has one arm, not two.
        starts = cols[j] == 0 and u[i, j] < _EPS
        arms = [(ha, angle), (ha + np.pi, angle), (hb, angle)]
        out.append((point, arms + ([] if starts else [(hb + np.pi, angle)])))
    return out


class _Placer:
    """Places objects one at a time, each one empty cell away from all others."""

    def __init__(self, scene, rng, segments, lanes, lane_width, road_half, drivable, paths):
        self.scene, self.rng, self.segments = scene, rng, segments
        self.lanes, self.lane_width, self.road_half = lanes, lane_width, road_half
        self.drivable, self.paths = drivable, paths
        self.blocked = np.zeros(scene.shape, bool)  # objects grown by one cell
        if len(segments):
            # Segments in proportion to their length: uniform along the roads.
            lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
            self.cdf = np.cumsum(lengths)
        self.path_cells = np.flatnonzero(paths)

    def keep_clear(self, footprint):
        if footprint is not None:
            self.blocked[footprint[0]] |= footprint[1]

    def place(self, kind, mode, length, width):
        """The footprint of one object, or None when no spot was found in ``TRIES``."""
        vehicle = kind != "pedestrian"
        area = self.drivable if vehicle else self.paths
        if mode == "rule" and (not len(self.segments) if vehicle else not len(self.path_cells)):
            mode = "free"  # nothing to follow: no roads, or no walkways in the map
        for _ in range(TRIES):
            if mode == "rule":
                cy, cx, heading = self._in_lane() if vehicle else self._on_path()
            else:
                cy = self.rng.uniform(0, self.scene.shape[0] * self.scene.res)
                cx = self.rng.uniform(0, self.scene.shape[1] * self.scene.res)
                heading = self.rng.uniform(0.0, np.pi)
            if not self.scene.inside(cy, cx):
                continue  # a count per hectare counts the objects centred in the map
            footprint = self.scene.rectangle(cy, cx, heading, length, width)
            if footprint is None:
                continue
            window, mask = footprint
            if (mask & self.blocked[window]).any():
                continue
            if mode == "against" and (mask & area[window]).any():
                continue
            self._block(window, mask)
            return footprint
        return None

    def _in_lane(self):
        pick = min(int(np.searchsorted(self.cdf, self.rng.random() * self.cdf[-1])),
                   len(self.cdf) - 1)
        y0, x0, y1, x1 = self.segments[pick]
        t = self.rng.random()
        heading = np.arctan2(y1 - y0, x1 - x0)
        lane = (self.rng.integers(self.lanes) + 0.5) * self.lane_width - self.road_half
        cy = y0 + t * (y1 - y0) - lane * np.cos(heading)
        cx = x0 + t * (x1 - x0) + lane * np.sin(heading)
        # Lanes on either side of the centre line run in opposite directions.
        heading += self.rng.normal(0.0, 0.05) + (np.pi if lane < 0 else 0.0)
        return cy, cx, heading

    def _on_path(self):
        cell = self.path_cells[self.rng.integers(len(self.path_cells))]
        row, col = divmod(int(cell), self.scene.shape[1])
        jitter = self.rng.random(2)
        return ((row + jitter[0]) * self.scene.res, (col + jitter[1]) * self.scene.res,
                self.rng.uniform(0.0, np.pi))

    def _block(self, window, mask):
        rows, cols = window
        # Grow the footprint by one cell, inside a window one cell larger.
        r0, c0 = max(rows.start - 1, 0), max(cols.start - 1, 0)
        r1 = min(rows.stop + 1, self.scene.shape[0])
        c1 = min(cols.stop + 1, self.scene.shape[1])
        grown = np.zeros((r1 - r0, c1 - c0), bool)
        grown[rows.start - r0:rows.stop - r0, cols.start - c0:cols.stop - c0] = mask
        self.blocked[r0:r1, c0:c1] |= ndimage.binary_dilation(grown, _EIGHT)
