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

    Each rho's entry has the phi of the first two classes pooled over every cell of its
    samples (``phi_pooled``), the mean and standard deviation of each sample's own phi
    (``phi_sample_mean``, ``phi_sample_std``: on small maps the mean is biased low), and
    the closed form of the pooled phi (``phi_expected``) where the store's family
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
    # Pooled phi of the first two classes (the ones the phi array holds): the counts of
    # occupied cells of each and of both, over the last frame of every sample.
    per_rho = {float(r): {"counts": dict.fromkeys(SPLITS, 0), "occupied": np.zeros(classes),
                          "cells": 0, "pooled": np.zeros(4)}
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
            if classes > 1:
                last = block["clean"][sel][:, -1] if clean.ndim == 5 else block["clean"][sel]
                a, b = last[:, 0].astype(bool), last[:, 1].astype(bool)
                entry["pooled"] += [a.size, np.count_nonzero(a), np.count_nonzero(b),
                                    np.count_nonzero(a & b)]
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
        "phi_pooled": _pooled_phi(*entry["pooled"]),
        "phi_sample_mean": _num(np.nanmean(phi)) if np.isfinite(phi).any() else None,
        "phi_sample_std": _num(np.nanstd(phi)) if np.isfinite(phi).any() else None,
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


def _pooled_phi(n: float, na: float, nb: float, nab: float) -> float | None:
    """The phi coefficient of two binary maps from the counts of all their cells (None
    when one of them is all empty or all occupied)."""
    spread = na * (n - na) * nb * (n - nb)
    return _num((n * nab - na * nb) / np.sqrt(spread)) if spread > 0 else None


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
    header = f"{'rho':>7} {'train':>6} {'val':>5} {'test':>5} {'phi pooled':>10}"
    header += f" {'expected':>9}" if has_expected else ""
    header += f" {'sample mean':>11} {'sample sd':>9}"
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
                f"{_opt(row['phi_pooled']):>10}")
        if has_expected:
            line += f" {_opt(row.get('phi_expected')):>9}"
        line += f" {_opt(row['phi_sample_mean']):>11} {_opt(row['phi_sample_std']):>9}"
        line += "".join(f" {o:>{w}.4f}" for o, w in zip(row["occupancy"], widths))
        for key in ("phi_time_mean", "phi_time_expected"):
            if key in row:
                line += "".join(f" {_opt(v):>{w + 2}}" for v, w in zip(row[key], widths))
        if row["phi_undefined"]:
            n = row["phi_undefined"]
            line += f"  ({n} sample{'' if n == 1 else 's'} with an empty or full class: phi undefined)"
        lines.append(line)
    lines.append(f"phi of {names[0]} and {names[1]}: pooled over every cell of a rho's "
                 "samples (its expectation is closed form), and each sample's own (their "
                 "mean is biased low on small maps)" if len(names) > 1 else "")
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
