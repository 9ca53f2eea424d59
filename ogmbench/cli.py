"""The ``ogmbench`` command line: each command parses, calls one library function, prints.

Expected problems (bad input, a foreign or damaged store) print one line on stderr
and exit 2; a failed run exits 1; an interrupted run exits 130 and says how to resume.

Over 400 lines on purpose: the whole command-line surface is one click group in one
file, each command a few lines that parse, call one function and print.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time

import click

from ._version import __version__
from .api import CONTROLS, DEVICES
from .config import DEFAULTS, MAX_RHO_VALUES, default_noise, make_config
from .generators import FAMILIES
from .errors import EXIT_FAILURE, EXIT_USAGE, RunFailure, UsageError
from .metrics import METRICS
from .places import is_transport_error
from .seeding import rho_id
from .specs import REFERENCES, default_reference, parse_params, resolve
from .tuning import MAX_TIMEOUT


class RhoValues(click.ParamType):
    """``-0.5,0,0.9`` or ``START:STOP:STEP`` (STOP included when it falls on the grid)."""

    name = "VALUES"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            if ":" in value:
                parts = [float(p) for p in value.split(":")]
                if len(parts) != 3:
                    raise ValueError
                start, stop, step = parts
                if step <= 0 or stop < start:
                    self.fail(f"range {value!r} needs STEP > 0 and STOP >= START", param, ctx)
                count = int(min((stop - start) / step + 1e-9, MAX_RHO_VALUES)) + 1
                if count > MAX_RHO_VALUES:
                    self.fail(f"range {value!r} has more than {MAX_RHO_VALUES} values", param, ctx)
                return [rho_id(start + i * step) for i in range(count)]
            items = value.split(",")
            if len(items) > 1 and not items[-1].strip():
                items = items[:-1]  # a trailing comma, as in a list typed by hand
            if any(not v.strip() for v in items):
                self.fail(f"{value!r} has an empty value between commas", param, ctx)
            return [float(v) for v in items]
        except ValueError:
            self.fail(f"{value!r} is neither a comma list (-0.5,0,0.9) nor a range "
                      "START:STOP:STEP", param, ctx)


class Size(click.ParamType):
    """``64`` or ``HxW`` such as ``64x128``."""

    name = "H[xW]"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            parts = [int(v) for v in value.lower().split("x")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2):
            self.fail(f"{value!r} is not a size like 64 or 64x128", param, ctx)
        if min(parts) <= 0:
            self.fail(f"size must be positive, got {value!r}", param, ctx)
        return tuple(parts * 2 if len(parts) == 1 else parts)


class Fractions(click.ParamType):
    name = "TRAIN,VAL,TEST"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            parts = [float(v) for v in value.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 3:
            self.fail(f"{value!r} is not three fractions like 0.7,0.1,0.2", param, ctx)
        return tuple(parts)


def _execution_options(command):
    """--threads and --dask, the same on every command that does heavy work."""
    command = click.option(
        "--dask", default=None, metavar="ADDRESS",
        help="Run on a Dask cluster: local[:N] starts N worker processes here; else a "
             "scheduler's address (tcp://host:8786). Default: $DASK_SCHEDULER_ADDRESS, "
             "else in this process. Workers must see the same paths.")(command)
    return click.option(
        "--threads", type=click.IntRange(min=1), default=None, metavar="N",
        help="Cores this command may use (default: all it may run on); torch and the "
             "workers share them.")(command)


# Wide enough that `ogmbench --help` shows every command's summary whole.
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(__version__, prog_name="ogmbench")
def cli():
    """Benchmark for denoising multi-class occupancy grid maps (OGMs).

    Generate paired clean/noisy class maps whose inter-class correlation is a knob
    (rho), then measure how much a second class helps to denoise the first.
    """


@cli.command()
@click.argument("out", type=click.Path(dir_okay=True, file_okay=True, path_type=str))
@click.option("--family", default=DEFAULTS["family"], show_default=True,
              help="Scene family (see 'ogmbench list').")
@click.option("--noise", "noise", default=None, metavar="SPEC",
              show_default=f"{default_noise(2)}; with K classes 0.3 for every prior class",
              help="Noise models composed with '+', e.g. 'lidar+confusion:p=0.1'; per-class "
                   "values with '/', e.g. 'gaussian:sigma=1.0/0.3'.")
@click.option("--rho", type=RhoValues(), default=",".join(f"{r:g}" for r in DEFAULTS["rho"]),
              show_default=True,
              help="Correlation knob values: a comma list (-0.5,0,0.9) or START:STOP:STEP "
                   "(STOP included when it falls on the grid).")
@click.option("--samples-per-rho", type=int, default=DEFAULTS["samples_per_rho"], show_default=True,
              help="Samples per rho value, split into train/val/test.")
@click.option("--size", type=Size(), default=str(DEFAULTS["size"]), show_default=True,
              help="Map size H or HxW.")
@click.option("--classes", default=None, metavar="N|NAMES",
              help="A number of classes (>= 2, default 2), or for a family with named "
                   "classes their names, comma-separated in the family's order ("
                   + "; ".join(f"{m.name}: {','.join(m.class_names)}, default "
                               f"{','.join(m.default_classes)}"
                               for m in FAMILIES.values() if m.class_names) + ").")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True,
              help="Master seed (recorded).")
@click.option("--split", type=Fractions(), default=",".join(f"{f:g}" for f in DEFAULTS["split"]),
              show_default=True,
              help="Train, val and test fractions, applied per rho.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Processes; the output bytes do not depend on it.")
@click.option("--overwrite", is_flag=True, help="Replace an existing ogmbench store at OUT.")
@click.option("--force", is_flag=True,
              help="Go on although the memory or disk estimate says it cannot fit.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted store; settings not given are read from it.")
@click.option("--frames", type=int, default=1, show_default=True, metavar="T",
              help="Frames per sample: T > 1 makes each sample a sequence seen from a moving "
                   "ego (the last frame is estimated); its parameters (dt, noise_memory, the "
                   "family's motion) are --param's, see 'ogmbench list'.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Family parameter (repeatable), e.g. --param length_scale=3.")
@_execution_options
@click.pass_context
def generate(ctx, out, family, noise, rho, samples_per_rho, size, classes, seed, split, workers,
             overwrite, force, resume, frames, params, threads, dask):
    """Generate a dataset store (zarr) at OUT."""
    from .generate import generate as run

    settings = dict(family=family, noise=noise, rho=rho, samples_per_rho=samples_per_rho,
                    size=size, classes=classes, seed=seed, split=split,
                    params=parse_params(params, "--param"), frames=frames)
    if resume:
        # Only what the user typed is compared with the store; the rest comes from it.
        source = click.core.ParameterSource.COMMANDLINE
        settings = {k: v for k, v in settings.items()
                    if ctx.get_parameter_source(k) == source}
        if "params" in settings and not settings["params"]:
            settings.pop("params")
    bar = _LazyBar(out, None if resume else
                   lambda: make_config(**settings).n_samples)
    try:
        store = run(out, workers=workers, threads=threads, dask=dask, overwrite=overwrite,
                    resume=resume, force=force, progress=bar.update, **settings)
    except KeyboardInterrupt:
        from .store import is_store

        bar.close()
        if is_store(out):
            click.echo(f"\ninterrupted: {out} is incomplete; finish it with "
                       f"'ogmbench generate {out} --resume'", err=True)
        else:
            click.echo(f"\ninterrupted before {out} was created; nothing was written", err=True)
        sys.exit(130)
    bar.close()
    empty = [name for name, count in store.attrs["split_counts_per_rho"].items() if count == 0]
    if empty:
        click.echo(f"warning: no {' or '.join(empty)} samples (samples-per-rho "
                   f"{store.attrs['samples_per_rho']} with split "
                   f"{','.join(f'{f:g}' for f in store.attrs['split_fractions'])})", err=True)
    click.echo(f"wrote {store.path}: {len(store)} samples "
               f"({store.attrs['family']}, {store.attrs['noise']}), digest {store.attrs['digest'][:16]}")


class _LazyBar:
    """A progress bar on stderr, opened at the first update: validation errors come first."""

    def __init__(self, out, total=None):
        # total(): the sample count of a new store (an overwrite is built beside OUT, so
        # OUT's own attributes would name the old one); without it, OUT's are read.
        self.out, self.total, self.bar = out, total, None
        self.done, self.last = 0, time.monotonic()

    def _length(self) -> int:
        from .store import open_group

        return (self.total() if self.total is not None
                else int(open_group(self.out).attrs["n_samples"]))

    def update(self, n: int) -> None:
        if not sys.stderr.isatty():
            # Logs and pipes: a plain line every few minutes of a long generation.
            self.done += n
            if n and time.monotonic() - self.last >= _EvalBars.EVERY:
                self.last = time.monotonic()
                click.echo(f"generating: {self.done}/{self._length()} samples", err=True)
            return
        if self.bar is None:
            self.bar = click.progressbar(length=self._length(), label="generating",
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@cli.command()
@click.argument("store")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--calibration", is_flag=True,
              help="Compare the clean maps with a real dataset's statistics instead: "
                   "positive-cell fractions and object footprints (default targets: nuScenes).")
@click.option("--targets", default=None, metavar="FILE",
              help="With --calibration: your dataset's statistics (TOML or JSON with "
                   "[fractions] and [footprints]).")
@click.option("--rho", "rho", default=None, type=float,
              help="With --calibration: the rho whose samples are measured (default: the largest).")
def info(store, as_json, calibration, targets, rho):
    """Counts per rho and split, mean phi per rho, occupancy and noise statistics."""
    from .info import format_summary, summarize
    from .store import open_store, reading

    if not calibration and (targets is not None or rho is not None):
        raise click.UsageError("--targets and --rho go with --calibration")
    if calibration:
        from .calibration import NUSCENES_FRONT, calibrate, format_calibration, load_targets

        chosen = load_targets(targets) if targets is not None else NUSCENES_FRONT
        with reading(store):
            report = calibrate(open_store(store), chosen, rho)
        click.echo(json.dumps(report, indent=2) if as_json else format_calibration(report))
        return
    with reading(store):
        summary = summarize(open_store(store))
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@cli.command()
@click.argument("store")
def verify(store):
    """Recompute every shard's digest; exit 1 if the store is damaged or incomplete."""
    from .store import reading, verify_store

    with reading(store):
        report = verify_store(store)
    click.echo(report.message)
    sys.exit(0 if report.ok else 1)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_models(as_json):
    """Families and noise models with their parameters, defaults and ranges."""
    from .generators import NOISE_MODELS, SEQUENCE_PARAMS

    def params(declared):
        return {p.name: {"default": p.default, "range": p.range_text(),
                         "per_class": p.per_class, "doc": p.doc} for p in declared}

    def describe(model):
        named = {"classes": list(model.class_names),
                 "default_classes": list(model.default_classes)} if model.class_names else {}
        moving = {"sequence_params": params(SEQUENCE_PARAMS + model.motion)} if model.sequence else {}
        return {"doc": model.doc, **named, "params": params(model.params), **moving}

    data = {"families": {n: describe(m) for n, m in FAMILIES.items()},
            "noise_models": {n: describe(m) for n, m in NOISE_MODELS.items()},
            "estimators": _describe_estimators()}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for title, key in (("Families", "families"), ("Noise models", "noise_models")):
        click.echo(f"{title}:")
        for name, entry in data[key].items():
            click.echo(f"  {name}: {entry['doc']}")
            if "classes" in entry:
                click.echo(f"      classes (--classes, in this order): "
                           f"{','.join(entry['classes'])}; default "
                           f"{','.join(entry['default_classes'])}")
            for pname, p in entry["params"].items():
                per = "  (per class: a/b)" if p["per_class"] else ""
                click.echo(f"      {pname:<16} default {p['default']!s:<6} in {p['range']:<12} "
                           f"{p['doc']}{per}")
            if "sequence_params" in entry:
                click.echo("      with --frames > 1 (sequences):")
                for pname, p in entry["sequence_params"].items():
                    click.echo(f"      {pname:<16} default {p['default']!s:<6} in "
                               f"{p['range']:<12} {p['doc']}")
        click.echo("")
    click.echo("Compose noise models with '+': --noise 'lidar+confusion:p=0.1'\n")
    click.echo("Estimators (ogmbench eval --estimator NAME):")
    for name, entry in data["estimators"].items():
        prior = {(False, False): "no prior", (True, False): "uses the prior",
                 (False, True): "reads past frames",
                 (True, True): "uses the prior and past frames"}[
                     (entry["uses_prior"], entry["uses_past"])]
        click.echo(f"  {name}: {entry['doc']} [{prior}; {entry['source']}]")
        for pname, default in entry["params"].items():
            grid = entry["grid"].get(pname)
            tuned = f"  tuned on val over {grid}" if grid else ""
            shown = "from the training profile" if default is None else f"{default!s:<6}"
            click.echo(f"      {pname:<16} default {shown}{tuned}")
        for fact, value in entry.get("facts", {}).items():
            click.echo(f"      {fact}: {value}")


