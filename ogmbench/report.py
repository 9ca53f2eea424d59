"""The reproduction report: tables (Markdown, LaTeX, HTML), figures and ``index.html``.

Everything here is a pure function of the long results table (``results.csv``) and, for
the galleries, of the stores and the estimates each run kept, so the same results give
the same bytes: no timestamps, fixed SVG ids, sorted inputs.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .reproduce import GENERATED

__all__ = ["Table", "build_tables", "write_figures", "write_report"]

_LOWER_IS_BETTER = {"mse": True, "iou": False, "gain_mse": False, "d_iou": False}


@dataclass
class Cell:
    text: str
    value: float | None = None  # what the HTML table sorts by
    bold: bool = False


@dataclass
class Table:
    """A rendered-agnostic table: a title, a note, header cells and rows of cells."""

    key: str
    title: str
    note: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def markdown(self) -> str:
        def text(cell):
            body = cell.text.replace("|", "\\|")
            return f"**{body}**" if cell.bold and body else body

        lines = [f"**{self.title}**", "", self.note, "",
                 "| " + " | ".join(self.header) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(self.header) - 1)) + "|"]
        lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def latex(self) -> str:
        def esc(s):
            s = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)
            return s.replace("±", r"$\pm$").replace("ρ", r"$\rho$").replace("Δ", r"$\Delta$")

        def text(cell):
            return rf"\textbf{{{esc(cell.text)}}}" if cell.bold and cell.text else esc(cell.text)

        cols = "l" + "r" * (len(self.header) - 1)
        lines = [rf"% {esc(self.title)}: {esc(self.note)}", r"\begin{table}[t]", r"\centering",
                 rf"\caption{{{esc(self.title)}. {esc(self.note)}}}",
                 rf"\label{{tab:{self.key}}}", r"\small", rf"\begin{{tabular}}{{{cols}}}",
                 r"\toprule", " & ".join(esc(h) for h in self.header) + r" \\", r"\midrule"]
        lines += [" & ".join(text(c) for c in row) + r" \\" for row in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f'<th scope="col" tabindex="0">{html.escape(h)}</th>' for h in self.header)
        body = []
        for row in self.rows:
            cells = []
            for i, cell in enumerate(row):
                finite = cell.value is not None and np.isfinite(cell.value)
                value = f' data-value="{cell.value:.10g}"' if finite else ""
                text = html.escape(cell.text)
                text = f"<strong>{text}</strong>" if cell.bold and text else text
                tag = "th" if i == 0 else "td"
                cells.append(f"<{tag}{value}>{text}</{tag}>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table class="sortable" id="{self.key}">\n'
                f"<caption><strong>{html.escape(self.title)}.</strong> {html.escape(self.note)}"
                f"</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
                + "\n</tbody>\n</table>")


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}"}


# --------------------------------------------------------------------------- tables


def _rhos(results) -> list[str]:
    values = sorted({r for r in results["rho"] if r != "all"}, key=float)
    return values + (["all"] if (results["rho"] == "all").any() else [])


def _fmt(value, lo, hi, digits) -> str:
    if value is None or not np.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        # Percentile intervals need not be symmetric: show the larger side.
        text += f" ± {max(hi - value, value - lo):.{digits}f}"
    return text


def _row_label(estimator: str, control: str) -> str:
    return estimator if control == "none" else f"{estimator}, X2 {control}"


def _interval_note(results) -> str:
    seeds = int(results["seeds"].max())
    if seeds > 1:
        return (f"mean over {seeds} training seeds ± the half-width of a 95% t-interval across "
                "them (single-run estimators: the larger side of a 95% bootstrap interval over "
                "test samples)")
    return "value ± the larger side of its 95% bootstrap interval over test samples"


def _paired_note(results) -> str:
    averaged = (", each sample's values first averaged over the training seeds"
                if int(results["seeds"].max()) > 1 else "")
    return f"± the larger side of a 95% paired bootstrap interval over test samples{averaged}"


def build_tables(results, dataset: str) -> list[Table]:
    """The MSE, IoU and prior-gain tables of one dataset (estimator x rho).

    Best per column (over the rows without a prior control) is bold; ties on the
    printed value are all bold.

    Parameters
    ----------
    results : pandas.DataFrame
        The long results table (:func:`ogmbench.reproduce.collect_results`).
    dataset : str

    Returns
    -------
    list of Table
        MSE and IoU, then the prior gain when a learned estimator reads X2.
    """
    part = results[results["dataset"] == dataset]
    first = part.iloc[0]
    rhos = _rhos(part)
    top = [r for r in rhos if r != "all"][-1]  # rhos is sorted by value
    ref = first["reference"]
    where = (f"{dataset}: {first['family']} family, noise {first['noise'].split(':')[0]}, "
             f"target {first['target_name']}")
    cells = {(r.metric, r.estimator, r.control, r.rho): r for r in part.itertuples(index=False)}
    rows = list(dict.fromkeys((r.estimator, r.control) for r in part.itertuples(index=False)
                              if r.metric == "mse"))
    # The prior gain compares an estimator that reads X2 with the reference, the same kind
    # of model without X2: shown for the learned ones.  A classical filter that reads X2
    # has no such twin here; its "X2 shuffled" rows show what X2 does for it.
    users_of_prior = {r.estimator for r in part.itertuples(index=False)
                      if r.uses_prior and r.learned}
    tables = []
    specs = [
        ("mse", "MSE", 4, "gain_mse", f"prior gain % vs {ref} (ρ={top})", 2,
         f"the MSE reduction over {ref} in % of its MSE (positive: better)"),
        ("iou", "IoU", 4, "d_iou", f"prior ΔIoU vs {ref} (ρ={top})", 4,
         f"the IoU minus that of {ref} (positive: better)"),
    ]
    for metric, name, digits, extra, extra_name, extra_digits, extra_note in specs:
        header = ["estimator"] + [f"ρ={r}" if r != "all" else "all ρ" for r in rhos] + [extra_name]
        columns = [(metric, r, digits) for r in rhos] + [(extra, top, extra_digits)]
        table = Table(key=f"{dataset}-{metric}", title=f"{name}, {where}",
                      note=_interval_note(part) + f"; {METRIC_NOTES[metric]}. The last column, "
                      f"for the learned estimators that read X2, is {extra_note}, {ref} not "
                      f"reading X2, paired on the same test samples ({_paired_note(part)}); the "
                      "classical filters that read X2 have no such twin, their X2-shuffled rows "
                      "show what X2 does for them", header=header)
        table.rows = [[Cell(_row_label(e, c))]
                      + [_cell(cells, m, e, c, r, d) if m == metric or e in users_of_prior
                         else Cell("") for m, r, d in columns]
                      for e, c in rows]
        _bold_best(table, rows, [m for m, _, _ in columns])
        tables.append(table)
    users = [(e, c) for e, c in rows if e in users_of_prior]
    if users:
        header = ["estimator"] + [f"ρ={r}" if r != "all" else "all ρ" for r in rhos]
        table = Table(key=f"{dataset}-gain", title=f"Prior gain vs ρ, {where}",
                      note=f"MSE reduction over {ref} (which does not read X2) in % of its MSE, "
                           f"paired over the same test samples, {_paired_note(part)}; positive: "
                           "better. X2 shuffled takes X2 from another test sample: a gain that "
                           "comes from X2 disappears", header=header)
        table.rows = [[Cell(_row_label(e, c))] + [_cell(cells, "gain_mse", e, c, r, 2) for r in rhos]
                      for e, c in users]
        _bold_best(table, users, ["gain_mse"] * len(rhos))
        tables.append(table)
    return tables


METRIC_NOTES = {"mse": "lower is better", "iou": "dataset IoU at 0.5, higher is better"}


def _cell(cells, metric, estimator, control, rho, digits) -> Cell:
    row = cells.get((metric, estimator, control, rho))
    if row is None or not np.isfinite(row.value):  # shown empty, sorted with the empty
        return Cell("")
    return Cell(_fmt(row.value, row.lo, row.hi, digits), float(row.value))


def _bold_best(table: Table, rows, metrics) -> None:
    for j, metric in enumerate(metrics, start=1):
        candidates = [i for i, (_, control) in enumerate(rows)
                      if control == "none" and table.rows[i][j].value is not None]
        if len(candidates) < 2:
            continue
        shown = {i: float(table.rows[i][j].text.split(" ")[0]) for i in candidates}
        best = (min if _LOWER_IS_BETTER[metric] else max)(shown.values())
        for i in candidates:
            table.rows[i][j].bold = shown[i] == best


# --------------------------------------------------------------------------- figures


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
    import matplotlib.pyplot as plt

    part = results[(results["dataset"] == dataset) & (results["metric"] == metric)
                   & (results["rho"] != "all")]
    fig, ax = plt.subplots(figsize=(7.6, 4.0), layout="constrained")
    for (estimator, control), rows in part.groupby(["estimator", "control"], sort=False):
        if metric != "gain_mse" and control != "none":
            continue
        if metric == "gain_mse" and not (rows["uses_prior"].iloc[0] and rows["learned"].iloc[0]):
            continue
        rho = rows["rho"].astype(float).to_numpy()
        order = np.argsort(rho)
        style = dict(styles[estimator])
        solid = estimator in learned
        line = "-" if control == "none" else ":"
        ax.plot(rho[order], rows["value"].to_numpy()[order], line, marker="o", markersize=3,
                linewidth=1.8 if solid else 1.0, label=_row_label(estimator, control), **style)
        ax.fill_between(rho[order], rows["lo"].to_numpy()[order], rows["hi"].to_numpy()[order],
                        alpha=0.15 if solid else 0.07, linewidth=0, **style)
    if metric == "gain_mse":
        ax.axhline(0.0, color="black", linewidth=0.8)
    if metric == "mse":  # errors span orders of magnitude (identity vs the U-Nets)
        ax.set_yscale("log")
    ax.set_xlabel("rho (correlation knob of the generator)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    names = _save(fig, path_stem, title)
    plt.close(fig)
    return names


def _gallery(dataset, run_dir: Path, rho_index: int, labels, shown, path_stem, title):
    """Clean, noisy and prior maps of one test sample, then every estimate and its error."""
    import matplotlib.pyplot as plt

    from .store import open_store

    run = json.loads((run_dir / "run.json").read_text())
    store = open_store(run["store"])
    target = run["target"]
    estimates = {}
    sample = None
    for name, record in run["estimators"].items():
        if (record.get("status") != "ok" or "kept_file" not in record
                or labels[name] not in shown):  # not in this reproduction
            continue
        kept = np.load(run_dir / record["kept_file"])
        estimates[labels[name]] = kept[rho_index]
        sample = record["kept"][rho_index]
    item = store[sample]
    clean, noisy = item["clean"], item["noisy"]
    prior = [k for k in range(store.classes) if k != target][0]
    names = store.class_names
    # The noisy map's own error is identity's (the noisy map clipped to [0, 1]).
    panels = [(f"clean {names[target]}", clean[target], None),
              (f"noisy {names[target]}", noisy[target], None),
              (f"noisy {names[prior]} (prior)", noisy[prior], None)]
    panels += [(label, est, np.abs(est - clean[target])) for label, est in estimates.items()]
    ncols = min(8, len(panels))
    nrows = 2 * int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.45 * ncols, 1.55 * nrows + 0.4),
                             layout="constrained", squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    shown_error = None
    for i, (label, image, error) in enumerate(panels):
        r, c = divmod(i, ncols)
        top, bottom = axes[2 * r, c], axes[2 * r + 1, c]
        top.imshow(np.clip(image, 0, 1), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        top.set_title(label, fontsize=7)
        if error is not None:
            mse = float(np.mean(error.astype(np.float64) ** 2))
            shown_error = bottom.imshow(error, cmap="magma", vmin=0, vmax=1,
                                        interpolation="nearest")
            bottom.set_title(f"|error|, MSE {mse:.4f}", fontsize=6)
    if shown_error is not None:
        fig.colorbar(shown_error, ax=axes[1::2, :].ravel().tolist(), shrink=0.6,
                     label="|error|")
    fig.suptitle(f"{title}: test sample {sample}, rho={item['rho']:g}, "
                 f"phi={item['phi']:.2f} (top: maps, dark = occupied; below: |error|)", fontsize=8)
    out = _save(fig, path_stem, title)
    plt.close(fig)
    return out


def write_figures(bench, results, run_dirs, folder: Path, log=None) -> dict[str, list[tuple]]:
    """Every figure of every dataset as PNG and SVG.

    Parameters
    ----------
    bench : Benchmark
    results : pandas.DataFrame
        The long results table (:func:`ogmbench.reproduce.collect_results`).
    run_dirs : dict
        Run directory per dataset name (for the estimates kept for the galleries).
    folder : Path
        Where the figures are written.
    log : callable, optional
        Receives one line per dataset.

    Returns
    -------
    dict
        {dataset: [(title, file stem), ...]} in the order they are shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .leaderboard import record_label

    folder.mkdir(parents=True, exist_ok=True)
    shown = {}
    with plt.rc_context({"svg.hashsalt": "ogmbench", "svg.fonttype": "path"}):
        for dataset in bench.datasets:
            name = dataset.name
            part = results[results["dataset"] == name]
            estimators = list(dict.fromkeys(part["estimator"]))
            learned = set(part.loc[part["learned"].astype(bool), "estimator"])
            styles = _style(estimators, learned)
            run = json.loads((run_dirs[name] / "run.json").read_text())
            labels = {n: record_label(n, r) for n, r in run["estimators"].items()}
            curves = [("mse", "MSE (lower is better)", f"{name}: MSE vs rho, 95% bands"),
                      ("iou", "IoU at 0.5 (higher is better)", f"{name}: IoU vs rho, 95% bands")]
            gains = part[(part["metric"] == "gain_mse") & part["uses_prior"].astype(bool)
                         & part["learned"].astype(bool)]
            if not gains.empty:  # only learned estimators that read X2 have a prior gain
                controls = sorted(set(gains["control"]) - {"none"})
                dotted = f" (dotted: X2 {', '.join(controls)})" if controls else ""
                curves.append(("gain_mse", f"MSE gain over {bench.reference}, %",
                               f"{name}: prior gain vs rho{dotted}"))
            figures = []
            for metric, ylabel, title in curves:
                stem = folder / f"{name}-{metric.replace('_mse', '')}"
                _curve_figure(results, name, metric, ylabel, title, styles, learned, stem)
                figures.append((title, stem.name))
            rhos = sorted({float(r) for r in part["rho"] if r != "all"})
            for i, rho in enumerate(rhos):
                title = f"{name}: gallery at rho={rho:g}"
                stem = folder / f"{name}-gallery-rho{rho:g}"
                _gallery(name, run_dirs[name], i, labels, set(estimators), stem, title)
                figures.append((title, stem.name))
            if log:
                log(f"{name}: {len(figures)} figures")
            shown[name] = figures
    return shown


