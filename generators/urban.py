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

from ._params import ParamError, check_names, check_rho, check_size
from .motion import ego_poses, rotate

__all__ = ["CLASSES", "DEFAULT_CLASSES", "FOOTPRINTS", "GROUND", "OBJECT_TYPES", "urban",
           "urban_sequence", "check_classes", "check_span", "check_world", "noise_defaults"]

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
# Larger maps are cities, not scenes around an ego (and junction finding grows fast).
MAX_SPAN = 2048.0
# Crossings on arms nearly parallel to the other road are placed as if at this sine.
MIN_SIN = 0.5
# Roads bend a little (the heading drifts by BEND radians) every SEGMENT metres.
SEGMENT, BEND = 25.0, 0.15
# A branch starts on its road up to rounding: where two roads meet, in segment lengths.
_EPS = 1e-9
# What the placer says of an object of a sequence that no frame would ever show.
_UNSEEN = object()


def check_classes(classes) -> tuple[str, ...]:
    """Validate a subset of :data:`CLASSES`, given in their fixed order."""
    return check_names(classes, CLASSES, "urban")


def check_span(shape, params) -> None:
    """Refuse maps over :data:`MAX_SPAN` metres on a side (before any work starts)."""
    resolution = float(params.get("resolution", 0.5))
    if max(shape) * resolution > MAX_SPAN:
        raise ParamError(f"urban maps are at most {MAX_SPAN:g} m on a side, got "
                         f"{max(shape)} cells of {resolution:g} m")


def _margin(shape, res, frames, dt, speed, yaw_rate, vehicle_speed, pedestrian_speed) -> int:
    """Cells the world of a sequence extends beyond frame 0's map on every side: as far
    as any frame's corners and any object's travel reach."""
    poses = ego_poses(frames, dt, speed, np.radians(yaw_rate), shape, res)
    half = np.array(shape) * res / 2.0
    turn = np.abs(poses[:, 2])
    reach = (np.hypot(poses[:, 0] - poses[0, 0], poses[:, 1] - poses[0, 1])
             + np.maximum(half[0] * np.abs(np.cos(turn)) + half[1] * np.abs(np.sin(turn)),
                          half[1] * np.abs(np.cos(turn)) + half[0] * np.abs(np.sin(turn)))
             - half.min()).max()
    reach += 2.0 * max(vehicle_speed, pedestrian_speed) * (frames - 1) * dt
    return int(np.ceil(reach / res)) + 1


# A sequence's world holds one blocked map per frame: this many cells in all at most.
MAX_WORLD_CELLS = 1 << 28


def check_world(shape, params, motion) -> None:
    """Refuse a sequence whose world (the map, plus how far the ego and the objects
    travel) is over :data:`MAX_SPAN` metres on a side or too large to hold per frame."""
    res = float(params.get("resolution", 0.5))
    keys = ("frames", "dt", "speed", "yaw_rate", "vehicle_speed", "pedestrian_speed")
    side = max(shape) + 2 * _margin(shape, res, **{k: motion[k] for k in keys})
    if side * res > MAX_SPAN or side * side * motion["frames"] > MAX_WORLD_CELLS:
        raise ParamError(f"urban sequences reach {side * res:.0f} m on a side over "
                         f"{motion['frames']} frames (the map, and how far the ego and the "
                         f"fastest objects travel); at most {MAX_SPAN:g} m and "
                         f"{MAX_WORLD_CELLS:,} cells x frames: use fewer frames, a shorter dt, "
                         "lower speeds or a coarser resolution")


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
    scene, layout, placer, draws = _draw(rng, rho, size, classes, resolution, roads, branches,
                                         lanes, lane_width, walkway_width, crossing_width,
                                         crossings)
    placer.keep_clear_ego(layout.ego_heading, car_length + 2.0, car_width + 2.0)
    maps = layout.render(scene)
    objects = _objects(scene.shape)
    for kind, length, breadth, mode in draws(cars, trucks, buses, pedestrians, size_spread, {
            "car": (car_length, car_width), "truck": (truck_length, truck_width),
            "bus": (bus_length, bus_width), "pedestrian": (pedestrian_length, pedestrian_width)}):
        _paint(objects, kind, placer.place(kind, mode, length, breadth))
    maps.update(objects)
    return np.stack([maps[name] for name in layout.names]).astype(np.uint8)


