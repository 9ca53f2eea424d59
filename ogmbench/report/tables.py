"""Tables of the report (rendered by :mod:`.markup`).

:func:`build_tables` decides which tables a benchmark report shows for one dataset; :func:`render_leaderboard` renders the
``ogmbench eval`` / ``ogmbench leaderboard`` pivot in the format asked for.  Everything
is a pure function of its inputs: the same results give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..leaderboard import LeaderboardError, pivot
from ..curves import RULE
from ..metrics import METRICS, format_value
from ..specs import KNOWING, LIMITS, twin_name
from .labels import estimator_of, prior_kind, prior_label, reads_past, row_label
from .markup import Cell, Table

__all__ = ["build_tables", "scaling_table", "render_leaderboard", "row_label"]


# --------------------------------------------------------------------------- tables


def _rhos(results) -> list[str]:
    values = sorted({r for r in results["rho"] if r != "all"}, key=float)
    return values + (["all"] if (results["rho"] == "all").any() else [])


# How an interval is made, in one phrase (tables, captions, the eval table's header).
INTERVAL = ("a closed-form 95% interval (the statistic linearised, its variance over the test "
            "samples with a t quantile; no resampling, so it is the same whenever computed)")
TWO_WAY = ("a closed-form 95% interval over training seeds and test samples (seeds and "
           "samples as crossed random factors, the statistic linearised, each part with its "
           "own t)")


def _interval_note(results) -> str:
    seeds = int(results["seeds"].max())
    if seeds > 1:
        return (f"over {seeds} training seeds and the test samples ± the half-width of "
                f"{TWO_WAY} (single-run estimators: over the test samples alone)")
    return f"value ± the half-width of {INTERVAL} over test samples"


def _paired_note(results) -> str:
    if int(results["seeds"].max()) > 1:
        return (f"paired on the same test samples and training seeds, ± the half-width of "
                f"{TWO_WAY} (single-run rows: over the test samples alone)")
    return f"paired on the same test samples, ± the half-width of {INTERVAL}"


@dataclass
class _Part:
    """One dataset's rows of the results and what its tables share."""

    part: object  # pandas.DataFrame
    dataset: str
    rhos: list[str]
    ref: str
    where: str
    cells: dict
    rows: list[tuple[str, str]]  # (estimator, control) in the results' order
    users: list[tuple[str, str]]  # the rows of learned estimators that read a prior
    temporal: bool  # a dataset of sequences: both priors are named

    @classmethod
    def of(cls, results, dataset: str) -> _Part:
        part = results[results["dataset"] == dataset]
        first = part.iloc[0]
        records = list(part.itertuples(index=False))
        shown = next(m.key for m in METRICS.values() if m.headline)
        rows = list(dict.fromkeys((r.estimator, r.control) for r in records if r.metric == shown))
        # The prior gain compares an estimator that reads X2 with the reference, the same
        # kind of model without X2: shown for the learned ones.  A classical filter that
        # reads X2 has no such twin here; its "X2 shuffled" rows show what X2 does for it.
        learned = {r.estimator for r in records if (r.uses_prior or reads_past(r)) and r.learned}
        return cls(part, dataset, _rhos(part), first["reference"],
                   f"{dataset}: {first['family']} family, noise {first['noise'].split(':')[0]}, "
                   f"target {first['target_name']}",
                   {(r.metric, r.estimator, r.control, r.rho): r for r in records}, rows,
                   [(e, c) for e, c in rows if e in learned], any(map(reads_past, records)))

    @property
    def top(self) -> str:
        return [r for r in self.rhos if r != "all"][-1]  # rhos is sorted by value

    def header(self, *first: str) -> list[str]:
        return [*first] + [f"ρ={r}" if r != "all" else "all ρ" for r in self.rhos]


def _over_reference(metric):
    """The paired metric of ``metric`` against the reference (``gain_mse`` of ``mse``),
    or None."""
    return next((m for m in METRICS.compared() if m.base is metric
                 and (m.measured, m.against) == ("estimator", "reference")), None)