# --------------------------------------------------------------------------- documents


def _provenance_lines(bench, results) -> list[str]:
    lines = [f"- benchmark `{bench.name}` version {bench.version}, profile `{bench.profile}`"
             + (f" ({bench.profile_description})" if bench.profile_description else ""),
             f"- ogmbench {results['ogmbench_version'].iloc[0]}; device "
             f"{', '.join(sorted(set(results['device'])))}; eval seed {bench.seed}; "
             f"training `{json.dumps(bench.training_params, sort_keys=True)}`, "
             f"{bench.train_seeds} training seed(s)"]
    for dataset in bench.datasets:
        part = results[results["dataset"] == dataset.name].iloc[0]
        lines.append(f"- `{dataset.name}`: {dataset.description or dataset.config.family}; "
                     f"{dataset.config.samples_per_rho} samples per rho of "
                     f"{dataset.config.size[0]}x{dataset.config.size[1]}, rho "
                     f"{', '.join(f'{r:g}' for r in dataset.config.rho)}; store digest "
                     f"`{part['store_digest'][:16]}`, config hash `{part['config_hash']}`")
    return lines


def _tolerance_line(bench) -> str:
    if bench.atol_metric:
        atol = "atol + " + f"{bench.rtol:g} × |published|, with atol " + ", ".join(
            f"{v:g} for {m}" for m, v in bench.atol_metric.items())
    else:
        atol = f"{bench.atol:g} + {bench.rtol:g} × |published|"
    return (f"`--check` tolerance: a cell drifts when |new − published| > {atol} (from "
            "`[check]` in the benchmark file).")


