"""Option types and checks that several commands share: rho values, sizes, split
fractions, where heavy work runs, and the metric of a printed table."""

from __future__ import annotations

import click

from ..config import MAX_RHO_VALUES
from ..metrics import METRICS
from ..seeding import rho_id


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
    """``0.7,0.1,0.2``: the train, val and test fractions."""

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


def execution_options(command):
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


def check_metric(metric: str) -> None:
    """Refuse a ``--metric`` that is not a registered metric, as click refuses an option."""
    if metric in METRICS:
        return
    why = (" (the Brier score of a probability against a 0/1 map is its MSE: use mse)"
           if metric == "brier" else "")
    raise click.BadParameter(f"{metric!r} is not one of {', '.join(METRICS)}{why}",
                             param_hint="'--metric'")
