"""A store of sequences: its time and axis coordinates (written and checked), and how each frame of a sample
maps into its last frame's grid (its warps, from the recorded poses through
:func:`ogmbench.generators.warps_to_last`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..generators import warps_to_last
from ._layout import POSE_AXES, Layout


def write_time_coordinates(group, layout: Layout, attrs: dict[str, Any]) -> None:
    """Seconds before the last frame (the one estimated), and what a pose holds."""
    dt = float(attrs["sequence"]["dt"])
    time = group.create_array("time", shape=(layout.frames,), dtype="float64",
                              dimension_names=("time",))
    time[:] = (np.arange(layout.frames) - (layout.frames - 1)) * dt
    axis = group.create_array("axis", shape=(len(POSE_AXES),), dtype=str,
                              dimension_names=("axis",))
    axis[:] = np.array(POSE_AXES)


def check_time_coordinates(group, layout: Layout, attrs: dict[str, Any]) -> bool:
    """Whether the time and axis coordinates are those :func:`write_time_coordinates`
    writes for the store's frames and ``dt`` (what xarray labels frames and poses by)."""
    try:
        dt = float(attrs["sequence"]["dt"])
        time = np.asarray(group["time"][:], dtype=np.float64)
        axis = [str(v) for v in group["axis"][:]]
    except Exception:  # missing, damaged, or not numbers
        return False
    expected = (np.arange(layout.frames) - (layout.frames - 1)) * dt
    return (time.shape == expected.shape and np.array_equal(time, expected)
            and axis == list(POSE_AXES))


def identity_warps(n: int) -> np.ndarray:
    """The warps of ``n`` samples of one frame each: (n, 1, 2, 3), the identity."""
    return np.broadcast_to(np.eye(2, 3), (n, 1, 2, 3)).copy()


def warps_from_poses(poses: np.ndarray, layout: Layout, attrs: dict[str, Any]) -> np.ndarray:
    """(n, T, 2, 3) ``[matrix | offset]`` per frame, from poses (n, T, 3) and the
    store's grid size and resolution."""
    return warps_to_last(poses, (layout.height, layout.width), float(attrs["resolution"]))
