"""``ogmbench show``: a picture of a store's samples, clean and noisy classes side by side."""

from __future__ import annotations

import contextlib
import os
import textwrap

import numpy as np

from .errors import ConfigError
from .places import local_only
from .seeding import rho_id
from .store import Store

__all__ = ["pick_samples", "draw_samples", "MAP_COLORS", "MAP_LEGEND"]


MAX_ROWS = 32
# One convention for every picture of a map (show, the report's galleries): occupied
# cells dark, as on an occupancy grid printed in ink; noisy values on the same scale.
MAP_COLORS = "gray_r"
MAP_LEGEND = "occupancy probability (white: free, black: occupied)"


def pick_samples(store: Store, n: int) -> list[int]:
    """``n`` sample indices spread over the rho values.

    With fewer rows than rho values, the rho values are spread evenly from the smallest
    to the largest; otherwise every rho gets rows in turn (its first samples).
    """
    by_rho: dict[float, list[int]] = {}
    for index, rho in enumerate(rho_id(store.rho)):
        by_rho.setdefault(float(rho), []).append(index)
    order = [by_rho[r] for r in sorted(by_rho)]
    if n < len(order):
        order = [order[i] for i in np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))]
    picked: list[int] = []
    for depth in range(max(map(len, order))):
        for indices in order:
            if depth < len(indices) and len(picked) < n:
                picked.append(indices[depth])
    return sorted(picked, key=lambda i: (store.rho[i], i))


def draw_samples(store: Store, n: int, out: str | os.PathLike) -> list[int]:
    """Save a grid: one row per sample, columns clean class maps then noisy ones; for a
    store of sequences, a strip of frames per sample and class (clean, then noisy).

    Returns the sample indices drawn.
    """
    out = local_only(out, "--out")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suffix = os.path.splitext(os.fspath(out))[1].lower().lstrip(".")
    # Only formats that carry show's mark: it replaces a picture only when it wrote it.
    if suffix not in _METADATA:
        raise ConfigError(f"cannot write {os.fspath(out)!r}: show writes "
                          f"{', '.join(sorted(_METADATA))} (formats that carry its mark, so "
                          f"that it never replaces a picture of yours), not {suffix!r}")
    if not 1 <= n <= MAX_ROWS:
        raise ConfigError(f"-n must be in [1, {MAX_ROWS}], got {n}")
    _check_replaceable(out, suffix)
    indices = pick_samples(store, n)
    draw = _draw_sequences if store.frames > 1 else _draw_maps
    fig, cols, outside, cells = draw(plt, store, indices)
    # Break the long noise spec between parameters, never inside one.  Say what the
    # colours are and what the picture hides: values outside [0, 1] are drawn clipped.
    noise = store.attrs["noise"].replace(",", ", ")
    title = (f"{store.attrs['family']}  |  {noise}  |  black = occupied  |  noisy shown "
             f"clipped to [0, 1]: {100 * outside / max(cells, 1):.0f}% of cells outside")
    fig.suptitle("\n".join(textwrap.wrap(title, 25 * cols, break_long_words=False)), fontsize=8)
    # Written beside and renamed into place: never a half-written picture under its name.
    staged = f"{os.fspath(out)}.ogmbench-new.{suffix}"
    try:
        fig.savefig(staged, dpi=100, format=suffix, metadata=_METADATA.get(suffix))
        os.replace(staged, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(staged)
        raise ConfigError(f"cannot write {os.fspath(out)}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return indices


def _draw_maps(plt, store, indices):
    """One row per sample: its clean class maps, then its noisy ones."""
    names = store.class_names
    cols = 2 * len(names)
    fig, axes = plt.subplots(len(indices), cols, figsize=(2.0 * cols, 2.1 * len(indices)),
                             squeeze=False, constrained_layout=True)
    outside = cells = 0
    for row, index in enumerate(indices):
        sample = store[index]
        outside += int(np.count_nonzero((sample["noisy"] < 0) | (sample["noisy"] > 1)))
        cells += sample["noisy"].size
        panels = [(f"clean {name}", sample["clean"][k], MAP_COLORS) for k, name in enumerate(names)]
        panels += [(f"noisy {name}", sample["noisy"][k], MAP_COLORS)
                   for k, name in enumerate(names)]
        for col, (title, image, cmap) in enumerate(panels):
            shown = _panel(axes[row, col], image, cmap)
            if row == 0:
                axes[row, col].set_title(title, fontsize=9)
            if col == 0:
                axes[row, col].set_ylabel(f"#{index}  rho={sample['rho']:.2f}\n"
                                          f"phi={sample['phi']:.2f}", fontsize=8)
    fig.colorbar(shown, ax=axes[:, -1], shrink=0.6, label=MAP_LEGEND)
    return fig, cols, outside, cells


def _draw_sequences(plt, store, indices):
    """A strip of frames per sample and class: a row of its clean maps, oldest frame
    first, and under it a row of its noisy ones; the last column is the frame estimated."""
    names = store.class_names
    frames = store.frames
    dt = float(store.attrs["sequence"]["dt"])
    rows = 2 * len(names) * len(indices)
    fig, axes = plt.subplots(rows, frames, figsize=(1.9 * frames + 1.0, 1.9 * rows),
                             squeeze=False, constrained_layout=True)
    outside = cells = 0
    row = 0
    for index in indices:
        sample = store[index]
        outside += int(np.count_nonzero((sample["noisy"] < 0) | (sample["noisy"] > 1)))
        cells += sample["noisy"].size
        for k, name in enumerate(names):
            for kind, maps, cmap in (("clean", sample["clean"], MAP_COLORS),
                                     ("noisy", sample["noisy"], MAP_COLORS)):
                for t in range(frames):
                    shown = _panel(axes[row, t], maps[t, k], cmap)
                    if row == 0:
                        axes[row, t].set_title(f"t = {(t - frames + 1) * dt:+g} s", fontsize=9)
                label = f"{kind} {name}"
                if kind == "clean" and k == 0:
                    label = (f"#{index}  rho={sample['rho']:.2f}  phi={sample['phi']:.2f}\n"
                             + label)
                axes[row, 0].set_ylabel(label, fontsize=8)
                row += 1
    fig.colorbar(shown, ax=axes[:, -1], shrink=0.3, label=MAP_LEGEND)
    return fig, frames, outside, cells


def _panel(ax, image, cmap):
    shown = ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


# The mark by which show knows a picture is its own (and may replace it).
MARK = "ogmbench show"
_METADATA = {"png": {"Software": MARK}, "svg": {"Creator": MARK}, "pdf": {"Creator": MARK}}


def _check_replaceable(out, suffix: str) -> None:
    """An existing file at ``out`` is replaced only when show wrote it (its mark)."""
    path = os.fspath(out)
    if os.path.islink(path):
        raise ConfigError(f"{path} is a symbolic link; refusing to write through it "
                          "(choose another --out)")
    if not os.path.lexists(path):
        return
    ours = False
    if os.path.isfile(path) and suffix in _METADATA:
        with open(path, "rb") as f:
            ours = MARK.encode() in f.read(1 << 20)
    if not ours:
        raise ConfigError(f"{path} exists and was not written by ogmbench show; refusing to "
                          "overwrite it (choose another --out or remove it yourself)")
