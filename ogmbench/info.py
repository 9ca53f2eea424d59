"""Summaries of a store: what ``ogmbench info`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from .generators import FAMILIES
from .seeding import rho_id
from .store import SPLITS, Store

__all__ = ["summarize", "format_summary"]


def summarize(store: Store) -> dict[str, Any]:
    """Counts, correlation, occupancy and noise statistics of a store, streamed by chunk.

    Returns a JSON-ready dict with one entry per rho value under ``"rho"`` and
    per-class noise statistics (all samples) under ``"noise"``:

    - ``noise_mean`` / ``noise_std``: of ``noisy - clean`` over all cells;
    - ``mse``: mean of ``(noisy - clean)**2`` (the identity estimator's MSE);
    - ``unobserved``: fraction of cells exactly 0.5 (lidar's never-observed cells);
    - ``outside_01``: fraction of noisy values outside [0, 1].

    Each rho's entry has the closed-form phi (``phi_expected``) where the store's family
    declares one.  A store of sequences adds ``"sequence"`` (frames, dt, motion) and,
    per rho, the mean frame-to-frame phi of each class (``phi_time_mean``; with its
    closed form ``phi_time_expected`` where the family declares one); noise and
    occupancy are over every frame, ``phi`` is the last frame's.
    """
    attrs = store.attrs
    per_rho, sums = _stream(store)
    n = np.maximum(sums["n"], 1)
    mean = sums["s1"] / n
    noise = [
        {"class": name, "noise_mean": _num(mean[k]),
         "noise_std": _num(np.sqrt(max(sums["s2"][k] / n[k] - mean[k] ** 2, 0.0))),
         "mse": _num(sums["s2"][k] / n[k]), "unobserved": _num(sums["half"][k] / n[k]),
         "outside_01": _num(sums["outside"][k] / n[k])}
        for k, name in enumerate(store.class_names)
    ]
    return {
        "path": str(store.path),
        "family": attrs["family"],
        "family_params": attrs["family_params"],
        "noise": attrs["noise"],
        "seed": attrs["seed"],
        "test_seed": attrs["config"].get("test_seed"),
        "samples": len(store),
        "classes": store.class_names,
        "size": attrs["size"],
        "split_counts": {name: int((store.split == s).sum()) for s, name in enumerate(SPLITS)},
        "digest": attrs.get("digest"),
        **({"sequence": {"frames": store.frames, **attrs["sequence"]}}
           if store.frames > 1 else {}),
        "rho": [_rho_row(store, r, entry) for r, entry in per_rho.items()],
        "noise_stats": noise,
    }


def _stream(store: Store) -> tuple[dict[float, dict], dict[str, np.ndarray]]:
    """One pass over the store's chunks: per rho, the split counts and occupied cells;
    per class, the sums of the noise statistics."""
    classes = store.classes
    per_rho = {float(r): {"counts": dict.fromkeys(SPLITS, 0), "occupied": np.zeros(classes),
                          "cells": 0}
               for r in store.attrs["rho_values"]}
    sums = {k: np.zeros(classes) for k in ("n", "s1", "s2", "half", "outside")}
    for block in store.iter_chunks():
        clean = block["clean"].astype(np.float64)
        noisy = block["noisy"].astype(np.float64)
        diff = noisy - clean
        # Every axis but the class axis (third from the end: sequences have time too).
        axes = tuple(i for i in range(clean.ndim) if i != clean.ndim - 3)
        sums["n"] += diff.size // classes
        sums["s1"] += diff.sum(axis=axes)
        sums["s2"] += (diff * diff).sum(axis=axes)
        sums["half"] += (noisy == 0.5).sum(axis=axes)
        sums["outside"] += ((noisy < 0) | (noisy > 1)).sum(axis=axes)
        block_rho = rho_id(block["rho"])
        for r in np.unique(block_rho):
            sel = block_rho == r
            entry = per_rho[float(r)]
            entry["occupied"] += clean[sel].sum(axis=axes)
            entry["cells"] += int(sel.sum()) * clean[0].size // classes
            for s, name in enumerate(SPLITS):
                entry["counts"][name] += int((block["split"][sel] == s).sum())
    return per_rho, sums


def _rho_row(store: Store, r: float, entry: dict) -> dict[str, Any]:
    """One rho's entry: counts, measured phi and occupancy, and what the family expects."""
    attrs = store.attrs
    model = FAMILIES.get(attrs["family"])
    chosen = rho_id(store.rho) == r
    phi = store.phi[chosen].astype(np.float64)
    row = {
        "rho": r,
        "counts": entry["counts"],
        "phi_mean": _num(np.nanmean(phi)) if np.isfinite(phi).any() else None,
        "phi_std": _num(np.nanstd(phi)) if np.isfinite(phi).any() else None,
        "phi_undefined": int(np.isnan(phi).sum()),
        "occupancy": [_num(x) for x in entry["occupied"] / max(entry["cells"], 1)],
    }
    if model is not None and model.expected_phi is not None:
        row["phi_expected"] = _num(model.expected_phi(r, attrs["family_params"],
                                                      int(attrs["classes"])))
    if store.frames > 1:
        phi_time = store.phi_time[chosen].astype(np.float64)
        row["phi_time_mean"] = [_num(np.nanmean(v)) if np.isfinite(v).any() else None
                                for v in phi_time.T]
        if model is not None and model.expected_temporal_phi is not None:
            row["phi_time_expected"] = [_num(v) for v in model.expected_temporal_phi(
                attrs["family_params"], attrs["sequence"], int(attrs["classes"]))]
    return row


def _num(x) -> float:
    return round(float(x), 6)


def format_summary(summary: dict[str, Any]) -> str:
    """Plain-text rendering of :func:`summarize` for the terminal."""
    lines = [
        f"store    {summary['path']}",
        f"family   {summary['family']}  "
        + " ".join(f"{k}={_fmt(v)}" for k, v in summary["family_params"].items()),
        f"noise    {summary['noise']}",
        f"samples  {summary['samples']}  ({', '.join(f'{k} {v}' for k, v in summary['split_counts'].items())})"
        f"  classes {', '.join(summary['classes'])}  size {summary['size'][0]}x{summary['size'][1]}"
        f"  seed {summary['seed']}"
        + (f" (test {summary['test_seed']})" if summary["test_seed"] is not None else ""),
        f"digest   {summary['digest']}",
        "",
    ]
    sequence = summary.get("sequence")
    if sequence:
        lines[-1:-1] = [f"frames   {sequence['frames']}, "
                        + " ".join(f"{k}={_fmt(v)}" for k, v in sequence.items() if k != "frames")
                        + "  (phi: last frame; phi_t: frame to frame, warped)"]
    has_expected = any("phi_expected" in row for row in summary["rho"])
    names = summary["classes"]
    header = f"{'rho':>7} {'train':>6} {'val':>5} {'test':>5} {'phi mean':>9} {'phi std':>8}"
    header += f" {'expected':>9}" if has_expected else ""
    widths = [max(12, len(n) + 5) for n in names]
    header += "".join(f" {'occ ' + n:>{w}}" for n, w in zip(names, widths))
    if sequence:
        header += "".join(f" {'phi_t ' + n:>{w + 2}}" for n, w in zip(names, widths))
        if any("phi_time_expected" in row for row in summary["rho"]):
            header += "".join(f" {'expected':>{w + 2}}" for w in widths)
    lines.append(header)
    for row in summary["rho"]:
        c = row["counts"]
        line = (f"{row['rho']:>7.3f} {c['train']:>6} {c['val']:>5} {c['test']:>5} "
                f"{_opt(row['phi_mean']):>9} {_opt(row['phi_std']):>8}")
        if has_expected:
            line += f" {_opt(row.get('phi_expected')):>9}"
        line += "".join(f" {o:>{w}.4f}" for o, w in zip(row["occupancy"], widths))
        for key in ("phi_time_mean", "phi_time_expected"):
            if key in row:
                line += "".join(f" {_opt(v):>{w + 2}}" for v, w in zip(row[key], widths))
        if row["phi_undefined"]:
            line += f"  ({row['phi_undefined']} samples with an empty or full class: phi undefined)"
        lines.append(line)
    lines += ["", f"{'class':>10} {'noise mean':>11} {'noise std':>10} {'MSE':>8} "
              f"{'unobserved':>11} {'outside[0,1]':>13}"]
    for row in summary["noise_stats"]:
        lines.append(f"{row['class']:>10} {row['noise_mean']:>11.4f} {row['noise_std']:>10.4f} "
                     f"{row['mse']:>8.4f} {row['unobserved']:>11.4f} {row['outside_01']:>13.4f}")
    return "\n".join(lines)


def _opt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _fmt(v) -> str:
    return "/".join(f"{x:g}" for x in v) if isinstance(v, list) else f"{v:g}"