def build_tables(results, dataset: str) -> list[Table]:
    """The tables of one dataset (estimator x rho): one per headline metric (MSE, IoU),
    the prior gain, and where the gain comes from when twins ran.

    Best per column (over the rows without a prior control) is bold; ties on the
    printed value are all bold.

    Parameters
    ----------
    results : pandas.DataFrame
        The long results table (:func:`ogmbench.results.collect_results`).
    dataset : str

    Returns
    -------
    list of Table
        One per headline metric, then the prior gain when a learned estimator reads X2
        (and the temporal prior on a dataset of sequences), then the attribution.
    """
    view = _Part.of(results, dataset)
    tables = [_metric_table(view, m) for m in METRICS.values() if m.headline]
    if view.users:
        tables.append(_temporal_table(view) if view.temporal else _gain_table(view))
    attribution = _attribution_table(view)
    if attribution is not None:
        tables.append(attribution)
    _mark_unconverged(tables, view.part)
    _mark_limits(tables)
    return tables


def _metric_table(view: _Part, metric) -> Table:
    """A headline metric against rho, and its paired metric against the reference at the
    largest rho for the learned estimators that read a prior."""
    extra, ref = _over_reference(metric), view.ref
    table = Table(key=f"{view.dataset}-{metric.key}", title=f"{metric.title}, {view.where}",
                  note=_interval_note(view.part) + f"; {metric.note}",
                  header=view.header("estimator"))
    columns = [(metric, r) for r in view.rhos]
    if extra is not None:
        reads, neither = (("X2 or past frames", "X2 nor past frames") if view.temporal
                          else ("X2", "X2"))
        table.note += (
            f". The last column, for the learned estimators that read {reads}, is the "
            f"{extra.definition_against(ref)} (positive: better), {ref} "
            f"{'reading neither' if view.temporal else 'not reading'} {neither}, paired on "
            f"the same test samples ({_paired_note(view.part)}); the classical filters that "
            "read X2 have no such twin, their X2-shuffled rows show what X2 does for them")
        unit = f" {extra.unit}" if extra.unit else ""
        table.header.append(f"{extra.title}{unit} vs {ref} (ρ={view.top})")
        columns.append((extra, view.top))
    users = {e for e, _ in view.users}
    table.rows = [[Cell(row_label(e, c))]
                  + [_cell(view.cells, m.key, e, c, r, m.digits) if m is metric or e in users
                     else Cell("") for m, r in columns]
                  for e, c in view.rows]
    _bold_best(table, view.rows, [m.key for m, _ in columns])
    _rank_column(table, view, metric)
    return table


def _rank_column(table: Table, view: _Part, metric) -> None:
    """The ranks each estimator (without a control) can take on ``metric`` over all rho
    (or at the largest): from 1 + the number of estimators whose 95% interval lies wholly
    better to N - the number whose interval lies wholly worse.  Unpaired, so it resolves
    less than a paired gain does; a difference it shows is resolved."""
    rho = "all" if "all" in view.rhos else view.top
    bounds = {}
    for e, c in view.rows:
        row = view.cells.get((metric.key, e, c, rho))
        if c == "none" and e not in KNOWING and row is not None and \
                np.isfinite([row.lo, row.hi]).all():
            bounds[e] = (row.lo, row.hi) if not metric.higher_is_better else (-row.hi, -row.lo)
    table.header.append(f"rank ({'all ρ' if rho == 'all' else f'ρ={rho}'})")
    table.note += (f". Rank: the ranks an estimator can take among the {len(bounds)} without "
                   "a control (the references that know the model apart), from 1 + those whose 95% interval lies wholly better to N - "
                   "those whose interval lies wholly worse (unpaired: a conservative reading; "
                   "where two ranks overlap, the difference is not resolved)")
    for (e, c), cells in zip(view.rows, table.rows):
        if c != "none" or e not in bounds:
            cells.append(Cell(""))
            continue
        lo, hi = bounds[e]
        first = 1 + sum(h < lo for o, (_, h) in bounds.items() if o != e)
        last = len(bounds) - sum(low > hi for o, (low, _) in bounds.items() if o != e)
        cells.append(Cell(str(first) if first == last else f"{first}–{last}", float(first)))


