"""How close a store's scenes are to a real dataset's: ``ogmbench info --calibration``.

A target set gives, per class name, the fraction of positive cells and, per object type,
its mean footprint (length x width in metres).  The default, :data:`NUSCENES_FRONT`,
holds the closest published figures for BEV maps of 0.5 m cells: positive-cell
fractions of nuScenes' BEV semantic maps, as configured in the mono-semantic-maps
dataset (Roddick & Cipolla, CVPR 2020), and as footprints the dataset-mean anchor sizes
mmdetection3d uses for nuScenes (the figures are listed with the family drawn to match
them, in ``ogmbench.generators``).

Those fractions were measured over the front camera's field ([-25, 25] x [1, 50] m
ahead of the ego), not over a surround grid: a user with their own dataset's statistics
gives them as a target file (:func:`load_targets`) instead.

Objects are measured from the clean maps: 8-connected components of a class, each
component's length and width from the second moments of its cells (a w x l rectangle
has variances l^2/12 and w^2/12 along its axes).  Which classes are objects, and the
types an object class's components are sorted into by length (halfway between the types'
target lengths), is what the store's family declares (``Model.calibration``); the
figures of :data:`NUSCENES_FRONT` come from the generators too, next to the footprints
their family draws by default.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError
from .generators import FAMILIES
from .generators import NUSCENES_FRONT as _NUSCENES_FRONT
from .places import read_regular
from .seeding import rho_id
from .store import Store

__all__ = ["Targets", "NUSCENES_FRONT", "load_targets", "measure", "calibrate",
           "format_calibration", "TOLERANCE"]

# The calibration is judged within this relative band (the issue's ±20%).
TOLERANCE = 0.2
# A footprint is compared only when the grid resolves it: its width spans this many
# cells.  Below that the raster decides the measured size (a 0.73 x 0.66 m object on
# 0.5 m cells is one to four cells, which measure 0.5 to 1 m whatever its true size).
RESOLVED_CELLS = 2
# Smaller target fractions are not figures of a real dataset (and overflow the ratio).
MIN_FRACTION = 1e-6


@dataclass(frozen=True)
class Targets:
    """A dataset's statistics to calibrate against.

    Attributes
    ----------
    name : str
    fractions : dict
        Positive-cell fraction per class name or object type (the types a family sorts
        an object class's components into).
    footprints : dict
        Mean (length, width) in metres per object type.
    source : str
        Where the figures come from (shown with the table).
    """

    name: str
    fractions: dict[str, float]
    footprints: dict[str, tuple[float, float]] = field(default_factory=dict)
    source: str = ""


NUSCENES_FRONT = Targets(**_NUSCENES_FRONT)


def declared_objects(family: str | None = None) -> dict[str, tuple[str, ...]]:
    """Object class -> the types its components are sorted into, as ``family`` declares
    (``{}`` for a family that declares no objects); with no family, what every
    registered family declares."""
    models = FAMILIES.values() if family is None else [FAMILIES[family]] if (
        family in FAMILIES) else []
    return {name: types for model in models if model.calibration
            for name, types in model.calibration.objects.items()}


def load_targets(path: str | Path) -> Targets:
    """Read a target file (TOML or JSON) with ``[fractions]`` and ``[footprints]``.

    ``fractions`` maps a class name (or object type) to a fraction in (0, 1);
    ``footprints`` maps an object type to ``[length, width]`` in metres.

    Raises
    ------
    UsageError
        One line naming the file and what is wrong in it.
    """
    path = Path(path)
    try:
        # A regular file only (a pipe would hang, /dev/zero never end), and a page of it.
        data = read_regular(path, limit=1 << 20)
        if len(data) > 1 << 20:
            raise UsageError(f"--targets {path}: larger than 1 MiB, not a table of targets")
        text = data.decode("utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise UsageError(f"--targets {path}: {exc.strerror or exc}") from None
    except (ValueError, tomllib.TOMLDecodeError, RecursionError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise UsageError(f"--targets {path}: not valid {kind} ({exc})") from None
    if not isinstance(data, dict) or set(data) - {"name", "source", "fractions", "footprints"}:
        raise UsageError(f"--targets {path}: expected the tables fractions and footprints "
                         "(and optionally name, source)")
    fractions, footprints = data.get("fractions", {}), data.get("footprints", {})
    if not isinstance(fractions, dict) or not isinstance(footprints, dict):
        raise UsageError(f"--targets {path}: fractions and footprints must be tables")
    for key, value in fractions.items():
        if not _number(value) or not MIN_FRACTION <= value < 1:
            raise UsageError(f"--targets {path}: fractions.{key} must be a number in "
                             f"[{MIN_FRACTION:g}, 1), got {value!r}")
    for key, value in footprints.items():
        if (not isinstance(value, list) or len(value) != 2
                or not all(_number(v) and 0 < v < 1000 for v in value)):
            raise UsageError(f"--targets {path}: footprints.{key} must be [length, width] in "
                             f"metres, got {value!r}")
    if not fractions and not footprints:
        raise UsageError(f"--targets {path}: no fractions and no footprints to compare with")
    return Targets(str(data.get("name", path.stem)), {k: float(v) for k, v in fractions.items()},
                   {k: (float(v[0]), float(v[1])) for k, v in footprints.items()},
                   str(data.get("source", str(path))))


def _number(value) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _type_bounds(targets: Targets, types: tuple[str, ...]) -> list[tuple[str, float]]:
    """(type, upper length bound in m) of every one of ``types``, by length; none unless
    the targets give every type's footprint (a type without one would take the others')."""
    if not types or not all(t in targets.footprints for t in types):
        return []
    types = sorted(types, key=lambda t: targets.footprints[t][0])
    lengths = [targets.footprints[t][0] for t in types]
    bounds = [(a + b) / 2 for a, b in zip(lengths, lengths[1:])] + [math.inf]
    return list(zip(types, bounds))


def measure(clean: np.ndarray, class_names: list[str], resolution: float | None,
            targets: Targets = NUSCENES_FRONT,
            objects: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Positive-cell fractions and object statistics of a block of clean maps.

    Parameters
    ----------
    clean : ndarray, shape (N, C, H, W)
        0/1 maps.
    class_names : list of str
    resolution : float or None
        Metres per cell; None when unknown (footprints are then in cells).
    targets : Targets
        Only for the object types' length bounds.
    objects : dict, optional
        Object class -> the types its components are sorted into (a family's
        declaration, :func:`declared_objects`); default: every registered family's.

    Returns
    -------
    dict
        ``cells`` (per sample), ``samples``, ``positive`` (cells per class name and
        per object type), ``objects`` (per object type: ``count``, ``lengths``,
        ``widths``, in metres where the resolution is known).
    """
    objects = declared_objects() if objects is None else objects
    out = {"samples": int(clean.shape[0]), "cells": int(clean.shape[2] * clean.shape[3]),
           "positive": {}, "objects": {}}
    for k, name in enumerate(class_names):
        maps = clean[:, k].astype(bool)
        out["positive"][name] = int(maps.sum())
        if name not in objects:
            continue
        bounds = _type_bounds(targets, objects[name]) if resolution else []
        for sample in maps:
            for kind, cells, l, w in _components(sample, name, bounds, resolution or 1.0):
                entry = out["objects"].setdefault(kind, {"count": 0, "cells": 0,
                                                         "lengths": [], "widths": []})
                entry["count"] += 1
                entry["cells"] += int(cells)
                entry["lengths"].append(float(l))
                entry["widths"].append(float(w))
    types = {t for sorted_into in objects.values() for t in sorted_into}
    for kind, entry in out["objects"].items():
        if kind in types:
            out["positive"][kind] = entry["cells"]
    return out