def _objects(shape) -> dict[str, np.ndarray]:
    """Empty maps of the object classes."""
    return {"vehicle": np.zeros(shape, bool), "pedestrian": np.zeros(shape, bool)}


def _paint(objects, kind, footprint) -> None:
    """Draw an object's footprint (window, mask), if any, into its class's map."""
    if footprint is not None:
        into = objects["pedestrian" if kind == "pedestrian" else "vehicle"]
        into[footprint[0]] |= footprint[1]


def urban_sequence(rng, rho, size, *, frames, dt=0.5, speed=10.0, yaw_rate=0.0,
                   vehicle_speed=8.0, pedestrian_speed=1.4, classes=DEFAULT_CLASSES,
                   resolution=0.5, roads=3.3, branches=3.3, lanes=4, lane_width=3.5,
                   walkway_width=3.5, crossing_width=4.0, crossings=0.2, cars=23.0, trucks=2.9,
                   buses=0.5, pedestrians=25.0, size_spread=0.1, **footprints):
    """An :func:`urban` scene over ``frames`` frames ``dt`` seconds apart, seen from a
    moving ego.

    The layout is static.  The ego drives from the map centre at ``speed`` (m/s) and
    ``yaw_rate`` (degrees per second) along an exact constant-turn arc (it does not
    follow the road's bends); each frame is the grid that moves and turns with it
    (:mod:`ogmbench.generators.motion`).  Every object moves at its own speed, the mean
    speed times a uniform factor in [0, 2]: a vehicle in a lane drives along it in its
    direction and stops at the road's end, a pedestrian on a walkway walks along the
    road and one on a crossing across it, and the others (placed off the rule) go
    straight ahead or back.  Objects are drawn in a world that extends beyond frame 0's
    map by as far as the ego and the fastest object travel, at the same density, and keep
    their one-cell gap in every frame (in the world's raster).  The roads are those a
    single map would draw, walked on to the world's edge, and the objects that follow
    the rule are as many per metre of road as in the map: frames see the drivable area
    and walkways of single maps, and a few percent fewer objects (5-20% fewer vehicles at
    32 m on 1 m cells, four frames: moving ones must keep clear of each other in every
    frame).  An object whose path never
    comes into any frame's map is dropped unplaced: it could only have taken a spot from
    another object where neither is seen (so a little more room, near the views' edges,
    for objects that enter or leave them).

    Parameters
    ----------
    frames : int
        At least 2.
    dt : float
        Seconds between frames.
    speed, yaw_rate : float
        The ego's speed (m/s) and turn rate (degrees per second, positive from +x
        towards +y).
    vehicle_speed, pedestrian_speed : float
        Mean speeds (m/s).
    classes, resolution, roads, ..., **footprints
        As :func:`urban`.

    Returns
    -------
    clean : ndarray of uint8, shape (frames, len(classes), H, W)
    poses : ndarray of float64, shape (frames, 3)
        ``(y, x, yaw)`` of each frame's grid in frame 0's (metres, radians).

    Examples
    --------
    >>> import numpy as np
    >>> clean, poses = urban_sequence(np.random.default_rng(0), 1.0, 64, frames=3)
    >>> clean.shape, poses.shape
    ((3, 2, 64, 64), (3, 3))
    """
    height, width = check_size(size)
    res = float(resolution)
    motion = dict(frames=frames, dt=dt, speed=speed, yaw_rate=yaw_rate,
                  vehicle_speed=vehicle_speed, pedestrian_speed=pedestrian_speed)
    check_world((height, width), {"resolution": res}, motion)
    margin = _margin((height, width), res, **motion)
    times = np.arange(frames) * dt
    sizes = {kind: (footprints.get(f"{kind}_length", FOOTPRINTS[kind][0]),
                    footprints.get(f"{kind}_width", FOOTPRINTS[kind][1])) for kind in FOOTPRINTS}
    motion_rng = rng.spawn(1)[0]
    scene, layout, placer, draws = _draw(
        rng, rho, size, classes, resolution, roads, branches, lanes, lane_width, walkway_width,
        crossing_width, crossings, margin=margin,
        motion=(times, vehicle_speed, pedestrian_speed, motion_rng))
    # The ego's heading comes with the layout (none without roads: it then drives along +x).
    heading = layout.ego_heading or 0.0
    poses = ego_poses(frames, dt, speed, np.radians(yaw_rate), (height, width), res, heading)
    offset = margin * res  # from frame 0's grid to the world's raster, in metres
    placer.views = (poses + [offset, offset, 0.0], np.array([height, width]) * res / 2.0)
    placer.keep_clear_ego(layout.ego_heading, sizes["car"][0] + 2.0, sizes["car"][1] + 2.0)
    # Objects are counted by area, and those that follow the rule by road: the world's
    # roads are sparser than the map's (the network is densest at the centre), so the
    # rule's objects are thinned to as many per metre of road as the map would hold.
    world = scene.shape[0] * scene.shape[1]
    inner = _road_length(layout.segments, (offset, offset), (height * res, width * res))
    keep = min(1.0, _road_length(layout.segments, (0.0, 0.0), np.multiply(scene.shape, res))
               / world * (height * width) / inner) if inner > 0 else 1.0
    thin_rng = rng.spawn(1)[0]
    for kind, length, breadth, mode in draws(cars, trucks, buses, pedestrians, size_spread,
                                             sizes):
        # (A pedestrian has no rule to follow without walkways: place() frees it.)
        follows = mode == "rule" and (kind != "pedestrian" or len(placer.path_cells))
        if not follows or thin_rng.random() < keep:
            placer.place(kind, mode, length, breadth)

    grid = _Scene(height, width, res)
    half = np.array([height, width]) * res / 2.0
    paths = np.array([path for *_, path in placer.placed]).reshape(-1, frames, 3)
    reach = np.array([0.5 * np.hypot(length, breadth) for _, length, breadth, _ in placer.placed])
    out = np.zeros((frames, len(layout.names), height, width), np.uint8)
    for t, (y, x, yaw) in enumerate(poses):
        def to_grid(py, px, ph, y=y + offset, x=x + offset, yaw=yaw):
            gy, gx = rotate(np.asarray(py) - y, np.asarray(px) - x, -yaw)
            return (gy + grid.cy, gx + grid.cx), np.asarray(ph) - yaw

        maps = layout.render(grid, to_grid=to_grid)
        objects = _objects(grid.shape)
        (gy, gx), gh = to_grid(paths[:, t, 0], paths[:, t, 1], paths[:, t, 2])
        # Only the objects that can reach into this frame's grid are drawn.
        seen = ((np.abs(gy - grid.cy) <= half[0] + reach) &
                (np.abs(gx - grid.cx) <= half[1] + reach))
        for i in np.flatnonzero(seen):
            kind, length, breadth, _ = placer.placed[i]
            _paint(objects, kind, grid.rectangle(gy[i], gx[i], gh[i], length, breadth))
        maps.update(objects)
        out[t] = np.stack([maps[name] for name in layout.names])
    return out, poses


