"""Figures of the report: metric curves against rho and per-rho galleries (PNG and SVG).

Deterministic bytes: fixed SVG hash salt, no dates in the metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..results import GENERATED
from ..runs import Run, read_run
from ..show import MAP_COLORS, MAP_LEGEND
from ..store import Store, open_store
from ..metrics import METRICS
from .labels import prior_kind, prior_label, reads_past, row_label
from .tables import twin_metrics

__all__ = ["write_figures"]


def _style(estimators: list[str], learned: set[str]) -> dict[str, dict]:
    """Strong colours for the learned estimators, muted ones for the classical filters."""
    import matplotlib

    strong = matplotlib.colormaps["tab10"].colors
    muted = matplotlib.colormaps["Set2"].colors + matplotlib.colormaps["Dark2"].colors
    styles, s, m = {}, 0, 0
    for e in estimators:
        if e in learned:
            styles[e], s = {"color": strong[s % len(strong)]}, s + 1
        else:
            styles[e], m = {"color": muted[m % len(muted)]}, m + 1
    return styles


def _save(fig, path_stem: Path, title: str) -> list[str]:
    meta_svg = {"Date": None, "Description": f"{title} ({GENERATED})", "Creator": "ogmbench"}
    meta_png = {"Description": f"{title} ({GENERATED})", "Software": "ogmbench"}
    # Not with_suffix: a stem like "x-rho0.9" has a dot of its own.
    names = [f"{path_stem.name}.png", f"{path_stem.name}.svg"]
    fig.savefig(path_stem.parent / names[0], dpi=110, metadata=meta_png)
    fig.savefig(path_stem.parent / names[1], metadata=meta_svg)
    return names


def _curve_figure(results, dataset, metric, ylabel, title, styles, learned, path_stem):
    """A metric against rho; a paired one (the prior gain) for the learned estimators
    that read X2, their prior controls dotted, in a panel of their own when they lie far
    off the estimators' scale (a control at -200 % would flatten gains of +5 % onto 0)."""
    import matplotlib.pyplot as plt

    part = results[(results["dataset"] == dataset) & (results["metric"] == metric.key)
                   & (results["rho"] != "all")]
    if metric.paired:  # (a store of sequences draws its gains in _temporal_figure)
        part = part[part["uses_prior"].astype(bool) & part["learned"].astype(bool)]
    else:
        part = part[part["control"] == "none"]
    apart = metric.paired and _off_scale(part)
    fig, axes = plt.subplots(2 if apart else 1, 1, sharex=True, squeeze=False)
    for (estimator, control), rows in part.groupby(["estimator", "control"], sort=False):
        ax = axes[-1, 0] if apart and control != "none" else axes[0, 0]
        rho = rows["rho"].astype(float).to_numpy()
        order = np.argsort(rho)
        style = dict(styles[estimator])
        solid = estimator in learned
        line = "-" if control == "none" else ":"
        ax.plot(rho[order], rows["value"].to_numpy()[order], line, marker="o", markersize=3,
                linewidth=1.8 if solid else 1.0, label=row_label(estimator, control), **style)
        ax.fill_between(rho[order], rows["lo"].to_numpy()[order], rows["hi"].to_numpy()[order],
                        alpha=0.15 if solid else 0.07, linewidth=0, **style)
    if metric.key == "gain_mse":
        _ceiling(axes[0, 0], results[results["dataset"] == dataset])
    for ax in axes[:, 0]:
        if metric.paired:
            ax.axhline(0.0, color="black", linewidth=0.8)
        if metric.log_scale:
            ax.set_yscale("log")
    if apart:
        axes[-1, 0].set_ylabel("X2 controls\n(own scale)")
    return _finish(fig, list(axes[:, 0]), _RHO, ylabel, title, path_stem)


