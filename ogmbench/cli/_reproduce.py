"""The command that runs a benchmark file end to end: reproduce."""

from __future__ import annotations

import sys

import click

from ._group import cli
from ._options import execution_options
from ._progress import EvalBars


@cli.command()
@click.argument("config", metavar="CONFIG")
@click.option("--profile", default="default", show_default=True,
              help="A [profile.NAME] of CONFIG (leaderboard/benchmark.toml has default, for "
                   "2 CPU cores, and paper, for one GPU).")
@click.option("--out", default=None, metavar="DIR",
              help="Output directory (default runs/<benchmark>-<profile>).")
@click.option("--work", default=None, metavar="DIR",
              help="Stores, runs and checkpoints, reused when they match (default OUT/work).")
@click.option("--check", "check", default=None, metavar="RESULTS",
              help="A published results.csv: exit 1 naming every cell that drifted beyond "
                   "the benchmark's tolerance.")
@click.option("--estimator", "estimators", multiple=True, metavar="NAME",
              help="Add an estimator to the benchmark's (repeatable; eval's syntax).")
@click.option("--beside", default=None, metavar="PUBLISHED",
              help="A published report folder of this profile (e.g. leaderboard/): train "
                   "and score only the --estimator ones, beside its rows, paired on the same "
                   "test samples.")
@click.option("--sealed", is_flag=True,
              help="Draw every test split from a secret seed: its commitment is printed "
                   "first, the report's sealed.json reveals it (official results).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Generation processes and eval threads; results do not depend on it.")
@execution_options
def reproduce(config, profile, out, work, check, estimators, beside, sealed, workers, threads,
              dask):
    """Run benchmark file CONFIG end to end: generate, eval, tables, figures, index.html.

    CONFIG is a TOML benchmark file; the reference one is leaderboard/benchmark.toml.
    Exit codes: 0 done (and, with --check, every published cell within the tolerance);
    1 an estimator failed, or --check found drift; 2 bad input (nothing is run).
    """
    from ..reproduction import ReproduceFailure, reproduce as run

    bars = EvalBars()
    try:
        out_dir, drift = run(config, profile=profile, out=out, work=work, check=check,
                             estimators=estimators, beside=beside, sealed=sealed,
                             workers=workers,
                             threads=threads,
                             dask=dask, progress=bars.update, log=bars.log)
    except KeyboardInterrupt:
        bars.close()
        click.echo("\ninterrupted: stores, runs and checkpoints are kept; rerun the same "
                   "command to continue", err=True)
        sys.exit(130)
    except ReproduceFailure as exc:
        bars.close()
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    bars.close()
    click.echo(f"results in {out_dir}: results.csv, samples.parquet, tables.md, tables.tex, "
               "sealed.json, figures/, index.html, README.md")
    if drift is None:
        return
    compared = drift.compared
    if drift:
        click.echo(f"check against {check}: {len(drift)} cell(s) drifted beyond the tolerance:")
        for item in drift:
            click.echo(f"  {item}")
        click.echo(f"error: {len(drift)} cell(s) drifted from {check} (listed above)", err=True)
        sys.exit(1)
    click.echo(f"check against {check}: all {compared} published cells within the tolerance")