def _road_length(segments, origin, extent, samples=16) -> float:
    """Metres of road centre line inside the box at ``origin`` of size ``extent`` (m),
    each segment measured at ``samples`` points along it."""
    if not len(segments):
        return 0.0
    f = (np.arange(samples) + 0.5) / samples
    y = segments[:, :1] + f * (segments[:, 2:3] - segments[:, :1])
    x = segments[:, 1:2] + f * (segments[:, 3:4] - segments[:, 1:2])
    inside = ((y >= origin[0]) & (y < origin[0] + extent[0])
              & (x >= origin[1]) & (x < origin[1] + extent[1]))
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    return float(np.sum(lengths * inside.mean(axis=1)))


def _draw(rng, rho, size, classes, resolution, roads, branches, lanes, lane_width,
          walkway_width, crossing_width, crossings, margin=0, motion=None):
    """What a scene and a sequence share: checks, the layout on ``scene`` (the map, or
    for a sequence the world ``margin`` cells beyond frame 0's map on every side), the
    object placer (given a sequence's ``motion``, see :class:`_Placer`) and the object
    draws.
    """
    height, width = check_size(size)
    rho = check_rho(rho)
    names = check_classes(classes)
    res = float(resolution)
    check_span((height, width), {"resolution": res})
    # Separate streams: the layout draws nothing by the raster, so it is the same at any
    # resolution; object placement retries where the raster says a spot is taken.
    layout_rng, object_rng = rng.spawn(2)
    scene = _Scene(height + 2 * margin, width + 2 * margin, res)
    road_half = lanes * lane_width / 2.0
    lines, ego_heading = _road_network(layout_rng, scene, roads, branches, lane_width, lanes,
                                       span=max(height, width) * res)
    layout = _Layout(names, lines, ego_heading, road_half, walkway_width)
    maps = layout.render(scene, crossings=(layout_rng, crossings, crossing_width))
    placer = _Placer(scene, object_rng, layout.segments, lanes, lane_width, road_half,
                     maps["drivable"], maps["walkway"] | maps["ped_crossing"],
                     lines=lines, motion=motion)

    def draws(cars, trucks, buses, pedestrians, size_spread, sizes):
        """(kind, length, width, mode) of each object to place, in placement order."""
        means = {"car": cars, "truck": trucks, "bus": buses, "pedestrian": pedestrians}
        hectares = scene.shape[0] * scene.shape[1] * res * res / 1e4
        for kind in OBJECT_TYPES:
            for _ in range(object_rng.poisson(means[kind] * hectares)):
                length, breadth = np.asarray(sizes[kind]) * np.exp(
                    object_rng.normal(-size_spread ** 2 / 2, size_spread, 2))
                u = object_rng.random()
                yield kind, length, breadth, "rule" if u < rho else "against" if u < -rho else "free"

    return scene, layout, placer, draws