def _ceiling(ax, part) -> None:
    """The attainable gain (the Bayes-optimal estimate's, with X2 over without) where it
    ran: what X2 can give at best, drawn as the ceiling the learned gains sit under."""
    rows = part[(part["metric"] == "gain_bayes") & (part["rho"] != "all")
                & (part["control"] == "none")]
    if rows.empty:
        return
    rho = rows["rho"].astype(float).to_numpy()
    order = np.argsort(rho)
    ax.plot(rho[order], rows["value"].to_numpy()[order], "--", color="black", linewidth=1.2,
            label="attainable (Bayes-optimal with X2 over without)")
    ax.fill_between(rho[order], rows["lo"].to_numpy()[order], rows["hi"].to_numpy()[order],
                    color="black", alpha=0.08, linewidth=0)


def _off_scale(part) -> bool:
    """Whether the controls' band reaches more than 3 times as far from 0 as the
    estimators' own (with at least 1 unit of room)."""
    def reach(rows):
        return float(np.nanmax(np.abs(rows[["lo", "hi", "value"]].to_numpy(float)), initial=0.0))

    controls = part[part["control"] != "none"]
    return not controls.empty and reach(controls) > 3 * max(reach(part[part["control"] == "none"]),
                                                              1.0)


def _learning_curves(curves_of, styles, title, path_stem):
    """Val MSE against training step, one line per estimator and training seed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for label, (curves, converged) in curves_of.items():
        for i, curve in enumerate(curves):
            steps, values = [c[0] for c in curve], [c[1] for c in curve]
            mark = "" if converged is True else " †"
            ax.plot(steps, values, "-", marker="o", markersize=2, linewidth=1.4 if i == 0 else 0.7,
                    label=f"{label}{mark}" if i == 0 else None, **styles[label])
    ax.set_yscale("log")
    shown = any(converged is not True for _, converged in curves_of.values())
    mse = METRICS["mse"]
    return _finish(fig, ax, "training step", f"val {mse.axis} ({mse.direction})", title, path_stem,
                   legend_title="† not shown to have converged" if shown else None)


def _temporal_figure(part, reference, styles, title, path_stem):
    """On a store of sequences: the gain over the reference of each learned estimator that
    reads a prior, its line style saying which (cross-class, temporal, both)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    lines = {"cross-class (X2)": "-", "temporal (past frames)": "--", "both": "-."}
    gain = METRICS["gain_mse"]
    rows = part[(part["metric"] == gain.key) & (part["control"] == "none")
                & (part["rho"] != "all") & part["learned"].astype(bool)]
    names = rows["estimator"].unique()
    for estimator, curve in rows.groupby("estimator", sort=False):
        reads = curve["uses_prior"].iloc[0], reads_past(curve.iloc[0])
        kind = prior_kind(*reads)
        if kind not in lines:
            continue
        rho = curve["rho"].astype(float).to_numpy()
        order = np.argsort(rho)
        style = dict(styles[estimator])
        label = f"{estimator}: {prior_label(estimator, *reads, names)}"
        ax.plot(rho[order], curve["value"].to_numpy()[order], lines[kind], marker="o",
                markersize=3, linewidth=1.8, label=label, **style)
        ax.fill_between(rho[order], curve["lo"].to_numpy()[order],
                        curve["hi"].to_numpy()[order], alpha=0.12, linewidth=0, **style)
    ax.axhline(0.0, color="black", linewidth=0.8)
    return _finish(fig, ax, _RHO, f"{gain.axis} over {reference}, {gain.unit} (paired, 95% bands)",
                   title, path_stem)