def _components(sample, name, bounds, scale):
    """(kind, cells, length, width) of each 8-connected component of one map: its kind
    by length from ``bounds`` (the class ``name`` without them), its size in metres
    (``scale`` metres per cell)."""
    from scipy import ndimage

    labels, count = ndimage.label(sample, structure=np.ones((3, 3), bool))
    if not count:
        return []
    ids = np.arange(1, count + 1)
    area = ndimage.sum_labels(np.ones_like(labels), labels, ids)
    yy, xx = np.indices(sample.shape)
    my, mx = (ndimage.mean(c, labels, ids) for c in (yy, xx))
    vyy = ndimage.mean(yy * yy, labels, ids) - my ** 2
    vxx = ndimage.mean(xx * xx, labels, ids) - mx ** 2
    vxy = ndimage.mean(yy * xx, labels, ids) - my * mx
    # Eigenvalues of each component's covariance; a cell adds 1/12 of variance
    # along each axis by itself (a uniform square), so it is counted in.
    half_trace, det = (vyy + vxx) / 2, vyy * vxx - vxy ** 2
    gap = np.sqrt(np.maximum(half_trace ** 2 - det, 0.0))
    length = np.sqrt(12 * (half_trace + gap + 1 / 12)) * scale
    width = np.sqrt(12 * np.maximum(half_trace - gap + 1 / 12, 0.0)) * scale
    kinds = [name] * count
    if bounds:
        kinds = [next(t for t, upper in bounds if l < upper) for l in length]
    return zip(kinds, area, length, width)


