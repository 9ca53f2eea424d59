"""Pages of the report: ``tables.md``, ``tables.tex``, ``index.html`` and ``README.md``.

Everything here is a pure function of the long results table (``results.csv``), the
figures and the seal record (``sealed.json``, whose times are the only ones), so the same
results give the same bytes: sorted inputs.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Callable

from ..results import GENERATED, split_sweep
from .figures import write_figures
from .tables import build_tables, scaling_table

__all__ = ["write_report"]


def _seal_line(seal: dict | None) -> list[str]:
    """Whether the test samples were known before the estimators were scored."""
    if seal is None:
        return []
    if seal["sealed"]:
        return [f"- sealed: every test split was drawn from a secret seed, committed as "
                f"`{seal['commitment']}` at {seal['drawn']} before any store was made, and "
                f"revealed after scoring (test seed {seal['test_seed']}, nonce "
                f"`{seal['nonce']}`; `sealed.json`): no estimator can have been tuned to "
                f"these test samples. The profile's `test_seed = {seal['test_seed']}` "
                "regenerates them."]
    known = ("the profile's public seed" if seal["test_seed"] is None else
             f"the profile's test seed {seal['test_seed']}")
    line = f"- not sealed: the test splits come from {known}, known before the run"
    published = seal.get("published")
    if published:
        line += (f"; the published rows beside them were sealed (`{published['commitment']}`, "
                 f"revealed {published['revealed']}), the new ones were scored after the reveal")
    return [line]


def _provenance_lines(bench, results, seal: dict | None = None) -> list[str]:
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
    return lines + _seal_line(seal)


def _tolerance_line(bench) -> str:
    if bench.atol_metric:
        atol = "atol + " + f"{bench.rtol:g} × |published|, with atol " + ", ".join(
            f"{v:g} for {m}" for m, v in bench.atol_metric.items())
    else:
        atol = f"{bench.atol:g} + {bench.rtol:g} × |published|"
    return (f"`--check` tolerance: a cell drifts when |new − published| > {atol} (from "
            "`[check]` in the benchmark file).")


def write_report(bench, results, run_dirs, out: Path, log: Callable[[str], None] | None = None,
                 command: list[str] | None = None, published_at: Path | None = None,
                 seal: dict | None = None):
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
    seal : dict, optional
        The reproduction's ``sealed.json`` record (:mod:`ogmbench.sealing`): the pages say
        whether the test samples were sealed.
    """
    import shlex

    command = command or ["ogmbench", "reproduce", str(bench.path), "--profile", bench.profile]
    check = (Path(published_at) if published_at is not None else out) / "results.csv"
    again = shlex.join(command + ["--out", "runs/my-results", "--check", check.as_posix()])
    # The command as typed, less --out: the same command makes the same tables wherever
    # they are written.
    made = shlex.join(command)
    results, sweep = split_sweep(results)
    tables = {d.name: build_tables(results, d.name) + [t for t in [scaling_table(sweep, d.name)] if t]
              for d in bench.datasets}
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
    figures = write_figures(bench, results, run_dirs, out / "figures", log=log, sweep=sweep)
    (out / "index.html").write_text(_html(bench, results, tables, figures, out / "figures",
                                          seal))
    (out / "README.md").write_text(_readme(bench, results, tables, figures, again, made, seal))


def _readme(bench, results, tables, figures, again: str, made: str, seal) -> str:
    lines = [f"<!-- {GENERATED}: {made} --out <this folder> -->", "",
             f"# Leaderboard: {bench.name} v{bench.version}, profile `{bench.profile}`", "",
             bench.description, "",
             "Every file in this folder is written by `ogmbench reproduce`; nobody edits it by "
             "hand. To reproduce it and compare with these numbers (from the folder the "
             "command below was run in):", "", "```bash", again, "```", "",
             _tolerance_line(bench) + " On the same CPU and library versions the tables "
             "come out identical.", "",
             "Files: `results.csv` (long format, one row per dataset, train size, estimator, prior "
             "control, rho and metric, with provenance columns; `rho` is a value or `all`, "
             "pooled over rho; read it with `pandas.read_csv(path, skiprows=1, "
             "dtype={'rho': str})`), `samples.parquet` (every test sample's score of "
             "every row, from which `results.csv` is derived), `sealed.json` (whether the "
             "test samples were sealed), `tables.md`, `tables.tex` (booktabs), "
             "`figures/` (PNG and SVG) and `index.html` (one self-contained page with "
             "sortable tables).", "", "## Provenance", ""]
    lines += _provenance_lines(bench, results, seal) + [""]
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


def _html(bench, results, tables, figures, folder: Path, seal) -> str:
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
    body += [f"<li>{md_inline(line[2:])}</li>" for line in _provenance_lines(bench, results, seal)]
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
