"""Per-sample results -> pandas leaderboards.

``aggregate`` turns the per-sample rows of one or more run directories into one row per
(store, target, estimator, prior control, rho) with n, means, dataset-level IoU, ECE,
closed-form 95% intervals, and the paired difference to a reference estimator on the same
samples ("does the prior help").  ``pivot`` lays a metric out as estimator x rho.
Run directories are read through :mod:`ogmbench.runs`; rendering is
:mod:`ogmbench.report.tables`' job.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import metrics
from .errors import UsageError
from .metrics import METRICS
from .runs import RunDirError, locked_run, read_run
from .seeding import keyed_rng, rho_id
from .specs import LIMITS, default_reference

__all__ = ["load_run", "load_runs", "aggregate", "pivot", "write_leaderboard",
           "LeaderboardError"]

KEY = ["family", "noise", "store_digest", "target", "estimator", "control"]


class LeaderboardError(UsageError, ValueError):
    """Runs cannot be aggregated as asked (unreadable run, unknown metric or reference)."""


def load_run(run_dir: str | Path) -> pd.DataFrame:
    """Per-sample rows of one run with its provenance as columns."""
    try:
        run = read_run(run_dir)
        frames = []
        for record in run.records():
            if not record.ok:
                continue
            frame = run.samples(record.name).to_pandas()
            # Runs made before Brier was dropped (it equals MSE here) carry its copy.
            frame = frame.drop(columns=["brier"], errors="ignore")
            frame["params"] = json.dumps(record.params, sort_keys=True)
            # What the user fixed: a twin's equals its estimator's (tuning may differ).
            frame["fixed"] = json.dumps(record.fixed_params, sort_keys=True, default=str)
            frame["version"] = record.version
            frame["uses_prior"] = record.uses_prior
            frame["uses_past"] = record.uses_past
            frame["learned"] = record.learned
            frame["base_estimator"] = record.name
            frame["estimator"] = record.label
            frame["converged"] = record.converged
            frame["prior_source"] = record.prior_source
            frame["past_source"] = record.past_source
            frame["twin_of"] = record.twin_of or ""
            frames.append(frame)
    except RunDirError as exc:
        raise LeaderboardError(str(exc)) from None
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    if "train_seed" not in out:
        out["train_seed"] = 0
    for key in ("family", "noise", "store_digest", "target", "seed"):
        out[key] = run.get(key)
    # Trained on the first N train samples of each rho (a data-scaling run), or on all.
    out["train_size"] = run.get("train_size", -1)
    out["run"] = str(run.path)
    return out


def load_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Per-sample rows of several runs; an entry present in several runs is kept once.

    Entries are identical when store, target, estimator, parameters, version, control,
    seed and train size agree; the first run listed wins.  The same estimator trained on
    several train sizes (a data-scaling run beside a whole-split one) keeps one row per
    size, labelled ``@train<N>`` (N train samples per rho).
    """
    frames = [f for f in (load_run(d) for d in run_dirs) if not f.empty]
    for frame in frames:
        missing = [c for c in METRICS.columns() if c not in frame]
        if missing:
            raise LeaderboardError(
                f"{frame['run'].iloc[0]} has no {', '.join(missing)} column: it was scored "
                "before that metric was registered; eval --resume scores it again")
    if not frames:
        raise LeaderboardError("no finished estimator results in " + ", ".join(map(str, run_dirs)))
    rows = pd.concat(frames, ignore_index=True)
    identity = KEY + ["params", "version", "seed", "train_size", "train_seed", "sample"]
    rows = rows.drop_duplicates(subset=identity, keep="first").reset_index(drop=True)
    for column, default in (("prior_source", "noisy"), ("past_source", "noisy"), ("twin_of", ""),
                            ("fixed", "{}"), ("converged", None), ("uses_past", False)):
        if column not in rows:  # rows of runs made before twins, curves and sequences
            rows[column] = default
        elif default is not None:
            rows[column] = rows[column].fillna(default)
    before = rows["estimator"].copy()
    # One label with several parameter sets (e.g. two training profiles): tell them apart
    # by a short hash of the parameters rather than pool them.
    variants = rows.groupby(["store_digest", "target", "estimator"])["params"].transform("nunique")
    clash = variants > 1
    rows.loc[clash, "estimator"] = rows.loc[clash].apply(
        lambda r: f"{r['estimator']}#{zlib.crc32(r['params'].encode()) & 0xffff:04x}", axis=1)
    # The same estimator evaluated with several eval seeds: separate rows, never pooled.
    seeds = rows.groupby(["store_digest", "target", "estimator"])["seed"].transform("nunique")
    several = seeds > 1
    rows.loc[several, "estimator"] = (rows.loc[several, "estimator"] + "@seed"
                                      + rows.loc[several, "seed"].astype(str))
    # Trained on several train sizes (a data-scaling run beside a whole-split one):
    # separate rows, never pooled; the whole split's keeps the plain label.
    sizes = rows.groupby(["store_digest", "target", "estimator"])["train_size"].transform("nunique")
    subset = (sizes > 1) & (rows["train_size"] >= 0)
    rows.loc[subset, "estimator"] = (rows.loc[subset, "estimator"] + "@train"
                                     + rows.loc[subset, "train_size"].astype(str))
    # A twin follows its estimator's new label (same store, target, parameters, seed).
    link = ["store_digest", "target", "fixed", "seed"]
    renamed = rows.assign(twin_of=before)[link + ["twin_of", "estimator"]].drop_duplicates(
        subset=link + ["twin_of"]).rename(columns={"estimator": "_base"})
    twins = rows["twin_of"] != ""
    if twins.any():
        moved = rows.loc[twins, link + ["twin_of"]].merge(renamed, on=link + ["twin_of"],
                                                          how="left")["_base"]
        rows.loc[twins, "twin_of"] = moved.fillna(rows.loc[twins, "twin_of"]).to_numpy()
    return rows