def _attribution_figure(part, reference, styles, title, path_stem):
    """Per estimator with twins: its gain over the reference, over its blind twins (X2's,
    the past's), and its oracle twins', against rho."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    kinds = [("gain_mse", "-", f"over {reference}"), ("gain_info", "--", "over its blind twin"),
             ("gain_oracle", "-.", "oracle ceiling"),
             ("gain_info_past", (0, (1, 1)), "over its past-blind twin"),
             ("gain_oracle_past", (0, (4, 1, 1, 1, 1, 1)), "past-oracle ceiling")]
    rows = part[(part["control"] == "none") & (part["rho"] != "all")]
    informed = [m.key for m in twin_metrics() if m.twin == "shuffled"]
    for estimator in dict.fromkeys(rows.loc[rows["metric"].isin(informed), "estimator"]):
        for metric, line, what in kinds:
            curve = rows[(rows["estimator"] == estimator) & (rows["metric"] == metric)]
            if curve.empty:
                continue
            rho = curve["rho"].astype(float).to_numpy()
            order = np.argsort(rho)
            style = dict(styles[estimator])
            ax.plot(rho[order], curve["value"].to_numpy()[order], linestyle=line, marker="o",
                    markersize=3, linewidth=1.6, label=f"{estimator}: {what}", **style)
            ax.fill_between(rho[order], curve["lo"].to_numpy()[order],
                            curve["hi"].to_numpy()[order], alpha=0.1, linewidth=0, **style)
    ax.axhline(0.0, color="black", linewidth=0.8)
    gain = METRICS["gain_mse"]
    return _finish(fig, ax, _RHO, f"{gain.axis}, {gain.unit} (paired, 95% bands)", title,
                   path_stem)


def _scaling_figure(part, reference, styles, title, path_stem):
    """Prior gain at the largest rho against train samples per rho (log axis)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    gain = METRICS["gain_mse"]
    rows = part[(part["metric"] == gain.key) & (part["control"] == "none")]
    for estimator in dict.fromkeys(rows["estimator"]):
        curve = rows[rows["estimator"] == estimator].sort_values("train_size")
        size = curve["train_size"].to_numpy(dtype=float)
        ax.plot(size, curve["value"], "-", marker="o", markersize=4, linewidth=1.6,
                label=estimator, **styles[estimator])
        ax.fill_between(size, curve["lo"], curve["hi"], alpha=0.12, linewidth=0,
                        **styles[estimator])
    ax.set_xscale("log")
    ax.set_xticks(sorted(set(rows["train_size"])), [str(v) for v in sorted(set(rows["train_size"]))])
    ax.minorticks_off()
    ax.axhline(0.0, color="black", linewidth=0.8)
    return _finish(fig, ax, "train samples per rho (log scale)",
                   f"{gain.axis} over {reference}, {gain.unit} (paired, 95% bands)", title,
                   path_stem)


_RHO = "rho (correlation knob of the generator)"


# Curve figures: axes of a fixed size in inches, margins for the tick labels and axis
# labels, and the figure as wide as its legend needs.  Fixed margins, not matplotlib's
# constrained layout, which solved the layout again at every save (half a report's time).
_AXES_IN = (5.2, 2.9)
_LEFT_IN, _RIGHT_IN, _BOTTOM_IN, _TOP_IN, _GAP_IN = 0.9, 0.12, 0.62, 0.42, 0.1


def _finish(fig, ax, xlabel, ylabel, title, path_stem, legend_title=None) -> list[str]:
    """Labels, grid and the legend outside the axes, then save (PNG and SVG) and close.
    ``ax`` may be a list of axes stacked in one column (one legend for all of them)."""
    import matplotlib.pyplot as plt

    stack = list(ax) if isinstance(ax, (list, tuple)) else [ax]
    stack[-1].set_xlabel(xlabel)
    stack[0].set_ylabel(ylabel)
    stack[0].set_title(title, fontsize=10, y=1.0)  # y given: no per-draw search for its place
    handles, labels = [], []
    for each in stack:
        each.grid(alpha=0.3)
        for handle, label in zip(*each.get_legend_handles_labels()):
            handles.append(handle)
            labels.append(label)
    legend = stack[0].legend(handles, labels, fontsize=7, loc="upper left",
                             bbox_to_anchor=(1.0, 1.0), borderaxespad=0, title=legend_title,
                             title_fontsize=7)
    box = legend.get_window_extent(fig.canvas.get_renderer())
    axes_w, axes_h = _AXES_IN
    tall = axes_h * (1 + 0.75 * (len(stack) - 1))  # a second panel: three quarters more
    width = _LEFT_IN + axes_w + _GAP_IN + box.width / fig.dpi + _RIGHT_IN
    height = _BOTTOM_IN + max(tall, box.height / fig.dpi) + _TOP_IN
    fig.set_size_inches(width, height)
    fig.subplots_adjust(left=_LEFT_IN / width, right=(_LEFT_IN + axes_w) / width,
                        bottom=_BOTTOM_IN / height, top=(height - _TOP_IN) / height, hspace=0.12)
    legend.set_bbox_to_anchor((1.0 + _GAP_IN / axes_w, 1.0))
    names = _save(fig, path_stem, title)
    plt.close(fig)
    return names


