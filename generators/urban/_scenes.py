"""The urban family's two functions: a street scene, and one seen over frames."""

from __future__ import annotations

import numpy as np

from .._params import check_size
from ..motion import ego_poses, rotate
from ._declared import DEFAULT_CLASSES, knobs, sizes
from ._draw import check_world, draw, empty_objects, margin_cells, paint
from ._layout import road_length
from ._scene import Scene

__all__ = ["urban", "urban_sequence"]


def urban(rng, rho, size, *, classes=DEFAULT_CLASSES, **params):
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

    Every parameter but ``classes`` is declared in the family's ``PARAMS``, which hold
    the defaults.

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
    k = knobs(params)
    scene, layout, placer, draws = draw(rng, rho, size, classes, k)
    placer.keep_clear_ego(layout.ego_heading, k.car_length + 2.0, k.car_width + 2.0)
    maps = layout.render(scene)
    objects = empty_objects(scene.shape)
    for kind, length, breadth, mode in draws(sizes(k)):
        paint(objects, kind, placer.place(kind, mode, length, breadth))
    maps.update(objects)
    return np.stack([maps[name] for name in layout.names]).astype(np.uint8)


def urban_sequence(rng, rho, size, *, frames, classes=DEFAULT_CLASSES, **params):
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
        Seconds between frames (default 0.5).
    speed, yaw_rate : float
        The ego's speed (m/s) and turn rate (degrees per second, positive from +x
        towards +y).
    vehicle_speed, pedestrian_speed : float
        Mean speeds (m/s).
    classes, resolution, roads, ...
        As :func:`urban`; the defaults of the timing and the motion are declared with
        the scene's parameters.

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
    k = knobs(params, sequence=True)
    height, width = check_size(size)
    res = float(k.resolution)
    motion = dict(frames=frames, dt=k.dt, speed=k.speed, yaw_rate=k.yaw_rate,
                  vehicle_speed=k.vehicle_speed, pedestrian_speed=k.pedestrian_speed)
    check_world((height, width), {"resolution": res}, motion)
    margin = margin_cells((height, width), res, **motion)
    times = np.arange(frames) * k.dt
    motion_rng = rng.spawn(1)[0]
    scene, layout, placer, draws = draw(
        rng, rho, size, classes, k, margin=margin,
        motion=(times, k.vehicle_speed, k.pedestrian_speed, motion_rng))
    # The ego's heading comes with the layout (none without roads: it then drives along +x).
    heading = layout.ego_heading or 0.0
    poses = ego_poses(frames, k.dt, k.speed, np.radians(k.yaw_rate), (height, width), res,
                      heading)
    offset = margin * res  # from frame 0's grid to the world's raster, in metres
    placer.views = (poses + [offset, offset, 0.0], np.array([height, width]) * res / 2.0)
    footprints = sizes(k)
    placer.keep_clear_ego(layout.ego_heading, footprints["car"][0] + 2.0,
                          footprints["car"][1] + 2.0)
    keep = _kept_on_roads(layout, scene, (height, width), res, offset)
    thin_rng = rng.spawn(1)[0]
    for kind, length, breadth, mode in draws(footprints):
        # (A pedestrian has no rule to follow without walkways: place() frees it.)
        follows = mode == "rule" and (kind != "pedestrian" or len(placer.path_cells))
        if not follows or thin_rng.random() < keep:
            placer.place(kind, mode, length, breadth)
    return _frames(layout, placer, poses, (height, width), res, offset), poses


def _kept_on_roads(layout, scene, shape, res, offset) -> float:
    """The fraction of a sequence's objects that follow the rule to keep.

    Objects are counted by area, and those that follow the rule by road: the world's
    roads are sparser than the map's (the network is densest at the centre), so the
    rule's objects are thinned to as many per metre of road as the map would hold."""
    height, width = shape
    world = scene.shape[0] * scene.shape[1]
    inner = road_length(layout.segments, (offset, offset), (height * res, width * res))
    return min(1.0, road_length(layout.segments, (0.0, 0.0), np.multiply(scene.shape, res))
               / world * (height * width) / inner) if inner > 0 else 1.0


def _frames(layout, placer, poses, shape, res, offset) -> np.ndarray:
    """Every frame's maps, (frames, classes, H, W): the layout and the placed objects
    seen from the frame's pose (world metres ``offset`` from frame 0's grid)."""
    height, width = shape
    frames = len(poses)
    grid = Scene(height, width, res)
    half = np.array([height, width]) * res / 2.0
    paths = np.array([path for *_, path in placer.placed]).reshape(-1, frames, 3)
    reach = np.array([0.5 * np.hypot(length, breadth) for _, length, breadth, _ in placer.placed])
    out = np.zeros((frames, len(layout.names), height, width), np.uint8)
    for t, (y, x, yaw) in enumerate(poses):
        def to_grid(py, px, ph, y=y + offset, x=x + offset, yaw=yaw):
            gy, gx = rotate(np.asarray(py) - y, np.asarray(px) - x, -yaw)
            return (gy + grid.cy, gx + grid.cx), np.asarray(ph) - yaw

        maps = layout.render(grid, to_grid=to_grid)
        objects = empty_objects(grid.shape)
        (gy, gx), gh = to_grid(paths[:, t, 0], paths[:, t, 1], paths[:, t, 2])
        # Only the objects that can reach into this frame's grid are drawn.
        seen = ((np.abs(gy - grid.cy) <= half[0] + reach) &
                (np.abs(gx - grid.cx) <= half[1] + reach))
        for i in np.flatnonzero(seen):
            kind, length, breadth, _ = placer.placed[i]
            paint(objects, kind, grid.rectangle(gy[i], gx[i], gh[i], length, breadth))
        maps.update(objects)
        out[t] = np.stack([maps[name] for name in layout.names])
    return out