def _gain_table(view: _Part) -> Table:
    """The prior gain against rho, on a dataset of single maps, under the attainable
    gain and beside each estimator's share of it where the Bayes-optimal references ran."""
    gain, attainable, share = (METRICS[k] for k in ("gain_mse", "gain_bayes", "share_bayes"))
    table = Table(key=f"{view.dataset}-gain", title=f"Prior gain vs ρ, {view.where}",
                  note=f"MSE reduction over {view.ref} (which does not read X2) in % of its "
                       f"MSE, {_paired_note(view.part)}; "
                       "positive: better. X2 shuffled takes X2 from another test sample: a gain "
                       "that comes from X2 disappears", header=view.header("estimator"))
    table.rows = [[Cell(row_label(e, c))]
                  + [_cell(view.cells, gain.key, e, c, r, gain.digits) for r in view.rhos]
                  for e, c in view.users]
    _bold_best(table, view.users, [gain.key] * len(view.rhos))
    limit = [_cell(view.cells, attainable.key, LIMITS[0], "none", r, attainable.digits)
             for r in view.rhos]
    if not any(c.text for c in limit):
        return table
    table.rows.append([Cell(f"attainable: {LIMITS[0]} over {LIMITS[1]}")] + limit)
    table.rows += [[Cell(f"{e}: share of the attainable")]
                   + [_cell(view.cells, share.key, e, c, r, share.digits) for r in view.rhos]
                   for e, c in view.users if c == "none"]
    table.note += (f". Attainable: the {attainable.definition} ({LIMITS[0]} knows the true "
                   f"model; no submission can). Share: the {share.definition}, blank where "
                   "the attainable reduction is not resolved")
    return table


def _mark_limits(tables: list[Table]) -> None:
    """A double dagger on the rows of the references that know the true model."""
    for table in tables:
        marked = False
        for row in table.rows:
            if estimator_of(row[0].text) in KNOWING:
                row[0] = Cell(row[0].text + " ‡", row[0].value, row[0].bold)
                marked = True
        if marked:
            table.note += (". ‡ a reference that knows the true generative model (the posterior "
                           "mean under it: with X2 and without, told each sample's rho, and "
                           "with X2 not told rho): the least MSE attainable, a model no "
                           "submission can read")


def _mark_unconverged(tables: list[Table], part) -> None:
    """A dagger on the rows of learned estimators not shown to have converged, and why."""
    if "converged" not in part:
        return
    # True in memory, "True" when read back from results.csv; empty when untold (a curve
    # the rule cannot judge, or none).
    failed = {r.estimator for r in part.itertuples(index=False)
              if str(r.learned) == "True" and str(r.converged) != "True"}
    for table in tables:
        marked = False
        for row in table.rows:
            estimator = estimator_of(row[0].text)
            if estimator in failed:
                row[0] = Cell(row[0].text + " †", row[0].value, row[0].bold)
                marked = True
        if marked:
            table.note += f". † not shown to have converged ({RULE})"


