"""The commands that make and read stores: generate, info, verify, show, and list (the
families, noise models and estimators there are)."""

from __future__ import annotations

import json
import sys

import click

from ..config import DEFAULTS, default_noise, make_config
from ..generators import FAMILIES
from ..specs import parse_params, resolve
from ._group import cli
from ._options import Fractions, RhoValues, Size, execution_options
from ._progress import LazyBar


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
@click.option("--test-seed", type=int, default=None,
              help="Seed of the test split alone (default: the master seed); a sealed "
                   "evaluation's test samples that nobody saw before.")
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
@execution_options
@click.pass_context
def generate(ctx, out, family, noise, rho, samples_per_rho, size, classes, seed, test_seed,
             split, workers, overwrite, force, resume, frames, params, threads, dask):
    """Generate a dataset store (zarr) at OUT."""
    from ..generate import generate as run

    settings = dict(family=family, noise=noise, rho=rho, samples_per_rho=samples_per_rho,
                    size=size, classes=classes, seed=seed, split=split,
                    params=parse_params(params, "--param"), frames=frames, test_seed=test_seed)
    if resume:
        # Only what the user typed is compared with the store; the rest comes from it.
        source = click.core.ParameterSource.COMMANDLINE
        settings = {k: v for k, v in settings.items()
                    if ctx.get_parameter_source(k) == source}
        if "params" in settings and not settings["params"]:
            settings.pop("params")
    bar = LazyBar(out, None if resume else
                   lambda: make_config(**settings).n_samples)
    try:
        store = run(out, workers=workers, threads=threads, dask=dask, overwrite=overwrite,
                    resume=resume, force=force, progress=bar.update, **settings)
    except KeyboardInterrupt:
        from ..store import is_store

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
    from ..info import format_summary, summarize
    from ..store import open_store, reading

    if not calibration and (targets is not None or rho is not None):
        raise click.UsageError("--targets and --rho go with --calibration")
    if calibration:
        from ..calibration import NUSCENES_FRONT, calibrate, format_calibration, load_targets

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
    from ..store import reading, verify_store

    with reading(store):
        report = verify_store(store)
    click.echo(report.message)
    sys.exit(0 if report.ok else 1)


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_models(as_json):
    """Families and noise models with their parameters, defaults and ranges."""
    from ..generators import NOISE_MODELS, SEQUENCE_PARAMS

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
    """Every registered estimator, resolved as ``--estimator NAME`` resolves it."""
    from ..registry import available

    out = {}
    for spec in map(resolve, available()):
        cls = spec.cls
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        out[spec.name] = {"doc": doc, "source": spec.source, "uses_prior": cls.uses_prior,
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
    from ..show import draw_samples
    from ..store import open_store, reading

    with reading(store):
        indices = draw_samples(open_store(store), count, out)
    click.echo(f"wrote {out} (samples {', '.join(map(str, indices))})")