def _describe_estimators() -> dict:
    from .registry import available, load

    out = {}
    for name in available():
        _, cls, source = load(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        out[name] = {"doc": doc, "source": source, "uses_prior": cls.uses_prior,
                     "uses_past": bool(getattr(cls, "uses_past", False)),
                     "params": cls.default_params(), "grid": dict(cls.param_grid),
                     "facts": cls().describe()}
    return out


@cli.command()
@click.argument("store")
@click.option("-n", "count", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Samples to draw (1 to 32), spread over the rho values.")
@click.option("--out", default="samples.png", show_default=True, type=click.Path(),
              help="Image file to write (PNG, SVG or PDF by extension).")
def show(store, count, out):
    """Draw clean and noisy classes side by side, one row per sample."""
    from .show import draw_samples
    from .store import open_store, reading

    with reading(store):
        indices = draw_samples(open_store(store), count, out)
    click.echo(f"wrote {out} (samples {', '.join(map(str, indices))})")


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
@_execution_options
def eval_(store, estimators, target, out, controls, seed, device, workers, resume, profile,
          train_seeds, train_size, checkpoints, timeout, metric, threads, dask):
    """Evaluate estimators on STORE's test split; print the leaderboard."""
    from .evaluate import run_eval
    from .leaderboard import LeaderboardError, write_leaderboard
    from .report.tables import render_leaderboard

    _check_metric(metric)
    specs = [resolve(e) for e in estimators]  # once: run_eval takes them resolved
    if METRICS[metric].paired and specs:
        if default_reference(s.name for s in specs) is None:
            raise click.BadParameter(f"{metric} compares with a reference estimator: add "
                                     f"--estimator {REFERENCES[-1]} (or {REFERENCES[0]})",
                                     param_hint="'--metric'")
    bars = _EvalBars()
    try:
        run_dir, outcomes = run_eval(
            store, specs or None, target=target, out=out, prior_controls=controls,
            seed=seed, device=device, workers=workers, threads=threads, dask=dask,
            resume=resume, profile=profile, checkpoints=checkpoints, train_seeds=train_seeds,
            train_size=train_size, timeout=timeout, progress=bars.update, log=bars.log)
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
    from .curves import RULE

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


class _EvalBars:
    """One progress bar per estimator on stderr, and status lines.

    Piped or logged (no terminal), a long stage prints a plain line every
    :attr:`EVERY` seconds instead, so a log never sits silent through a training.
    """

    EVERY = 120.0

    def __init__(self):
        self.bar, self.name = None, None
        self.last: dict[str, float] = {}

    def update(self, name: str, done: int, total: int, message: str = "") -> None:
        if not sys.stderr.isatty():
            now = time.monotonic()
            if now - self.last.setdefault(name, now) >= self.EVERY and done < total:
                self.last[name] = now
                click.echo(f"{name}: {done}/{total}" + (f" ({message})" if message else ""),
                           err=True)
            return
        if name != self.name:
            self.close()
            self.bar = click.progressbar(length=total, label=f"{name:<18}", file=sys.stderr)
            self.bar.__enter__()
            self.name, self.done = name, 0
        if message:
            self.bar.label = f"{name:<18} {message}"
        self.bar.update(done - self.done)
        self.done = done

    def log(self, message: str) -> None:
        self.close()
        click.echo(message, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar, self.name = None, None


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
    from .leaderboard import LeaderboardError, aggregate, load_runs
    from .report.tables import render_leaderboard

    _check_metric(metric)
    try:
        rows = load_runs(run_dirs)
        if reference != "auto" and reference not in set(rows["estimator"]):
            raise LeaderboardError(f"reference {reference!r} is not in the runs "
                                   f"(have: {', '.join(sorted(set(rows['estimator'])))})")
        click.echo(render_leaderboard(aggregate(rows, reference=reference), metric, fmt))
    except LeaderboardError as exc:
        raise click.UsageError(str(exc)) from None


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
@click.option("--workers", type=int, default=1, show_default=True,
              help="Generation processes and eval threads; results do not depend on it.")
@_execution_options
def reproduce(config, profile, out, work, check, estimators, workers, threads, dask):
    """Run benchmark file CONFIG end to end: generate, eval, tables, figures, index.html.

    CONFIG is a TOML benchmark file; the reference one is leaderboard/benchmark.toml.
    Exit codes: 0 done (and, with --check, every published cell within the tolerance);
    1 an estimator failed, or --check found drift; 2 bad input (nothing is run).
    """
    from .reproduce import ReproduceFailure, reproduce as run

    bars = _EvalBars()
    try:
        out_dir, drift = run(config, profile=profile, out=out, work=work, check=check,
                             estimators=estimators, workers=workers, threads=threads,
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
    click.echo(f"results in {out_dir}: results.csv, tables.md, tables.tex, figures/, index.html, "
               "README.md")
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


def _check_metric(metric: str) -> None:
    if metric in METRICS:
        return
    why = (" (the Brier score of a probability against a 0/1 map is its MSE: use mse)"
           if metric == "brier" else "")
    raise click.BadParameter(f"{metric!r} is not one of {', '.join(METRICS)}{why}",
                             param_hint="'--metric'")


@contextlib.contextmanager
def _stopped_like_ctrl_c():
    """SIGTERM and SIGHUP (kill, timeout, a batch system's stop, a closed terminal) end a
    command as Ctrl-C does: its cleanup runs, so it releases its locks (on object storage
    a lock is an object that nothing else would delete) and stops its child processes."""
    names = ("SIGTERM", "SIGHUP")
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in names:
        if hasattr(signal, name):
            number = getattr(signal, name)
            previous[number] = signal.getsignal(number)
            if previous[number] is signal.SIG_DFL:  # one the caller set stays theirs
                signal.signal(number, _interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _error(message: str) -> None:
    """One line on stderr, whatever the message quotes: line breaks are shown escaped."""
    click.echo("error: " + message.replace("\r", "\\r").replace("\n", "\\n"), err=True)
    # A read that failed mid-way leaves zarr's sibling reads pending on its I/O thread;
    # asyncio would log "Task was destroyed but it is pending!" for each at exit, after
    # the one line that says what went wrong.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def main(argv=None) -> None:
    """Entry point: run the CLI, turning expected errors into one line and an exit code."""
    try:
        with _stopped_like_ctrl_c():
            cli.main(args=argv, prog_name="ogmbench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _error(f"{exc.format_message()}{hint}")
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        _error(exc.format_message())
        sys.exit(exc.exit_code)
    except UsageError as exc:
        _error(str(exc))
        sys.exit(EXIT_USAGE)
    except RunFailure as exc:
        _error(str(exc))
        sys.exit(EXIT_FAILURE)
    except OSError as exc:
        if is_transport_error(exc):
            _error(f"object storage: {exc}")
        else:
            _error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        sys.exit(1)
    except Exception as exc:
        if not is_transport_error(exc):
            raise
        # An endpoint that cannot be reached, or credentials it refuses: not a bug.
        _error(f"object storage: {exc}")
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    # standalone_mode=False returns the exit code of sys.exit-less commands