def scaling_table(sweep, dataset: str) -> Table | None:
    """The data-scaling sweep of one dataset at its largest rho: each estimator's MSE and
    each prior user's gain over the reference, against the train samples per rho.

    Parameters
    ----------
    sweep : pandas.DataFrame
        The sweep's rows (:func:`ogmbench.results.split_sweep`), numeric ``train_size``.
    dataset : str

    Returns
    -------
    Table or None
        None when the dataset has no sweep.
    """
    part = sweep[(sweep["dataset"] == dataset) & (sweep["control"] == "none")
                 & (sweep["rho"] != "all")]
    if part.empty:
        return None
    rho = max(part["rho"], key=float)
    part = part[part["rho"] == rho]
    sizes = sorted(set(int(v) for v in part["train_size"]))
    ref = part["reference"].iloc[0]
    rhos = len({r for r in sweep.loc[sweep["dataset"] == dataset, "rho"] if r != "all"})
    header = ["estimator", "metric"] + [f"{n} ({n * rhos})" for n in sizes]
    table = Table(key=f"{dataset}-scaling",
                  title=f"Prior gain at ρ={rho} against training samples, {dataset}",
                  note=f"Columns: train samples per rho (in all, over the {rhos} rho values); "
                       "every column is scored on the same test samples, and the largest is "
                       "the main run's whole train split. MSE: "
                       + _interval_note(part) + f". Gain: MSE reduction over {ref} in %, "
                       + _paired_note(part) + "; positive: X2 helps", header=header)
    # Keyed as the other tables' cells, with the train size where they have rho.
    cells = {(r.metric, r.estimator, "none", int(r.train_size)): r
             for r in part.itertuples(index=False)}
    estimators = list(dict.fromkeys(part["estimator"]))
    mse, gain, share = METRICS["mse"], METRICS["gain_mse"], METRICS["share_bayes"]
    for metric, name in ((mse, mse.title), (gain, f"gain over {ref}, {gain.unit}"),
                         (share, f"{share.title}, {share.unit}")):
        for estimator in estimators:
            row = [_cell(cells, metric.key, estimator, "none", n, metric.digits) for n in sizes]
            if any(c.text for c in row):
                table.rows.append([Cell(estimator), Cell(name)] + row)
    _mark_unconverged([table], part)
    return table


def _temporal_table(view: _Part) -> Table:
    """On a store of sequences, the gain over the reference of the cross-class prior, the
    temporal prior and both, against rho: is X2 still worth reading once the past is?"""
    flags = {r.estimator: (bool(r.uses_prior), reads_past(r))
             for r in view.part.itertuples(index=False)}
    gain = METRICS["gain_mse"]
    table = Table(key=f"{view.dataset}-gain",
                  title=f"Cross-class prior, temporal prior and both: gain vs ρ, {view.where}",
                  note=f"The target is the last frame of each sequence. MSE reduction over "
                       f"{view.ref} (which reads neither X2 nor the past frames) in % of its MSE, "
                       f"paired over the same test samples, {_paired_note(view.part)}; positive: "
                       "better. Prior: "
                       "what the estimator reads besides the last frame of the target class: "
                       "the other classes at the last frame (cross-class), the target's past "
                       "frames warped by the ego motion (temporal), or both. X2 shuffled, past "
                       "shuffled: that prior taken from another test sample. A blind twin "
                       "(past-blind twin) is the same network trained and tested with another "
                       "sample's X2 (past): the architecture without that prior's information",
                  header=view.header("estimator", "prior"))
    # Grouped by what they read, so each architecture's three rows compare at a glance.
    order = {"cross-class (X2)": 0, "temporal (past frames)": 1, "both": 2}
    ordered = sorted(view.users, key=lambda ec: order.get(prior_kind(*flags[ec[0]]), 3))
    table.rows = [[Cell(row_label(e, c)), Cell(prior_label(e, *flags[e], flags))]
                  + [_cell(view.cells, gain.key, e, c, r, gain.digits) for r in view.rhos]
                  for e, c in ordered]
    _bold_best(table, ordered, [None] + [gain.key] * len(view.rhos))
    return table


def twin_metrics(source: str | None = None) -> list:
    """The paired metrics that compare a twin (of ``source``, a sample column such as
    ``past_source``, or of any), in registration order."""
    return [m for m in METRICS.compared() if "twin" in (m.measured, m.against)
            and source in (None, m.source)]