def _kept_estimates(run: Run, shown: set[str]) -> dict[str, tuple[list[int], np.ndarray]]:
    """{row label: (kept sample indices, kept estimates)} of the estimators in ``shown``."""
    return {r.label: (r.kept, run.kept(r.name)) for r in run.records()
            if r.ok and r.kept and r.label in shown}  # others are not in this reproduction


def _gallery(store: Store, target: int, rho_index: int, kept, path_stem, title):
    """Clean, noisy and prior maps of one test sample, then every estimate and its error."""
    import matplotlib.pyplot as plt

    estimates = {}
    sample = None
    for label, (samples, values) in kept.items():
        estimates[label] = values[rho_index]
        sample = samples[rho_index]
    item = store[sample]
    clean, noisy = item["clean"], item["noisy"]
    prior = [k for k in range(store.classes) if k != target][0]
    names = store.class_names
    first = []
    if store.frames > 1:  # the target is the last frame; the first shows how far the past is
        first = [(f"noisy {names[target]}, frame 1 of {store.frames}", noisy[0][target], None)]
        clean, noisy = clean[-1], noisy[-1]
    # The noisy map's own error is identity's (the noisy map clipped to [0, 1]).
    panels = [(f"clean {names[target]}", clean[target], None),
              (f"noisy {names[target]}", noisy[target], None), *first,
              (f"noisy {names[prior]} (prior)", noisy[prior], None)]
    panels += [(label, est, np.abs(est - clean[target])) for label, est in estimates.items()]
    ncols = min(8, len(panels))
    nrows = 2 * int(np.ceil(len(panels) / ncols))
    width, height = 1.45 * ncols + 0.7, 1.55 * nrows + 0.4
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    # A fixed grid, not a layout engine: images of one size need no solving, and the
    # engine was half the time of a whole report.
    fig.subplots_adjust(left=0.1 / width, right=1 - 0.8 / width, bottom=0.1 / height,
                        top=1 - 0.55 / height, wspace=0.08, hspace=0.3)
    for ax in axes.flat:
        ax.set_axis_off()
    shown_error = None
    for i, (label, image, error) in enumerate(panels):
        r, c = divmod(i, ncols)
        top, bottom = axes[2 * r, c], axes[2 * r + 1, c]
        shown_map = top.imshow(np.clip(image, 0, 1), cmap=MAP_COLORS, vmin=0, vmax=1,
                               interpolation="nearest")
        top.set_title(label, fontsize=7, y=1.0)
        if error is not None:
            mse = float(np.mean(error.astype(np.float64) ** 2))
            shown_error = bottom.imshow(error, cmap="magma", vmin=0, vmax=1,
                                        interpolation="nearest")
            bottom.set_title(f"|error|, MSE {mse:.4f}", fontsize=6, y=1.0)
    fig.colorbar(shown_map, cax=fig.add_axes((1 - 0.6 / width, 0.55, 0.12 / width, 0.35)),
                 label=MAP_LEGEND)
    if shown_error is not None:
        fig.colorbar(shown_error, cax=fig.add_axes((1 - 0.6 / width, 0.1, 0.12 / width, 0.35)),
                     label="|error|")
    fig.suptitle(f"{title}: test sample {sample}, rho={item['rho']:g}, "
                 f"phi={item['phi']:.2f} (top: maps, black = occupied; below: |error|)", fontsize=8)
    out = _save(fig, path_stem, title)
    plt.close(fig)
    return out


