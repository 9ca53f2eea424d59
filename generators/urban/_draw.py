"""What a scene and a sequence share: the checks of their size, and the draw of a
layout, an object placer and the objects to place."""

from __future__ import annotations

import numpy as np

from .._params import ParamError, check_names, check_rho, check_size
from .._portable import exp
from ..motion import ego_poses
from ._declared import CLASSES, GROUND, OBJECT_TYPES
from ._layout import Layout, road_network
from ._placer import Placer
from ._scene import Scene

__all__ = ["MAX_SPAN", "MAX_WORLD_CELLS", "check_classes", "check_span", "check_world",
           "margin_cells", "noise_defaults", "draw", "empty_objects", "paint"]

# Larger maps are cities, not scenes around an ego (and junction finding grows fast).
MAX_SPAN = 2048.0
# A sequence's world holds one blocked map per frame: this many cells in all at most.
MAX_WORLD_CELLS = 1 << 28


def check_classes(classes) -> tuple[str, ...]:
    """Validate a subset of :data:`CLASSES`, given in their fixed order."""
    return check_names(classes, CLASSES, "urban")


def check_span(shape, params) -> None:
    """Refuse maps over :data:`MAX_SPAN` metres on a side (before any work starts)."""
    resolution = float(params.get("resolution", 0.5))
    if max(shape) * resolution > MAX_SPAN:
        raise ParamError(f"urban maps are at most {MAX_SPAN:g} m on a side, got "
                         f"{max(shape)} cells of {resolution:g} m")


def margin_cells(shape, res, frames, dt, speed, yaw_rate, vehicle_speed,
                 pedestrian_speed) -> int:
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


def check_world(shape, params, motion) -> None:
    """Refuse a sequence whose world (the map, plus how far the ego and the objects
    travel) is over :data:`MAX_SPAN` metres on a side or too large to hold per frame."""
    res = float(params.get("resolution", 0.5))
    keys = ("frames", "dt", "speed", "yaw_rate", "vehicle_speed", "pedestrian_speed")
    side = max(shape) + 2 * margin_cells(shape, res, **{k: motion[k] for k in keys})
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


def draw(rng, rho, size, classes, k, margin=0, motion=None):
    """The checks, the layout on ``scene`` (the map, or for a sequence the world
    ``margin`` cells beyond frame 0's map on every side), the object placer (given a
    sequence's ``motion``, see :class:`Placer`) and the object draws; ``k`` holds the
    scene's parameters (:func:`knobs`).
    """
    height, width = check_size(size)
    rho = check_rho(rho)
    names = check_classes(classes)
    res = float(k.resolution)
    check_span((height, width), {"resolution": res})
    # Separate streams: the layout draws nothing by the raster, so it is the same at any
    # resolution; object placement retries where the raster says a spot is taken.
    layout_rng, object_rng = rng.spawn(2)
    scene = Scene(height + 2 * margin, width + 2 * margin, res)
    road_half = k.lanes * k.lane_width / 2.0
    lines, ego_heading = road_network(layout_rng, scene, k.roads, k.branches, k.lane_width,
                                      k.lanes, span=max(height, width) * res)
    layout = Layout(names, lines, ego_heading, road_half, k.walkway_width)
    maps = layout.render(scene, crossings=(layout_rng, k.crossings, k.crossing_width))
    placer = Placer(scene, object_rng, layout.segments, k.lanes, k.lane_width, road_half,
                    maps["drivable"], maps["walkway"] | maps["ped_crossing"],
                    lines=lines, motion=motion)

    def draws(sizes):
        """(kind, length, width, mode) of each object to place, in placement order."""
        means = {"car": k.cars, "truck": k.trucks, "bus": k.buses, "pedestrian": k.pedestrians}
        hectares = scene.shape[0] * scene.shape[1] * res * res / 1e4
        for kind in OBJECT_TYPES:
            for _ in range(object_rng.poisson(means[kind] * hectares)):
                length, breadth = np.asarray(sizes[kind]) * exp(
                    object_rng.normal(-k.size_spread ** 2 / 2, k.size_spread, 2))
                u = object_rng.random()
                yield kind, length, breadth, "rule" if u < rho else "against" if u < -rho else "free"

    return scene, layout, placer, draws


def empty_objects(shape) -> dict[str, np.ndarray]:
    """Empty maps of the object classes."""
    return {"vehicle": np.zeros(shape, bool), "pedestrian": np.zeros(shape, bool)}


def paint(objects, kind, footprint) -> None:
    """Draw an object's footprint (window, mask), if any, into its class's map."""
    if footprint is not None:
        into = objects["pedestrian" if kind == "pedestrian" else "vehicle"]
        into[footprint[0]] |= footprint[1]