def _attribution_table(view: _Part) -> Table | None:
    """Where an estimator's prior gain comes from, for those whose twins ran."""
    part, ref = view.part, view.ref
    with_twins = list(dict.fromkeys(
        r.estimator for r in part.itertuples(index=False)
        if r.metric in {m.key for m in twin_metrics()} and r.control == "none"))
    if not with_twins:
        return None
    table = Table(key=f"{view.dataset}-attribution",
                  title=f"Where the prior gain comes from, {view.where}",
                  note=f"MSE gains in % (positive: better), each {_paired_note(part)}. "
                       f"Over {ref}: the estimator against the "
                       "same U-Net without X2. Over its blind twin: against itself trained and "
                       "tested with another sample's X2 (what X2 carries, architecture and "
                       f"training held fixed). Blind twin over {ref}: what the architecture "
                       f"costs or buys without X2's information. Oracle ceiling: its twin "
                       f"given the clean X2 at training and test, over {ref}",
                  header=view.header("estimator", "gain"))
    past = part["metric"].isin([m.key for m in twin_metrics("past_source")]).any()
    if past:
        table.note += (". The past rows say the same of the target's past frames: its "
                       "past-blind twin is trained and tested with another sample's past")
    for estimator in with_twins:
        quantities = [(f"over {ref}", "gain_mse", estimator),
                      ("over its blind twin (X2's information)", "gain_info", estimator),
                      (f"blind twin over {ref} (architecture)", "gain_mse",
                       twin_name(estimator, "shuffled")),
                      (f"oracle ceiling over {ref}", "gain_oracle", estimator)]
        if past:
            quantities += [
                ("over its past-blind twin (the past's information)", "gain_info_past",
                 estimator),
                (f"past-blind twin over {ref}", "gain_mse", twin_name(estimator, "past-shuffled")),
                (f"past-oracle ceiling over {ref}", "gain_oracle_past", estimator)]
        for name, metric, row in quantities:
            values = [_cell(view.cells, metric, row, "none", r, METRICS[metric].digits)
                      for r in view.rhos]
            if any(v.text for v in values):
                table.rows.append([Cell(estimator), Cell(name)] + values)
    return table


def _cell(cells, metric, estimator, control, rho, digits) -> Cell:
    row = cells.get((metric, estimator, control, rho))
    if row is None or not np.isfinite(row.value):  # shown empty, sorted with the empty
        return Cell("")
    return Cell(format_value(row.value, row.lo, row.hi, digits), float(row.value))


def _bold_best(table: Table, rows, metrics) -> None:
    # The references that know the true model are the limit, not a contender.
    for j, metric in enumerate(metrics, start=1):
        candidates = [i for i, (estimator, control) in enumerate(rows)
                      if control == "none" and estimator not in KNOWING
                      and table.rows[i][j].value is not None]
        if len(candidates) < 2:
            continue
        shown = {i: float(table.rows[i][j].text.split(" ")[0]) for i in candidates}
        best = (max if METRICS[metric].higher_is_better else min)(shown.values())
        for i in candidates:
            table.rows[i][j].bold = shown[i] == best


def render_leaderboard(agg, metric: str = "mse", fmt: str = "table") -> str:
    """The estimator x rho pivot of ``metric`` as text: ``table``, ``md``, ``latex`` or ``csv``.

    Parameters
    ----------
    agg : pandas.DataFrame
        From :func:`ogmbench.leaderboard.aggregate`.
    metric : str
        A key of :data:`ogmbench.metrics.METRICS`.
    fmt : {"table", "md", "latex", "csv"}
        ``csv`` is the long aggregated table, every metric with its bounds.
    """
    if fmt == "csv":
        return agg.to_csv(index=False)
    if fmt not in ("table", "md", "latex"):
        raise LeaderboardError(f"unknown format {fmt!r} (allowed: table, md, latex, csv)")
    wide = pivot(agg, metric)
    # One store and target: drop the constant index levels for a readable table.
    flat = wide.reset_index()
    constant = [c for c in ("family", "noise", "store", "target") if flat[c].nunique() == 1]
    title = ", ".join(f"{c}={flat[c].iloc[0]}" for c in constant)
    flat = flat.drop(columns=constant)
    seeds = int(agg["seeds"].max()) if "seeds" in agg else 1
    kind = (INTERVAL + " over test samples" if seeds == 1 else
            TWO_WAY + " where seeds > 1, else over test samples")
    header = f"{METRICS[metric].label}  (value ± the half-width of {kind}; {title})"
    if fmt == "table":
        return header + "\n" + flat.to_string(index=False)
    table = Table(key=f"leaderboard-{metric}", title=METRICS[metric].label,
                  note=header, header=[str(c) for c in flat.columns])
    table.rows = [[Cell(str(v)) for v in row] for row in flat.itertuples(index=False)]
    return table.markdown() if fmt == "md" else table.latex()