def write_report(bench, results, run_dirs, out: Path, log: Callable[[str], None] | None = None,
                 command: list[str] | None = None, published_at: Path | None = None):
    """Write tables.md, tables.tex, figures/, index.html and README.md in ``out``.

    Parameters
    ----------
    bench : Benchmark
    results : pandas.DataFrame
        The long results table.
    run_dirs : dict
        {dataset name: run directory} (for the galleries).
    out : Path
        Where to write (may be a staging folder).
    log : callable, optional
    command : list of str, optional
        The reproduce command that made them, as typed (named in the headers).
    published_at : Path, optional
        The folder the files end up in (named in README.md's ``--check``).
    """
    import shlex

    command = command or ["ogmbench", "reproduce", str(bench.path), "--profile", bench.profile]
    check = (Path(published_at) if published_at is not None else out) / "results.csv"
    again = shlex.join(command + ["--out", "runs/my-results", "--check", check.as_posix()])
    # The command as typed, less --out: the same command makes the same tables wherever
    # they are written.
    made = shlex.join(command)
    tables = {d.name: build_tables(results, d.name) for d in bench.datasets}
    md = [f"<!-- {GENERATED}: {made} -->", "",
          f"# {bench.name} v{bench.version}, profile {bench.profile}", ""]
    tex = [f"% {GENERATED}: {made}", r"% needs \usepackage{booktabs}", ""]
    for name, group in tables.items():
        md += [f"## {name}", ""]
        for table in group:
            md += [table.markdown(), ""]
            tex += [table.latex(), ""]
    (out / "tables.md").write_text("\n".join(md))
    (out / "tables.tex").write_text("\n".join(tex))
    figures = write_figures(bench, results, run_dirs, out / "figures", log=log)
    (out / "index.html").write_text(_html(bench, results, tables, figures, out / "figures"))
    (out / "README.md").write_text(_readme(bench, results, tables, figures, again, made))


