"""The commands that evaluate and compare: eval (one store, a leaderboard printed) and
leaderboard (run directories merged into one table)."""

from __future__ import annotations

import sys

import click

from ..api import CONTROLS, DEVICES
from ..metrics import METRICS
from ..specs import REFERENCES, default_reference, resolve
from ..tuning import MAX_TIMEOUT
from ._group import cli
from ._options import check_metric, execution_options
from ._progress import EvalBars


@cli.command(name="eval")
@click.argument("store")
@click.option("--estimator", "estimators", multiple=True, metavar="NAME",
              help="Registered name, pkg.module:Class or path/file.py:Class (repeatable), "
                   "optionally with fixed parameters: 'unet:steps=200,width=8'. "
                   "Default: every registered estimator.")
@click.option("--target", type=int, default=0, show_default=True,
              help="Class to denoise; the other classes are the prior.")
@click.option("--out", "out", default=None, metavar="RUN_DIR",
              help="Run directory. Default: runs/<store>-target<N>.")
@click.option("--prior-control", "controls", multiple=True,
              type=click.Choice(CONTROLS),
              help="Also evaluate prior-using estimators with the test priors shuffled across "
                   "samples, zeroed, or replaced by the clean prior (repeatable); the past- "
                   "controls do the same to the target's past frames, for the estimators "
                   "that read them (a store of sequences).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the learned estimators' training and of the shuffled prior "
                   "control (recorded in run.json).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where learned estimators train: auto picks cuda when torch sees a GPU.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Threads sharing each test chunk.")
@click.option("--resume", is_flag=True, help="Continue RUN_DIR without recomputing finished estimators.")
@click.option("--profile", type=click.Choice(["quick", "default", "paper"]), default=None,
              help="Training profile of the learned estimators (default: their 'default').")
@click.option("--train-seeds", type=int, default=1, show_default=True,
              help="Trainings per learned estimator; the leaderboard reports the mean and an "
                   "interval across them.")
@click.option("--train-size", type=int, default=None, metavar="N",
              help="Fit on the first N train samples of each rho only (how the prior's gain "
                   "depends on data); val and test stay whole. Default: all of them.")
@click.option("--checkpoints", default=None, metavar="DIR",
              help="Checkpoint folder of the learned estimators (default RUN_DIR/checkpoints); "
                   "share one between runs to train once.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True, max=MAX_TIMEOUT),
              default=None,
              metavar="SECONDS",
              help="Seconds each estimator may take (fit and predict); one that takes longer "
                   "fails ('timed out') and the others go on. Default: no limit.")
@click.option("--metric", default="mse", show_default=True,
              help=f"Metric of the printed table: {', '.join(METRICS)}.")
@execution_options
def eval_(store, estimators, target, out, controls, seed, device, workers, resume, profile,
          train_seeds, train_size, checkpoints, timeout, metric, threads, dask):
    """Evaluate estimators on STORE's test split; print the leaderboard."""
    from ..evaluate import EvalConfig, run_eval
    from ..leaderboard import LeaderboardError, write_leaderboard
    from ..report.tables import render_leaderboard

    check_metric(metric)
    specs = [resolve(e) for e in estimators]  # once: run_eval takes them resolved
    if METRICS[metric].paired and specs:
        if default_reference(s.name for s in specs) is None:
            raise click.BadParameter(f"{metric} compares with a reference estimator: add "
                                     f"--estimator {REFERENCES[-1]} (or {REFERENCES[0]})",
                                     param_hint="'--metric'")
    bars = EvalBars()
    try:
        config = EvalConfig(
            target=target, out=out, prior_controls=controls, seed=seed, device=device,
            workers=workers, threads=threads, dask=dask, resume=resume, profile=profile,
            checkpoints=checkpoints, train_seeds=train_seeds, train_size=train_size,
            timeout=timeout)
        run_dir, outcomes = run_eval(store, specs or None, config, progress=bars.update,
                                     log=bars.log)
    except KeyboardInterrupt:
        bars.close()
        click.echo("\ninterrupted: finished estimators are saved; continue with --resume", err=True)
        sys.exit(130)
    bars.close()
    ok = [o for o in outcomes if o.status != "failed"]
    failed = [o for o in outcomes if o.status == "failed"]
    if ok:
        agg = write_leaderboard(run_dir)
        try:
            click.echo(render_leaderboard(agg, metric, "table"))
        except LeaderboardError as exc:
            raise click.UsageError(f"{exc} (results are saved in {run_dir})") from None
    for note in _training_notes(ok):
        click.echo(f"note: {note}")
    click.echo(f"\nresults in {run_dir} (run.json, samples/*.parquet, leaderboard.csv)")
    for outcome in failed:
        click.echo(f"error: estimator {outcome.name} failed: {outcome.record['reason']}", err=True)
    if failed:
        sys.exit(1)


def _training_notes(outcomes) -> list[str]:
    """What a reader of the table must know about how the learned estimators trained."""
    from ..curves import RULE

    quick = [o.name for o in outcomes if (o.record.get("fixed_params") or {}).get("profile") == "quick"]
    unconverged = [o.name for o in outcomes if o.status != "failed" and o.record.get("stochastic")
                   and o.record.get("converged") is not True and o.name not in quick]
    notes = []
    if quick:
        notes.append(f"{', '.join(quick)} trained on the quick profile, a smoke test of seconds: "
                     "these numbers are not the benchmark's answer (without --profile quick "
                     "they train properly; the published answer is in leaderboard/)")
    if unconverged:
        notes.append(f"{', '.join(unconverged)} not shown to have converged ({RULE}); for the "
                     "reference U-Nets: --estimator NAME:schedule=plateau, or more steps "
                     "(NAME:steps=N)")
    return notes


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("--metric", default="mse", show_default=True,
              help=f"{', '.join(list(METRICS)[:-1])} or {list(METRICS)[-1]}.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "latex", "csv"]),
              default="table", show_default=True)
@click.option("--reference", default="auto", show_default=True,
              help="Estimator for the paired comparison (auto: unet, else identity).")
def leaderboard(run_dirs, metric, fmt, reference):
    """Merge run directories into one leaderboard (estimator x rho)."""
    from ..leaderboard import LeaderboardError, aggregate, load_runs
    from ..report.tables import render_leaderboard

    check_metric(metric)
    try:
        rows = load_runs(run_dirs)
        if reference != "auto" and reference not in set(rows["estimator"]):
            raise LeaderboardError(f"reference {reference!r} is not in the runs "
                                   f"(have: {', '.join(sorted(set(rows['estimator'])))})")
        click.echo(render_leaderboard(aggregate(rows, reference=reference), metric, fmt))
    except LeaderboardError as exc:
        raise click.UsageError(str(exc)) from None