def calibrate(store: Store, targets: Targets = NUSCENES_FRONT,
              rho: float | None = None) -> dict[str, Any]:
    """Compare the store's clean maps at one rho with ``targets``.

    What is measured as objects is what the store's family declares
    (:func:`declared_objects`).

    Parameters
    ----------
    store : Store
    targets : Targets
    rho : float, optional
        The rho value whose samples are measured (default: the largest, where most
        objects follow the layout rule).

    Returns
    -------
    dict
        JSON-ready: ``rho``, ``samples``, ``resolution``, ``targets`` (name, source),
        ``rows`` (one per compared quantity: ``what``, ``measured``, ``target``,
        ``ratio``, ``within``), ``objects`` (per type: count per sample, mean and
        spread of length and width) and ``unresolved`` (types whose footprint is not
        compared because the grid does not resolve it).

    Raises
    ------
    UsageError
        When ``rho`` is not one of the store's, or nothing in the store has a target.
    """
    store.single_frames("info --calibration")
    values = sorted({float(r) for r in rho_id(store.rho)})
    chosen = max(values) if rho is None else float(rho_id(rho))
    if chosen not in values:
        raise UsageError(f"--rho {rho} is not one of the store's rho values "
                         f"({', '.join(f'{v:g}' for v in values)})")
    params = store.attrs.get("family_params") or {}
    resolution = params.get("resolution")
    names = store.class_names
    declared = declared_objects(store.attrs.get("family"))
    total = _measure_rho(store, chosen, resolution, targets, declared)
    rows = _fraction_rows(total, names, resolution, targets, declared)
    objects, unresolved = {}, []
    for kind, entry in sorted(total["objects"].items()):
        lengths, widths = np.array(entry["lengths"]), np.array(entry["widths"])
        objects[kind] = {"per_sample": entry["count"] / max(total["samples"], 1),
                         "length_mean": float(lengths.mean()), "length_std": float(lengths.std()),
                         "width_mean": float(widths.mean()), "width_std": float(widths.std())}
        if resolution and kind in targets.footprints:
            length, width = targets.footprints[kind]
            if min(length, width) < RESOLVED_CELLS * resolution:
                unresolved.append(kind)
                continue
            rows.append(_row(f"length {kind} (m)", objects[kind]["length_mean"], length))
            rows.append(_row(f"width {kind} (m)", objects[kind]["width_mean"], width))
    if not rows:
        raise UsageError(f"{store.path}: none of its classes ({', '.join(names)}) has a "
                         f"calibration target in {targets.name} "
                         f"({', '.join(targets.fractions)})")
    return {"path": str(store.path), "rho": chosen, "samples": total["samples"],
            "resolution": resolution, "targets": {"name": targets.name, "source": targets.source},
            "rows": rows, "objects": objects, "unresolved": unresolved,
            "tolerance": TOLERANCE}