def _readme(bench, results, tables, figures, again: str, made: str) -> str:
    lines = [f"<!-- {GENERATED}: {made} --out <this folder> -->", "",
             f"# Leaderboard: {bench.name} v{bench.version}, profile `{bench.profile}`", "",
             bench.description, "",
             "Every file in this folder is written by `ogmbench reproduce`; nobody edits it by "
             "hand. To reproduce it and compare with these numbers (from the folder the "
             "command below was run in):", "", "```bash", again, "```", "",
             _tolerance_line(bench) + " On the same CPU and library versions the tables "
             "come out identical.", "",
             "Files: `results.csv` (long format, one row per dataset, estimator, prior "
             "control, rho and metric, with provenance columns; `rho` is a value or `all`, "
             "pooled over rho; read it with `pandas.read_csv(path, skiprows=1, "
             "dtype={'rho': str})`), `tables.md`, `tables.tex` (booktabs), "
             "`figures/` (PNG and SVG) and `index.html` (one self-contained page with "
             "sortable tables).", "", "## Provenance", ""]
    lines += _provenance_lines(bench, results) + [""]
    for name, group in tables.items():
        lines += [f"## {name}", ""]
        for table in group:
            lines += [table.markdown(), ""]
        for title, stem in figures[name]:
            lines += [f"![{title}](figures/{stem}.png)", ""]
    return "\n".join(lines)


