"""The static layout of an urban scene: the road network, junction crossings, and the
drivable, walkway and ped_crossing maps they rasterise into."""

from __future__ import annotations

import math

import numpy as np

from .._portable import arctan2

__all__ = ["Layout", "road_network", "road_length"]

# Crossings on arms nearly parallel to the other road are placed as if at this sine.
MIN_SIN = 0.5
# Roads bend a little (the heading drifts by BEND radians) every SEGMENT metres.
SEGMENT, BEND = 25.0, 0.15
# A branch starts on its road up to rounding: where two roads meet, in segment lengths.
_EPS = 1e-9


def road_length(segments, origin, extent, samples=16) -> float:
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
    # math.fsum: numpy's sum groups its terms by the SIMD width, and so its last bits.
    return math.fsum(lengths * (np.count_nonzero(inside, axis=1) / samples))



class Layout:
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



def road_network(rng, scene, roads, branches, lane_width, lanes, span=None):
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
            ego_heading = float(arctan2(ahead[0][2] - ahead[0][0], ahead[0][3] - ahead[0][1]))
        # One polyline in one direction: the backward walk reversed, then the forward one.
        line = [(y1, x1, y0, x0) for y0, x0, y1, x1 in reversed(back)] + ahead
        lines.append(np.asarray(line, float).reshape(-1, 4))
    through = np.concatenate(lines) if lines else np.zeros((0, 4))
    for _ in range(branches if len(through) else 0):
        y0, x0, y1, x1 = through[rng.integers(len(through))]
        t = rng.random()
        start = (y0 + t * (y1 - y0), x0 + t * (x1 - x0))
        heading = arctan2(y1 - y0, x1 - x0) + rng.choice([-1.0, 1.0]) * np.pi / 2
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
        ha = arctan2(r[i, 0, 0], r[i, 0, 1])
        hb = arctan2(s[0, j, 0], s[0, j, 1])
        angle = ha - hb
        # The second polyline (a branch) starts here: it has one arm, not two.
        starts = cols[j] == 0 and u[i, j] < _EPS
        arms = [(ha, angle), (ha + np.pi, angle), (hb, angle)]
        out.append((point, arms + ([] if starts else [(hb + np.pi, angle)])))
    return out