class _Layout:
    """The static layout: road centre lines and crossings, in the world's metres,
    rasterised into any grid."""

    def __init__(self, names, lines, ego_heading, road_half, walkway_width):
        self.names, self.lines, self.ego_heading = names, lines, ego_heading
        self.road_half, self.walkway_width = road_half, walkway_width
        self.segments = np.concatenate(lines) if lines else np.zeros((0, 4))
        self.crossings: list[tuple[float, float, float, float, float]] = []

    def render(self, scene, crossings=None, to_grid=None):
        """drivable, walkway and ped_crossing maps of ``scene``; ``to_grid`` maps world
        points (y, x) and headings into it (None: the scene is the world).  The first
        call passes ``crossings = (rng, probability, width)``, which draws them."""
        segments = self.segments
        if to_grid is not None:
            (y0, x0), _ = to_grid(segments[:, 0], segments[:, 1], 0.0)
            (y1, x1), _ = to_grid(segments[:, 2], segments[:, 3], 0.0)
            segments = np.stack([y0, x0, y1, x1], axis=1)
        distance = scene.distance_to(segments, self.road_half + self.walkway_width)
        maps = {"drivable": distance <= self.road_half}
        maps["walkway"] = (distance <= self.road_half + self.walkway_width) & ~maps["drivable"]
        if crossings is not None:
            rng, probability, width = crossings
            for cy, cx, heading, angle in _junction_arms(self.lines, rng, probability, scene,
                                                         self.road_half / MIN_SIN + width):
                # Just past the other road's edge, which is farther along an oblique arm.
                along = self.road_half / max(abs(np.sin(angle)), MIN_SIN) + width / 2.0
                self.crossings.append((cy + along * np.sin(heading), cx + along * np.cos(heading),
                                       heading + np.pi / 2, 2 * self.road_half, width))
        crossing = np.zeros(scene.shape, bool)
        for cy, cx, heading, length, width in self.crossings:
            if to_grid is not None:
                (cy, cx), heading = to_grid(cy, cx, heading)
            footprint = scene.rectangle(cy, cx, heading, length, width)
            if footprint is not None:
                crossing[footprint[0]] |= footprint[1]
        maps["ped_crossing"] = crossing & maps["drivable"]
        return maps


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
        # Only the segments whose widened box meets the map (a sequence's frame sees a
        # few of its world's): the test of window(), on all of them at once.
        segments = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
        y0, x0, y1, x1 = segments.T
        r = self.res
        rows = ((np.floor((np.minimum(y0, y1) - reach) / r) < self.shape[0])
                & (np.ceil((np.maximum(y0, y1) + reach) / r) + 1 > 0))
        cols = ((np.floor((np.minimum(x0, x1) - reach) / r) < self.shape[1])
                & (np.ceil((np.maximum(x0, x1) + reach) / r) + 1 > 0))
        for y0, x0, y1, x1 in segments[rows & cols]:
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

    def rectangles(self, path, length, width):
        """(window, masks) of one rectangle at each pose (y, x, heading) of ``path``:
        masks of shape (len(path), h, w) on one window holding them all, or None when
        that window is off the map."""
        reach = 0.5 * np.hypot(length, width)
        cy, cx, heading = (path[:, k, None, None] for k in range(3))
        window = self.window(cy.min() - reach, cy.max() + reach, cx.min() - reach,
                             cx.max() + reach)
        if window is None:
            return None
        yy, xx = self.centres(window)
        sin, cos = np.sin(heading), np.cos(heading)
        along = (yy - cy) * sin + (xx - cx) * cos
        across = (yy - cy) * cos - (xx - cx) * sin
        return window, (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)