def write_figures(bench, results, run_dirs, folder: Path, log=None,
                  sweep=None) -> dict[str, list[tuple]]:
    """Every figure of every dataset as PNG and SVG.

    Parameters
    ----------
    bench : Benchmark
    results : pandas.DataFrame
        The long results table (:func:`ogmbench.results.collect_results`).
    run_dirs : dict
        Run directory per dataset name (for the estimates kept for the galleries).
    folder : Path
        Where the figures are written.
    log : callable, optional
        Receives one line per dataset.
    sweep : pandas.DataFrame, optional
        The data-scaling sweep's rows (:func:`ogmbench.results.split_sweep`).

    Returns
    -------
    dict
        {dataset: [(title, file stem), ...]} in the order they are shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    shown = {}
    with plt.rc_context({"svg.hashsalt": "ogmbench", "svg.fonttype": "path"}):
        for dataset in bench.datasets:
            name = dataset.name
            scaled = (sweep[(sweep["dataset"] == name) & (sweep["rho"] != "all")]
                      if sweep is not None else None)
            shown[name] = _dataset_figures(name, results, read_run(run_dirs[name]),
                                           bench.reference, folder, scaled)
            if log:
                log(f"{name}: {len(shown[name])} figures")
    return shown


def _curves(part, name: str, reference: str) -> list[tuple]:
    """The figures against rho: (metric, y label, title), one per headline metric, then
    the prior gain's (y label None: the temporal figure of a store of sequences)."""
    curves = [(m, f"{m.axis} ({m.direction})", f"{name}: {m.title} vs rho, 95% bands")
              for m in METRICS.values() if m.headline]
    gain = METRICS["gain_mse"]
    gains = part[(part["metric"] == gain.key) & part["uses_prior"].astype(bool)
                 & part["learned"].astype(bool)]
    if any(reads_past(r) for r in part.itertuples(index=False)):
        curves.append((gain, None, f"{name}: cross-class prior, temporal prior and both, "
                                   f"gain vs rho"))
    elif not gains.empty:  # only learned estimators that read X2 have a prior gain
        controls = sorted(set(gains["control"]) - {"none"})
        dotted = f" (dotted: X2 {', '.join(controls)})" if controls else ""
        curves.append((gain, f"{gain.axis} over {reference}, {gain.unit}",
                       f"{name}: {gain.title} vs rho{dotted}"))
    return curves


def _dataset_figures(name, results, run: Run, reference, folder: Path, scaled):
    """One dataset's figures, drawn and listed in the order they are shown."""
    part = results[results["dataset"] == name]
    estimators = list(dict.fromkeys(part["estimator"]))
    learned = set(part.loc[part["learned"].astype(bool), "estimator"])
    styles = _style(estimators, learned)
    store = open_store(run.store)
    kept = _kept_estimates(run, set(estimators))
    figures = []

    def add(title: str, stem: str, draw) -> None:
        draw(title, folder / stem)
        figures.append((title, stem))

    for metric, ylabel, title in _curves(part, name, reference):
        add(title, f"{name}-{metric.key.replace('_mse', '')}",
            (lambda t, s: _temporal_figure(part, reference, styles, t, s)) if ylabel is None
            else (lambda t, s, m=metric, y=ylabel: _curve_figure(results, name, m, y, t, styles,
                                                                  learned, s)))
    curves_of = {r.label: (r.curves, r.converged) for r in run.records()
                 if r.ok and r.curves and r.label in set(estimators)}
    if curves_of:
        add(f"{name}: learning curves (val MSE during training)", f"{name}-curves",
            lambda t, s: _learning_curves(curves_of, styles, t, s))
    if part["metric"].isin([m.key for m in twin_metrics() if m.twin == "shuffled"]).any():
        add(f"{name}: where the prior gain comes from", f"{name}-attribution",
            lambda t, s: _attribution_figure(part, reference, styles, t, s))
    if scaled is not None and not scaled.empty:
        rho = max(scaled["rho"], key=float)
        add(f"{name}: prior gain at rho={rho} against training samples", f"{name}-scaling",
            lambda t, s: _scaling_figure(scaled[scaled["rho"] == rho], reference, styles, t, s))
    for i, rho in enumerate(sorted({float(r) for r in part["rho"] if r != "all"})):
        add(f"{name}: gallery at rho={rho:g}", f"{name}-gallery-rho{rho:g}",
            lambda t, s, i=i: _gallery(store, run.target, i, kept, s, t))
    return figures
