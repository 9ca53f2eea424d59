"""Sequences: the ego's poses, how one frame's grid maps onto another's, and warping.

A sequence is T frames of one scene, each seen in its own grid that moves with the ego.
Every grid has the ego at its centre, ``e = (H r / 2, W r / 2)`` in metres (``r`` metres
per cell; cell (i, j) has its centre at ((i + .5) r, (j + .5) r)).  A frame's **pose**
``(y, x, yaw)`` says where its grid lies in frame 0's grid: the ego at (y, x) metres,
the grid turned by ``yaw`` radians about it (positive from +x towards +y, the sense in
which a heading ``h`` points along (sin h, cos h) in (y, x)).  Frame 0's pose is
therefore ``(H r / 2, W r / 2, 0)``.

The one rule that maps a point between grids (:func:`frame_transform`) is used by the
generators to measure how alike consecutive frames are and by estimators that warp past
frames into the last one; ``torch.nn.functional.grid_sample`` takes the same matrix.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rotate", "ego_poses", "frame_transform", "warps_to_last", "warp", "temporal_phi"]


def rotate(y, x, angle):
    """Turn (y, x) by ``angle`` radians: a heading h becomes h + angle."""
    c, s = np.cos(angle), np.sin(angle)
    return y * c + x * s, x * c - y * s


def ego_poses(frames: int, dt: float, speed: float, yaw_rate: float, shape, resolution: float,
              heading: float = 0.0) -> np.ndarray:
    """Poses of an ego driving at constant ``speed`` (m/s) and ``yaw_rate`` (rad/s).

    ``heading`` is the ego's heading in frame 0's grid.  The path is the exact arc of a
    constant turn (a straight line when ``yaw_rate`` is 0).

    Returns
    -------
    ndarray of float64, shape (frames, 3)
        ``(y, x, yaw)`` per frame, see the module notes.
    """
    time = np.arange(frames) * dt
    turn = yaw_rate * time
    if yaw_rate == 0:
        along = speed * time
        dy, dx = along * np.sin(heading), along * np.cos(heading)
    else:
        radius = speed / yaw_rate
        dy = radius * (np.cos(heading) - np.cos(heading + turn))
        dx = radius * (np.sin(heading + turn) - np.sin(heading))
    centre = np.asarray(shape, float) * resolution / 2.0
    return np.stack([centre[0] + dy, centre[1] + dx, turn], axis=1)


def frame_transform(pose_from, pose_to, shape, resolution: float):
    """The affine map from cell indices of the ``pose_to`` grid to those of ``pose_from``.

    Returns ``(matrix, offset)``: the cell at index ``o`` (continuous, row and column) of
    the ``pose_to`` grid lies at ``matrix @ o + offset`` in the ``pose_from`` grid, which
    is what :func:`scipy.ndimage.affine_transform` takes to pull a ``pose_from`` map into
    the ``pose_to`` grid.
    """
    y0, x0, yaw_from = (float(v) for v in pose_from)
    y1, x1, yaw_to = (float(v) for v in pose_to)
    angle = yaw_to - yaw_from
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.array([[c, s], [-s, c]])  # rotate() as a matrix on (y, x)
    centre = np.asarray(shape, float) * resolution / 2.0
    # In metres: m_from = e + R(yaw_to - yaw_from)(m_to - e) + R(-yaw_from)(p_to - p_from),
    # and a cell index is m / r - 0.5.
    my, mx = rotate(y1 - y0, x1 - x0, -yaw_from)
    shift = centre - matrix @ centre + np.array([my, mx])
    offset = shift / resolution + matrix @ np.full(2, 0.5) - 0.5
    return matrix, offset


def warps_to_last(poses, shape, resolution: float) -> np.ndarray:
    """Every frame's :func:`frame_transform` into the last frame's grid, as one array.

    Parameters
    ----------
    poses : ndarray, shape (..., T, 3)
        A sequence's poses (or a batch of them).
    shape : (int, int)
        The grid's (H, W).
    resolution : float
        Metres per cell (the unit of the poses' y and x).

    Returns
    -------
    ndarray of float64, shape (..., T, 2, 3)
        ``[matrix | offset]`` of frame t: the last frame's cell at index ``o`` lies at
        ``matrix @ o + offset`` in frame t's grid.  The last frame's is the identity.
    """
    poses = np.asarray(poses, dtype=np.float64)
    out = np.empty((*poses.shape[:-1], 2, 3))
    for index in np.ndindex(*poses.shape[:-2]):
        sequence = poses[index]
        for t in range(len(sequence)):
            matrix, offset = frame_transform(sequence[t], sequence[-1], shape, resolution)
            out[index + (t,)] = np.column_stack([matrix, offset])
    return out


def warp(maps, pose_from, pose_to, resolution: float):
    """Maps of the ``pose_from`` grid seen in the ``pose_to`` grid, nearest cell.

    Parameters
    ----------
    maps : ndarray, shape (..., H, W)

    Returns
    -------
    (warped, valid) : ndarray of the maps' dtype, shape (..., H, W); ndarray bool (H, W)
        ``valid`` marks the cells that ``pose_from``'s grid saw; the others are 0.
    """
    maps = np.asarray(maps)
    shape = maps.shape[-2:]
    matrix, offset = frame_transform(pose_from, pose_to, shape, resolution)
    if np.array_equal(matrix, np.eye(2)) and not offset.any():  # the same grid
        return maps.copy(), np.ones(shape, bool)
    rows, cols = np.indices(shape, dtype=np.float64)
    src = np.tensordot(matrix, np.stack([rows, cols]), axes=1) + offset[:, None, None]
    # The nearest cell: the one whose centre (an integer index) is closest.
    index = np.floor(src + 0.5).astype(np.intp)
    valid = np.all((index >= 0) & (index < np.asarray(shape)[:, None, None]), axis=0)
    # One gather of flat indices for every map, then the unseen cells cleared: cheaper
    # than indexing every map by a boolean mask.
    flat = np.where(valid, index[0] * shape[1] + index[1], 0).ravel()
    out = maps.reshape(*maps.shape[:-2], shape[0] * shape[1])[..., flat].reshape(maps.shape)
    out[..., ~valid] = 0
    return out, valid


def temporal_phi(clean, poses, resolution: float) -> np.ndarray:
    """Frame-to-frame phi of each class: how alike a class is in consecutive frames.

    Frame t - 1 is warped into frame t's grid (nearest cell) and the phi coefficient is
    taken over the cells both frames saw; the result is the mean over the T - 1 pairs.

    Parameters
    ----------
    clean : ndarray of uint8 or bool, shape (T, C, H, W), 0 and 1
    poses : ndarray, shape (T, 3)

    Returns
    -------
    ndarray of float64, shape (C,)
        ``nan`` for a class whose maps are constant over the cells compared.
    """
    frames, classes = clean.shape[:2]
    if frames < 2:
        return np.full(classes, np.nan)
    out = np.zeros(classes)
    for t in range(1, frames):
        past, valid = warp(clean[t - 1], poses[t - 1], poses[t], resolution)
        # From counts, as class_correlation: exact, and far cheaper than centred float64
        # copies.  The past is 0 where its frame saw nothing, so masking the present
        # there keeps every count to the cells both frames saw.
        a = np.asarray(past, dtype=bool).reshape(classes, -1)
        b = (np.asarray(clean[t], dtype=bool) & valid).reshape(classes, -1)
        n = float(np.count_nonzero(valid))
        sa = np.count_nonzero(a, axis=1).astype(np.float64)
        sb = np.count_nonzero(b, axis=1).astype(np.float64)
        sab = np.count_nonzero(a & b, axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out += (n * sab - sa * sb) / np.sqrt(sa * (n - sa) * sb * (n - sb))
    return out / (frames - 1)
