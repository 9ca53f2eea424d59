"""What the urban family declares: its classes, its objects' footprints, its parameters.

The parameters' defaults here are the only ones: :func:`knobs` fills in what a call of
``urban`` or ``urban_sequence`` leaves out from them.
"""

from __future__ import annotations

from types import SimpleNamespace

from .._params import SEQUENCE_PARAMS, Param

__all__ = ["CLASSES", "DEFAULT_CLASSES", "GROUND", "OBJECT_TYPES", "VEHICLE_TYPES",
           "FOOTPRINTS", "NUSCENES_FRONT", "PARAMS", "MOTION", "knobs", "sizes"]

CLASSES = ("vehicle", "drivable", "walkway", "ped_crossing", "pedestrian")
# Two classes by default: the target and the prior of the benchmark's first urban dataset.
DEFAULT_CLASSES = ("vehicle", "drivable")
# Flat classes: a lidar or a camera sees them without being blocked by them.
GROUND = frozenset({"drivable", "walkway", "ped_crossing"})
# Placed in this order, largest first, so the large ones still find room.
OBJECT_TYPES = ("bus", "truck", "car", "pedestrian")
# The types the vehicle class is made of (calibration tells them apart by length).
VEHICLE_TYPES = ("car", "truck", "bus")
# Mean footprints (length, width) in metres: the nuScenes anchors of mmdetection3d.
FOOTPRINTS = {"car": (4.61, 1.95), "truck": (6.74, 2.46), "bus": (11.19, 2.94),
              "pedestrian": (0.73, 0.66)}

# The real dataset the defaults are drawn to match (``ogmbench info --calibration``'s
# default targets; the figures and their sources are in ogmbench.calibration's notes).
NUSCENES_FRONT = dict(
    name="nuscenes-front",
    fractions={"drivable": 0.447, "walkway": 0.145, "ped_crossing": 0.024,
               "vehicle": 0.0209 + 0.0048 + 0.0016, "car": 0.0209, "truck": 0.0048,
               "bus": 0.0016, "pedestrian": 0.0012},
    # The default footprints are these anchors: one copy of the figures.
    footprints=dict(FOOTPRINTS),
    source="nuScenes BEV maps: fractions as in mono-semantic-maps (front camera field, "
           "[-25, 25] x [1, 50] m); footprints: mmdetection3d's nuScenes anchor sizes",
)

PARAMS = (
    Param(name="resolution", default=0.5, lo=0.01, hi=2.0, doc="metres per cell"),
    Param(name="roads", default=3.3, lo=0.0, hi=20.0,
          doc="mean through roads per 100 m of map side (the ego's road is one)"),
    Param(name="branches", default=3.3, lo=0.0, hi=50.0,
          doc="mean side streets per 100 m of map side"),
    Param(name="lanes", default=4, kind=int, lo=1, hi=12,
          doc="lanes per road, half in each direction"),
    Param(name="lane_width", default=3.5, lo=0.0, lo_open=True, doc="metres"),
    Param(name="walkway_width", default=3.5, lo=0.0, doc="metres, on each side of a road"),
    Param(name="crossing_width", default=4.0, lo=0.0, lo_open=True, doc="metres along the road"),
    Param(name="crossings", default=0.2, lo=0.0, hi=1.0,
          doc="probability that a junction's arm has a pedestrian crossing"),
    Param(name="cars", default=23.0, lo=0.0, hi=1e4, doc="mean count per hectare"),
    Param(name="trucks", default=2.9, lo=0.0, hi=1e4, doc="mean count per hectare"),
    Param(name="buses", default=0.5, lo=0.0, hi=1e4, doc="mean count per hectare"),
    Param(name="pedestrians", default=25.0, lo=0.0, hi=1e4, doc="mean count per hectare"),
    *(Param(name=f"{kind}_{side}", default=value, lo=0.0, lo_open=True, hi=100.0,
            doc=f"mean {kind} {side} in metres")
      for kind, (length, breadth) in FOOTPRINTS.items()
      for side, value in (("length", length), ("width", breadth))),
    Param(name="size_spread", default=0.1, lo=0.0, hi=1.0,
          doc="std of the log of an object's length and width"),
)

MOTION = (
    Param(name="speed", default=10.0, lo=0.0, hi=60.0, doc="the ego's speed, m/s"),
    Param(name="yaw_rate", default=0.0, lo=-180.0, hi=180.0,
          doc="the ego's turn rate, degrees per second"),
    Param(name="vehicle_speed", default=8.0, lo=0.0, hi=60.0,
          doc="mean speed of the other vehicles, m/s (each: a uniform factor in [0, 2])"),
    Param(name="pedestrian_speed", default=1.4, lo=0.0, hi=10.0,
          doc="mean walking speed, m/s (each: a uniform factor in [0, 2])"),
)

# What a sequence takes besides the scene's parameters (``noise_memory`` is the noise's).
_TIMING = tuple(p for p in SEQUENCE_PARAMS if p.name == "dt") + MOTION


def knobs(given: dict, sequence: bool = False) -> SimpleNamespace:
    """The scene's parameters (and a sequence's timing and motion): those ``given``,
    the declared defaults for the rest; an unknown name is a ``TypeError``, as for any
    function's keyword."""
    declared = {p.name: p.default for p in PARAMS + (_TIMING if sequence else ())}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TypeError(f"urban{'_sequence' if sequence else ''}() got an unexpected "
                        f"keyword argument {unknown[0]!r}")
    return SimpleNamespace(**{**declared, **given})


def sizes(k: SimpleNamespace) -> dict[str, tuple[float, float]]:
    """Each object type's mean (length, width) in metres, from :func:`knobs`."""
    return {kind: (getattr(k, f"{kind}_length"), getattr(k, f"{kind}_width"))
            for kind in FOOTPRINTS}