def _measure_rho(store, chosen, resolution, targets, objects) -> dict[str, Any]:
    """:func:`measure` of the store's samples at rho ``chosen``, summed over its blocks."""
    wanted = np.flatnonzero(rho_id(store.rho) == chosen)
    total: dict[str, Any] = {"samples": 0, "positive": {}, "objects": {}, "cells": 0}
    for block in store.iter_range(int(wanted[0]), int(wanted[-1]) + 1, ("clean",)):
        keep = rho_id(block["rho"]) == chosen
        part = measure(block["clean"][keep], store.class_names, resolution, targets, objects)
        total["samples"] += part["samples"]
        total["cells"] = part["cells"]
        for key, value in part["positive"].items():
            total["positive"][key] = total["positive"].get(key, 0) + value
        for kind, entry in part["objects"].items():
            into = total["objects"].setdefault(kind, {"count": 0, "cells": 0,
                                                      "lengths": [], "widths": []})
            for key in ("count", "cells"):
                into[key] += entry[key]
            into["lengths"] += entry["lengths"]
            into["widths"] += entry["widths"]
    return total


def _fraction_rows(total, names, resolution, targets, objects) -> list[dict[str, Any]]:
    """The rows of the targets' positive-cell fractions that the store can be compared
    with: its classes', and its object types' where their components can be sorted."""
    cells = max(total["samples"] * total["cells"], 1)
    owner = {t: name for name, types in objects.items() for t in types}
    rows = []
    for what, target in targets.fractions.items():
        if what in owner:
            sorted_types = (owner[what] in names and resolution
                            and _type_bounds(targets, objects[owner[what]]))
            if not sorted_types:
                continue  # the class's objects cannot be told apart: no type rows
        elif what not in total["positive"]:
            continue
        measured = total["positive"].get(what, 0) / cells
        rows.append(_row(f"fraction {what}", measured, target))
    return rows


def _row(what: str, measured: float, target: float) -> dict[str, Any]:
    ratio = measured / target
    return {"what": what, "measured": measured, "target": target, "ratio": ratio,
            "within": abs(ratio - 1) <= TOLERANCE}


def format_calibration(report: dict[str, Any]) -> str:
    """The calibration report as text: a table of measured against target."""
    lines = [f"{report['path']}: {report['samples']} samples at rho {report['rho']:g}, "
             + (f"{report['resolution']:g} m per cell" if report["resolution"]
                else "resolution unknown (footprints in cells, not compared)"),
             f"targets: {report['targets']['name']} ({report['targets']['source']})", ""]
    width = max(len(r["what"]) for r in report["rows"])
    lines.append(f"{'':<{width}}  {'measured':>9}  {'target':>9}  {'ratio':>6}")
    for r in report["rows"]:
        mark = "" if r["within"] else f"  outside ±{report['tolerance']:.0%}"
        lines.append(f"{r['what']:<{width}}  {r['measured']:>9.4g}  {r['target']:>9.4g}  "
                     f"{r['ratio']:>6.2f}{mark}")
    if report["objects"]:
        unit = "m" if report["resolution"] else "cells"
        lines += ["", f"objects (length x width in {unit}, mean ± std):"]
        for kind, o in report["objects"].items():
            lines.append(f"  {kind}: {o['per_sample']:.1f} per sample, "
                         f"{o['length_mean']:.2f} ± {o['length_std']:.2f} x "
                         f"{o['width_mean']:.2f} ± {o['width_std']:.2f}")
    for kind in report.get("unresolved", ()):
        lines.append(f"  ({kind} footprint not compared: under {RESOLVED_CELLS} cells wide at "
                     f"{report['resolution']:g} m per cell)")
    outside = sum(not r["within"] for r in report["rows"])
    lines += ["", f"{len(report['rows']) - outside} of {len(report['rows'])} within "
              f"±{report['tolerance']:.0%} of the targets"]
    return "\n".join(lines)
