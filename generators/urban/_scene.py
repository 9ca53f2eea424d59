"""The raster of an urban scene: cells in metres, and the shapes drawn into them."""

from __future__ import annotations

import numpy as np

__all__ = ["Scene"]


class Scene:
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