def _road_network(rng, scene, roads, branches, lane_width, lanes, span=None):
    """Roads as polylines, each an array of segments (y0, x0, y1, x1) in metres that
    reaches beyond the map, and the ego's heading (None without roads): the first road
    passes so that one of its lanes is centred on the ego at the map centre.

    ``span`` is the map's side (m); a sequence's ``scene`` is a larger world around it.
    The roads are then counted, started and branched as for the map alone and only
    walk on to the world's edge, so that the map sees the network a single map of its
    size would: the network is densest near the centre, and counting the roads by the
    world's side made a sequence's frames 40% more drivable than single maps (measured).
    """
    step = SEGMENT
    span = scene.span if span is None else span
    per_side = span / 100.0
    # The ego's road, and the others' count by the map's side: the same network density
    # (road length per area) at any map size.
    roads = 0 if roads <= 0 else 1 + rng.poisson(max(roads * per_side - 1.0, 0.0))
    # Branches start anywhere along the roads, which cross the whole world: counted by
    # its side, as many start per metre of road as in a map.
    branches = rng.poisson(branches * scene.span / 100.0)
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
            start = centre + rng.uniform(-0.3, 0.3, 2) * span
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
        branch = np.asarray(walk(start, heading, rng.uniform(0.25, 1.0) * span),
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
    """Places objects one at a time, each one empty cell away from all others.

    For a sequence (``motion`` = ``(times, vehicle_speed, pedestrian_speed, rng)``) every
    object gets a path, one pose per frame, and keeps its gap from every other object in
    every frame; ``views`` must then say where each frame's map lies before placing.
    """

    def __init__(self, scene, rng, segments, lanes, lane_width, road_half, drivable, paths,
                 lines=(), motion=None):
        self.scene, self.rng, self.segments = scene, rng, segments
        self.lanes, self.lane_width, self.road_half = lanes, lane_width, road_half
        self.drivable, self.paths = drivable, paths
        self.lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
        if len(segments):
            # Segments in proportion to their length: uniform along the roads.
            self.cdf = np.cumsum(self.lengths)
        self.path_cells = np.flatnonzero(paths)
        self.motion = motion
        # A sequence's frames: each map's centre and turn in the world, and its half
        # extents (m).  The ego is at the centre of each.
        self.views: tuple[np.ndarray, np.ndarray] | None = None
        count = 1 if motion is None else len(motion[0])
        self.blocked = np.zeros((count, *scene.shape), bool)  # objects grown by one cell
        self.placed: list[tuple[str, float, float, np.ndarray]] = []
        # Where each segment lies along its road, to move vehicles along the road.
        sizes = [len(line) for line in lines]
        self.line_of = np.repeat(np.arange(len(sizes)), sizes)
        self.arc_start = np.concatenate([np.cumsum(self.lengths[a:b]) - self.lengths[a:b]
                                         for a, b in zip(np.cumsum(sizes) - sizes,
                                                         np.cumsum(sizes))]) if sizes else []
        self.first, self.count = np.cumsum(sizes) - sizes, sizes

    def keep_clear_ego(self, heading, length, width):
        """Keep the ego's footprint (in a sequence, in every frame) free; no ego (None)
        without roads."""
        if heading is None:
            return
        poses = ([(self.scene.cy, self.scene.cx, heading)] if self.views is None
                 else [(y, x, heading + yaw) for y, x, yaw in self.views[0]])
        for frame, (cy, cx, h) in enumerate(poses):
            footprint = self.scene.rectangle(cy, cx, h, length, width)
            if footprint is not None:
                self.blocked[frame][footprint[0]] |= footprint[1]

    def place(self, kind, mode, length, width):
        """The footprint of one object (in frame 0), or None when no spot was found in
        ``TRIES``; a sequence's objects are recorded in ``placed`` with their paths."""
        vehicle = kind != "pedestrian"
        area = self.drivable if vehicle else self.paths
        if mode == "rule" and (not len(self.segments) if vehicle else not len(self.path_cells)):
            mode = "free"  # nothing to follow: no roads, or no walkways in the map
        for _ in range(TRIES):
            track = None
            if mode == "rule":
                cy, cx, heading, track = self._in_lane() if vehicle else self._on_path()
            else:
                cy = self.rng.uniform(0, self.scene.shape[0] * self.scene.res)
                cx = self.rng.uniform(0, self.scene.shape[1] * self.scene.res)
                heading = self.rng.uniform(0.0, np.pi)
            if not self.scene.inside(cy, cx):
                continue  # a count per hectare counts the objects centred in the map
            if self.motion is not None:
                placed = self._place_moving(kind, vehicle, mode, area, cy, cx, heading, track,
                                            length, width)
                if placed is _UNSEEN:
                    return None
                if placed is None:
                    continue
                return placed
            footprint = self.scene.rectangle(cy, cx, heading, length, width)
            if footprint is None:
                continue
            window, mask = footprint
            if (mask & self.blocked[0][window]).any():
                continue
            if mode == "against" and (mask & area[window]).any():
                continue
            self._block(self.blocked[0], window, mask)
            return footprint
        return None

    def _place_moving(self, kind, vehicle, mode, area, cy, cx, heading, track, length, width):
        """:meth:`place`'s test of one spot for a sequence's object, over all its frames."""
        times, vehicle_speed, pedestrian_speed, rng = self.motion
        speed = (vehicle_speed if vehicle else pedestrian_speed) * rng.uniform(0.0, 2.0)
        # A vehicle in a lane drives the lane's way; every other object goes either way.
        in_lane = vehicle and track is not None
        direction = (-1.0 if track[2] < 0 else 1.0) if in_lane else rng.choice([-1.0, 1.0])
        reach = 0.5 * np.hypot(length, width)
        # Most of a long sequence's world is never seen: an object that cannot come near
        # any view is dropped before its path is made.
        if track is None:  # straight ahead or back
            travel = speed * times[-1]
        elif vehicle:  # along its lane, whose offset turns with the road: 2 |lane| more
            travel = speed * times[-1] + 2.0 * abs(track[2])
        else:  # a pedestrian on a walkway or a crossing: its path is needed to bound it
            travel = None
        if travel is not None and self._far(cy, cx, travel + reach):
            return _UNSEEN
        path = self._path(vehicle, cy, cx, heading, track, speed, direction)
        if not self._seen(path, reach):
            return _UNSEEN
        found = self.scene.rectangles(path, length, width)
        if found is None or not found[1][0].any():
            return None  # not in the map at frame 0, where it is counted
        window, masks = found
        if (masks & self.blocked[(slice(None), *window)]).any():
            return None
        if mode == "against" and (masks[0] & area[window]).any():
            return None
        self._block(self.blocked, window, masks)
        self.placed.append((kind, length, width, path))
        return window, masks[0]

    def _far(self, cy, cx, reach) -> bool:
        """Whether every point within ``reach`` of (cy, cx) is outside every frame's map
        (a test on the maps' circumscribed circles: it may say no for a far point).

        The circle holds every point within ``reach`` of a map, so no object that could
        be seen is dropped; it is tighter than :meth:`_seen`'s box at the corners, which
        keeps (unseen) objects that come within ``reach`` of both a row and a column of
        the map's edges."""
        views, half = self.views
        return bool(np.all(np.hypot(cy - views[:, 0], cx - views[:, 1])
                           > np.hypot(*half) + reach))

    def _seen(self, path, reach) -> bool:
        """Whether an object on ``path`` comes within ``reach`` of some frame's map."""
        views, half = self.views
        dy, dx = path[:, 0] - views[:, 0], path[:, 1] - views[:, 1]
        gy, gx = rotate(dy, dx, -views[:, 2])
        return bool(np.any((np.abs(gy) <= half[0] + reach) & (np.abs(gx) <= half[1] + reach)))

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
        turn = self.rng.normal(0.0, 0.05) + (np.pi if lane < 0 else 0.0)
        heading += turn
        return cy, cx, heading, (pick, t, lane, turn)

    def _on_path(self):
        cell = self.path_cells[self.rng.integers(len(self.path_cells))]
        row, col = divmod(int(cell), self.scene.shape[1])
        jitter = self.rng.random(2)
        return ((row + jitter[0]) * self.scene.res, (col + jitter[1]) * self.scene.res,
                self.rng.uniform(0.0, np.pi), "path")

    def _path(self, vehicle, cy, cx, heading, track, speed, direction):
        """(frames, 3) poses (y, x, heading) of an object that starts at (cy, cx, heading)
        and moves at ``speed``, forward or back (``direction`` +1 or -1): a vehicle in a
        lane drives along it, a pedestrian on a walkway walks along the road (across it
        on a crossing), the others go straight."""
        times = self.motion[0]
        if vehicle and track is not None:
            pick, t, lane, turn = track
            line = self.line_of[pick]
            arc = self.arc_start[pick] + t * self.lengths[pick] + direction * speed * times
            return self._along(line, arc, lane, turn)
        if track is not None:  # a pedestrian on a walkway or a crossing
            y0, x0, y1, x1 = self.segments.T
            dy, dx = y1 - y0, x1 - x0
            f = np.clip(((cy - y0) * dy + (cx - x0) * dx) / (dy * dy + dx * dx), 0.0, 1.0)
            near = int(np.argmin(np.hypot(cy - y0 - f * dy, cx - x0 - f * dx)))
            along = np.arctan2(dy[near], dx[near])
            # Where it stands from the road's centre line, as _along counts a lane.
            side = ((cx - x0[near] - f[near] * dx[near]) * np.sin(along)
                    - (cy - y0[near] - f[near] * dy[near]) * np.cos(along))
            if abs(side) >= self.road_half:  # on a walkway: along the road, round its bends
                arc = (self.arc_start[near] + f[near] * self.lengths[near]
                       + direction * speed * times)
                path = self._along(self.line_of[near], arc, side, 0.0)
                # Starting where it was placed (near a bend the road's frame is not exact).
                path[:, :2] += np.array([cy, cx]) - path[0, :2]
                path[:, 2] = heading
                return path
            walk = along + np.pi / 2  # on a crossing: across the road
        else:
            walk = heading
        walk = walk if direction > 0 else walk + np.pi
        return np.stack([cy + np.sin(walk) * speed * times, cx + np.cos(walk) * speed * times,
                         np.full_like(times, heading)], axis=1)

    def _along(self, line, arc, lane, turn):
        """Poses at arc lengths ``arc`` along road ``line``, ``lane`` metres off its centre
        (it stops at the road's ends)."""
        first, count = self.first[line], self.count[line]
        lengths = self.lengths[first:first + count]
        starts = self.arc_start[first:first + count]
        arc = np.clip(arc, 0.0, starts[-1] + lengths[-1])
        k = np.clip(np.searchsorted(starts, arc, side="right") - 1, 0, count - 1)
        y0, x0, y1, x1 = self.segments[first + k].T
        f = (arc - starts[k]) / lengths[k]
        heading = np.arctan2(y1 - y0, x1 - x0)
        return np.stack([y0 + f * (y1 - y0) - lane * np.cos(heading),
                         x0 + f * (x1 - x0) + lane * np.sin(heading), heading + turn], axis=1)

    def _block(self, blocked, window, mask):
        """Mark ``mask`` grown by one cell (8-neighbourhood) in ``blocked``: one map, or
        one per frame with ``mask`` one per frame too."""
        rows, cols = window
        # Nine shifted copies inside a window one cell larger: far cheaper than a
        # morphology call per object.
        h, w = mask.shape[-2:]
        grown = np.zeros((*mask.shape[:-2], h + 2, w + 2), bool)
        for dy in range(3):
            for dx in range(3):
                grown[..., dy:dy + h, dx:dx + w] |= mask
        # The grown window starts one cell before the footprint's; clip it to the map.
        r0, c0 = max(rows.start - 1, 0), max(cols.start - 1, 0)
        r1 = min(rows.stop + 1, self.scene.shape[0])
        c1 = min(cols.stop + 1, self.scene.shape[1])
        blocked[..., r0:r1, c0:c1] |= grown[..., r0 - rows.start + 1:r1 - rows.start + 1,
                                            c0 - cols.start + 1:c1 - cols.start + 1]