def _paired_columns() -> list[str]:
    """The per-sample columns the paired metrics read, each once."""
    return list(dict.fromkeys(c for metric in METRICS.compared() for c in metric.needs))


def _by_seed(group: pd.DataFrame, samples=None) -> dict:
    """{training seed: its rows}, each in the order of ``samples`` (default: the samples
    every seed has, in the first seed's order)."""
    seeds = {seed: rows for seed, rows in group.groupby("train_seed", sort=True)}
    if samples is None:
        first = next(iter(seeds.values()))["sample"]
        common = set.intersection(*(set(rows["sample"]) for rows in seeds.values()))
        samples = [sample for sample in first if sample in common]
    return {seed: rows.set_index("sample").loc[list(samples)].reset_index()
            for seed, rows in seeds.items()}


def _seed_table(group: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """The rows as a seed-major table of training seeds by test samples (the samples
    every seed has), with its number of seeds and of samples."""
    if group["train_seed"].nunique() <= 1:
        return group, 1, len(group)
    tables = _by_seed(group)
    n = len(next(iter(tables.values())))
    return pd.concat(tables.values(), ignore_index=True), len(tables), n


def _group_stats(group: pd.DataFrame, key) -> dict:
    """Value and 95% interval of every sampled metric of one group: over its test samples,
    and with several training seeds over the seeds too (the value is then over every
    seed and sample; see :meth:`ogmbench.metrics.Metric.interval`)."""
    table, seeds, n = _seed_table(group)
    rng = keyed_rng(*key)
    out = {"n": n, "seeds": seeds}
    for metric in METRICS.sampled():  # one generator, drawn metric after metric
        out.update(_bounds(metric.key, metric.interval(table, n, rng, seeds=seeds)))
    out["threshold"] = float(group["threshold"].iloc[0])
    return out


def _bounds(name: str, interval) -> dict:
    return dict(zip((name, f"{name}_lo", f"{name}_hi"), interval))


def _seed_pairs(group: pd.DataFrame, ref: pd.DataFrame) -> list[tuple]:
    """Which training seed of ``group`` is compared with which of ``ref``: the same seed
    on both sides, or every seed against the one of a side trained once (or not at all);
    none when two sides trained on different seeds."""
    mine, theirs = sorted(set(group["train_seed"])), sorted(set(ref["train_seed"]))
    if len(theirs) == 1:
        return [(seed, theirs[0]) for seed in mine]
    if len(mine) == 1:
        return [(mine[0], seed) for seed in theirs]
    return [(seed, seed) for seed in mine if seed in set(theirs)]


def _compare(group: pd.DataFrame, ref: pd.DataFrame, key, compared) -> tuple[int, dict]:
    """The paired metrics ``compared`` of ``group`` against ``ref`` on their common
    samples, paired sample by sample: (n, their columns).

    With several training seeds, each seed is compared with the same seed of the other
    side (or with its only one), on the same samples, and the interval is over seeds and
    samples together.
    """
    pairs = _seed_pairs(group, ref)
    merged = [group[group["train_seed"] == mine].merge(
        ref[ref["train_seed"] == theirs], on="sample", suffixes=("", "_ref"))
        for mine, theirs in pairs]
    if not merged:
        return 0, {}
    common = set.intersection(*(set(both["sample"]) for both in merged))
    order = [sample for sample in merged[0]["sample"] if sample in common]
    if len(merged) > 1:
        merged = [both.set_index("sample").loc[order].reset_index() for both in merged]
    n = len(order)
    if n == 0:
        return 0, {}
    both = pd.concat(merged, ignore_index=True)
    rng = keyed_rng("paired", *key)
    columns = _paired_columns()
    mine = {c: both[c].to_numpy() for c in columns}
    theirs = {c: both[f"{c}_ref"].to_numpy() for c in columns}
    out = {}
    for metric in compared:  # one generator, drawn metric after metric
        for name, interval in metric.compare(mine, theirs, n, rng, seeds=len(merged)).items():
            out.update(_bounds(name, interval))
    return n, out


def _paired(group: pd.DataFrame, ref: pd.DataFrame, key) -> dict:
    """Estimator against the reference on the same samples: ``n_paired`` and the paired
    metrics that compare the two."""
    compared = [m for m in METRICS.compared() if (m.measured, m.against) == ("estimator",
                                                                             "reference")]
    n, out = _compare(group, ref, key, compared)
    return {"n_paired": n, **out} if n else {}


def aggregate(rows: pd.DataFrame, reference: str | None = "auto") -> pd.DataFrame:
    """One row per (store, target, estimator, control, rho), plus rho = "all".

    Columns: n (samples), seeds (training seeds); mse, psnr, iou, iou_val_t, ece,
    each with ``_lo``/``_hi`` 95% bounds, closed-form (the statistic linearised:
    :func:`ogmbench.metrics.two_way_interval`): over the samples for one seed; for
    several, over seeds and samples together (crossed random factors), the value then
    over every seed and sample; and, when a reference
    estimator is present, the paired ``d_mse``, ``gain_mse`` (% of the reference's MSE)
    and ``d_iou``, each seed paired with the same seed of the reference (or with its one
    run) on the same samples, intervals as above; for an estimator whose twins ran (``name:prior=shuffled``, ``prior=oracle``),
    ``gain_info`` (its MSE gain over its blind twin) and ``gain_oracle`` (its oracle
    twin's gain over the reference), paired the same way; for one that reads the past
    and whose past twins ran (``past=shuffled``, ``past=oracle``), ``gain_info_past``
    and ``gain_oracle_past`` alike.  Intervals are reproducible: each group's resampling is seeded by its key.
    """
    rows = rows.copy()
    if "base_estimator" not in rows:
        rows["base_estimator"] = rows["estimator"]
    rows["rho"] = rho_id(rows["rho"].to_numpy())
    everything = rows.assign(rho="all")
    records = []
    # The reference is chosen per store and target, among that store's estimators.
    references = {}
    for (digest, target), rows_of in rows.groupby(["store_digest", "target"]):
        references[(digest, target)] = (
            default_reference(rows_of["estimator"].unique().tolist()) if reference == "auto"
            else reference if reference in set(rows_of["estimator"]) else None)
    for frame in (rows, everything):
        for key, group in frame.groupby(KEY + ["rho"], sort=False):
            record = dict(zip(KEY + ["rho"], key))
            record.update(_group_stats(group, key))
            # The mean of per-sample phi (not the pooled phi: on small maps it lies below).
            record["phi_sample_mean"] = float(group["phi"].mean())
            ref_name = references[(record["store_digest"], record["target"])]
            record["reference"] = ref_name
            if ref_name is not None and (record["estimator"] != ref_name
                                         or record["control"] != "none"):
                mask = ((frame["store_digest"] == record["store_digest"])
                        & (frame["target"] == record["target"])
                        & (frame["estimator"] == ref_name) & (frame["control"] == "none")
                        & (frame["rho"] == key[-1]))
                ref = frame.loc[mask, ["sample", "train_seed", *_paired_columns()]]
                record.update(_paired(group, ref, key))
                if record["control"] == "none":
                    record.update(_twin_gains(frame, record, key, ref))
            if record["control"] == "none":
                record.update(_limit_gains(frame, record, key))
            records.append(record)
    out = pd.DataFrame.from_records(records)
    paired = ["n_paired"] + [f"{name}{s}" for metric in METRICS.compared()
                             for name in metric.outputs for s in ("", "_lo", "_hi")]
    for column in paired:  # present (maybe empty) whenever there could be a reference
        if column not in out:
            out[column] = np.nan
    return out


def _twin_gains(frame: pd.DataFrame, record: dict, key, ref: pd.DataFrame) -> dict:
    """The twin gains of an estimator whose twins ran (per prior source, X2 and the
    target's past frames: ``gain_info``, its gain over its blind twin, what that source
    carries; ``gain_oracle``, its oracle twin's gain over the reference, the ceiling),
    paired on the same test samples.  A twin counts for one source when only that source
    was replaced."""
    out = {}
    here = ((frame["store_digest"] == record["store_digest"])
            & (frame["target"] == record["target"]) & (frame["control"] == "none")
            & (frame["rho"] == key[-1]))
    mine = here & (frame["twin_of"] == record["estimator"])
    rows = {"estimator": (frame[here & (frame["estimator"] == record["estimator"])], key),
            "reference": (ref, None)}
    for metric in METRICS.compared():
        if "twin" not in (metric.measured, metric.against):
            continue
        twin = frame.loc[mine & (frame[metric.other] == "noisy")
                         & (frame[metric.source] == metric.twin)]
        if twin.empty:
            continue
        twin_key = list(key)
        twin_key[KEY.index("estimator")] = twin["estimator"].iloc[0]
        rows["twin"] = twin, tuple(twin_key)
        (measured, own_key), (against, _) = rows[metric.measured], rows[metric.against]
        if against.empty:
            continue
        # Against the reference, drawn as the measured row draws its own paired metrics
        # (the oracle ceiling and the oracle twin's gain_mse are one number, one
        # interval); against a twin, from the metric's own stream.
        draws = own_key if metric.against == "reference" else (metric.stream, *own_key)
        out.update(_compare(measured, against, draws, [metric])[1])
    return out


def _limit_gains(frame: pd.DataFrame, record: dict, key) -> dict:
    """Where both Bayes-optimal references ran: on the one with the prior, the attainable
    gain (``gain_bayes``, over the one without); on every other estimator but the
    reference, its share of it (``share_bayes``), paired on the same test samples."""
    here = ((frame["store_digest"] == record["store_digest"])
            & (frame["target"] == record["target"]) & (frame["control"] == "none")
            & (frame["rho"] == key[-1]))
    limit, alone = (frame[here & (frame["estimator"] == name)] for name in LIMITS)
    estimator, reference = record["estimator"], record["reference"]
    if limit.empty or alone.empty or estimator == LIMITS[1]:
        return {}
    if estimator == LIMITS[0]:
        return _compare(limit, alone, ("limit", *key), [METRICS["gain_bayes"]])[1]
    ref = frame[here & (frame["estimator"] == reference)]
    if reference is None or estimator == reference or ref.empty:
        return {}
    return _share(frame[here & (frame["estimator"] == estimator)], ref, limit, alone)


def _share(group, ref, limit, alone) -> dict:
    """``share_bayes`` of ``group`` over ``ref``, each training seed paired with its
    reference seed (:func:`_seed_pairs`), on the samples all four sides have."""
    pairs = _seed_pairs(group, ref)
    limits = limit.drop_duplicates("sample").merge(alone.drop_duplicates("sample"),
                                                   on="sample", suffixes=("_limit", "_alone"))
    merged = [group[group["train_seed"] == mine].merge(
        ref[ref["train_seed"] == theirs], on="sample", suffixes=("", "_ref")).merge(
        limits, on="sample") for mine, theirs in pairs]
    common = set.intersection(*(set(both["sample"]) for both in merged)) if merged else set()
    if not common:
        return {}
    order = [sample for sample in merged[0]["sample"] if sample in common]
    both = pd.concat([m.set_index("sample").loc[order].reset_index() for m in merged],
                     ignore_index=True)
    columns = _paired_columns()
    sides = [{c: both[f"{c}{suffix}"].to_numpy() for c in columns}
             for suffix in ("", "_ref")]
    sides += [{c: both[f"{c}{suffix}"].to_numpy()[:len(order)] for c in columns}
              for suffix in ("_limit", "_alone")]
    metric = METRICS["share_bayes"]
    return {name: value for name, interval in metric.compare_limits(
        *sides, n=len(order), seeds=len(merged)).items()
        for name, value in _bounds(name, interval).items()}


def pivot(agg: pd.DataFrame, metric: str = "mse", intervals: bool = True) -> pd.DataFrame:
    """estimator (and control) x rho table of ``metric``, as 'value ± half-width' strings."""
    if metric not in METRICS:
        raise LeaderboardError(f"unknown metric {metric!r} (allowed: {', '.join(METRICS)})")
    if metric not in agg:
        raise LeaderboardError(f"metric {metric!r} needs a reference estimator in the runs "
                               "(unet or identity)")
    digits = METRICS[metric].digits

    def cell(row):
        if not intervals:
            return metrics.format_value(row[metric], digits=digits)
        return metrics.format_value(row[metric], row.get(f"{metric}_lo"), row.get(f"{metric}_hi"),
                                    digits)

    table = agg.assign(value=agg.apply(cell, axis=1), store=agg["store_digest"].str[:8])
    table["rho"] = table["rho"].map(lambda r: r if r == "all" else f"{float(r):g}")
    index = ["family", "noise", "store", "target", "estimator", "control"]
    wide = table.pivot_table(index=index, columns="rho", values="value", aggfunc="first",
                             sort=False)
    ordered = sorted((c for c in wide.columns if c != "all"), key=float) + (
        ["all"] if "all" in wide.columns else [])
    wide = wide[ordered].fillna("")
    wide.columns.name = "rho"
    return wide


def write_leaderboard(run_dir: str | Path) -> pd.DataFrame:
    """Aggregate one run directory into its ``leaderboard.csv`` and return the table."""
    agg = aggregate(load_runs([run_dir]))
    try:
        with locked_run(run_dir) as run:
            run.write_text("leaderboard.csv", agg.to_csv(index=False))
    except RunDirError as exc:
        raise LeaderboardError(str(exc)) from None
    return agg
