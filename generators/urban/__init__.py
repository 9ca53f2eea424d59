"""Metric street scenes: the ``urban`` family.

A scene is drawn in metres and rasterised once at ``resolution`` metres per cell, so the
same seed and extent in metres give the same streets at 0.5 m and at 0.25 m.  Its classes, in this fixed
order, are :data:`CLASSES`: vehicles (cars, trucks and buses), the drivable area,
walkways along the roads, pedestrian crossings on the road arms at junctions, and
pedestrians.  Every class is drawn whatever subset is asked for, so a subset's maps are
the same as the full scene's maps of those classes.

The package: ``_declared`` (classes, footprints, parameters and their defaults),
``_scene`` (the raster in metres), ``_layout`` (roads, junctions, crossings), ``_placer``
(objects, and their paths in a sequence), ``_draw`` (what a scene and a sequence share,
and the size checks) and ``_scenes`` (:func:`urban` and :func:`urban_sequence`).  This
face declares the family: :data:`MODEL`.
"""

from __future__ import annotations

from .._params import Calibration, Model
from ._declared import (CLASSES, DEFAULT_CLASSES, FOOTPRINTS, GROUND, MOTION, NUSCENES_FRONT,
                        OBJECT_TYPES, PARAMS, VEHICLE_TYPES)
from ._draw import MAX_SPAN, check_classes, check_span, check_world, noise_defaults
from ._placer import TRIES
from ._scenes import urban, urban_sequence

__all__ = ["CLASSES", "DEFAULT_CLASSES", "FOOTPRINTS", "GROUND", "OBJECT_TYPES",
           "VEHICLE_TYPES", "NUSCENES_FRONT", "MAX_SPAN", "TRIES", "MODEL", "urban",
           "urban_sequence", "check_classes", "check_span", "check_world", "noise_defaults"]

MODEL = Model(
    name="urban",
    func=urban,
    doc="metric street scene around an ego vehicle: vehicles and pedestrians follow "
    "the lanes and walkways of a road network by rho",
    class_names=CLASSES,
    default_classes=DEFAULT_CLASSES,
    noise_defaults=noise_defaults,
    check_size=check_span,
    params=PARAMS,
    sequence=urban_sequence,
    check_motion=check_world,
    motion=MOTION,
    # Vehicles and pedestrians are objects: their components are measured, and a
    # vehicle's length says whether it is a car, a truck or a bus.
    calibration=Calibration(objects={"vehicle": VEHICLE_TYPES, "pedestrian": ()}),
)