_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    function sort() {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('thead th').forEach(function (o) { o.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute('data-value');
        if (v === null) { return cell.textContent.trim(); }
        v = parseFloat(v);
        return isNaN(v) ? '' : v;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        // Empty cells last whatever the direction.
        if (x === '' || y === '') { return (x === '') - (y === ''); }
        var c = (typeof x === 'number' && typeof y === 'number') ? x - y
              : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sort(); } });
  });
});
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; margin: 1em 0 2em; font-size: 0.85em; }
caption { caption-side: top; text-align: left; padding-bottom: 0.4em; max-width: 60em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right;
         white-space: nowrap; }
tbody th { text-align: left; font-weight: normal; }
thead th { cursor: pointer; border-bottom: 2px solid #444; user-select: none; }
thead th[aria-sort=ascending]::after { content: " \\25B2"; }
thead th[aria-sort=descending]::after { content: " \\25BC"; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _html(bench, results, tables, figures, folder: Path) -> str:
    def md_inline(text):
        text = html.escape(text)
        parts = text.split("`")
        return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))

    body = [f"<h1>{html.escape(bench.name)} v{bench.version}, profile "
            f"<code>{html.escape(bench.profile)}</code></h1>",
            f"<p>{html.escape(bench.description)}</p>",
            "<p>Click a column header to sort by it (again to reverse). "
            + md_inline(_tolerance_line(bench)) + "</p>",
            "<h2>Provenance</h2><ul>"]
    body += [f"<li>{md_inline(line[2:])}</li>" for line in _provenance_lines(bench, results)]
    body.append("</ul>")
    for name, group in tables.items():
        body.append(f'<h2 id="{html.escape(name)}">{html.escape(name)}</h2>')
        body += [t.html() for t in group]
        for title, stem in figures[name]:
            data = base64.b64encode((folder / f"{stem}.png").read_bytes()).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(title)}">'
                        f"<figcaption>{html.escape(title)}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<!-- {GENERATED} -->\n<html lang=\"en\">\n<head>\n"
            f'<meta charset="utf-8">\n<title>{html.escape(bench.name)} '
            f"({html.escape(bench.profile)})</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{_SORT_JS}</script>\n</body>\n</html>\n")
