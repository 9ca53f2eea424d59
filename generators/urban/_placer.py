"""Placing an urban scene's objects: each one empty cell away from all others, and for a
sequence, moving along its lane or walkway in every frame."""

from __future__ import annotations

import numpy as np

from .._portable import arctan2
from ..motion import rotate

__all__ = ["Placer", "TRIES"]

# Objects tried this often before one is given up (a full lane or walkway).
TRIES = 20
# What the placer says of an object of a sequence that no frame would ever show.
UNSEEN = object()


class Placer:
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
                if placed is UNSEEN:
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
            return UNSEEN
        path = self._path(vehicle, cy, cx, heading, track, speed, direction)
        if not self._seen(path, reach):
            return UNSEEN
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
        heading = arctan2(y1 - y0, x1 - x0)
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
            along = arctan2(dy[near], dx[near])
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
        heading = arctan2(y1 - y0, x1 - x0)
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
