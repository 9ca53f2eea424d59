"""What a metric is (:class:`Metric`), the batch its per-sample ingredients are computed
from (:class:`Batch`), the registry of metrics (:class:`Registry`) and how a value is
written with its interval (:func:`format_value`).

A metric follows torchmetrics' ``_update``/``_compute`` pair: :meth:`Metric.update` turns
a batch into its per-sample columns (what a run directory stores), :meth:`Metric.value`
and :meth:`Metric.statistic` turn the rows of a group of samples into its value and into
the statistic the bootstrap resamples (:meth:`Metric.interval`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Callable, Iterator

import numpy as np

from ._stats import (BOOTSTRAP, bootstrap, check_batch, confusion_counts, squared_error,
                     two_way_interval)


def format_value(value, lo=None, hi=None, digits: int = 4) -> str:
    """``"0.0123 ± 0.0004"``: a value and the larger side of its interval.

    Percentile intervals need not be symmetric, so the larger distance from the value to
    a bound is shown.  A non-finite value is ``""``; a missing or non-finite bound drops
    the interval.
    """
    if value is None or not np.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        text += f" ± {max(hi - value, value - lo):.{digits}f}"
    return text


class Batch:
    """A batch of estimates, its clean targets and the threshold chosen on val.

    What every metric's :meth:`Metric.update` reads; a quantity several metrics share
    (the squared error, the counts at a threshold) is computed once.
    """

    def __init__(self, estimate, clean, threshold: float = 0.5):
        self.estimate, self.clean = check_batch(estimate, clean)
        self.threshold = threshold
        self._counts: dict[float, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.estimate)

    @cached_property
    def mse(self) -> np.ndarray:
        """Per-sample mean squared error, float64."""
        return squared_error(self.estimate, self.clean)

    def counts(self, threshold: float) -> dict[str, np.ndarray]:
        """Per-sample tp, fp, fn (int64) with occupied = estimate >= ``threshold``."""
        if threshold not in self._counts:
            self._counts[threshold] = confusion_counts(self.estimate, self.clean, threshold)
        return self._counts[threshold]


class Metric:
    """One reported metric: its names, direction, unit and digits, the per-sample columns
    it writes, and its aggregation over a group of samples.

    A subclass sets the attributes and, for a metric of its own samples, :meth:`update`,
    :meth:`value` and :meth:`statistic`.  A paired metric (``paired``: a difference
    against a reference estimator on the same samples) is a :class:`~._paired.Paired`.

    Attributes
    ----------
    key : str
        Column name in leaderboards and ``results.csv``.
    title : str
        Short name for table titles.
    label : str
        One-line description, with its direction where it is not obvious.
    definition : str
        What the number is, where the title does not say it (table notes).
    higher_is_better : bool
    unit : str
        ``""`` for plain numbers.
    digits : int
        Decimals shown.
    paired : bool
        A difference against a reference estimator on the same samples.
    axis : str
        The quantity on a figure's axis (default: the title).
    log_scale : bool
        Its figure draws it on a log axis (values spanning orders of magnitude).
    headline : bool
        The report shows it as a table and a curve against rho of its own.
    columns : tuple of str
        The per-sample columns :meth:`update` writes, in their order in a run directory.
    needs : tuple of str
        The per-sample columns its aggregation reads (default: ``columns``).
    """

    key: str = ""
    title: str = ""
    label: str = ""
    definition: str = ""
    higher_is_better: bool = False
    unit: str = ""
    digits: int = 4
    paired: bool = False
    axis: str = ""
    log_scale: bool = False
    headline: bool = False
    columns: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()

    def __init__(self, **fields):
        for name, value in fields.items():
            if not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)
        if not self.axis:
            self.axis = self.title
        if not self.needs:
            self.needs = self.columns

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key}>"

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def note(self) -> str:
        """Definition and direction, for a table's note."""
        return ", ".join(filter(None, (self.definition, self.direction)))

    def update(self, batch: Batch) -> dict[str, np.ndarray]:
        """Its per-sample columns of ``batch``: {column: array of shape (B, ...)}."""
        raise NotImplementedError(f"{self.key} has no per-sample columns")

    def value(self, rows) -> float:
        """Its value over a group of samples (``rows[column]``: one entry per sample)."""
        raise NotImplementedError(f"{self.key} is not aggregated from its own samples")

    def statistic(self, rows) -> Callable[[np.ndarray], np.ndarray]:
        """The statistic the bootstrap resamples: index rows (R, n) -> R values."""
        raise NotImplementedError(f"{self.key} is not aggregated from its own samples")

    def linear(self, rows) -> tuple[float, np.ndarray] | None:
        """Its value over ``rows`` and each row's first-order share of it (its influence),
        for its closed-form interval over test samples (and training seeds); None for a
        metric that cannot be linearised (it is then bootstrapped)."""
        return None

    def interval(self, rows, n: int, rng: np.random.Generator, resamples: int = BOOTSTRAP,
                 seeds: int = 1) -> tuple[float, float, float]:
        """Value and 95% interval over the ``n`` samples of ``rows`` (with ``seeds`` > 1,
        ``rows`` a seed-major table of seeds by samples): closed-form from
        :meth:`linear` (:func:`~._stats.two_way_interval`: over samples, and seeds when
        there are several), or for a metric without it a percentile bootstrap of
        ``resamples`` draws (two-way over seeds and samples)."""
        linear = self.linear(rows)
        if linear is not None:
            return two_way_interval(linear[0], linear[1].reshape(seeds, n))
        return bootstrap(self.statistic(rows), n, rng, resamples, seeds)


class Registry(Mapping):
    """The registered metrics by key, iterated in the order reports show them.

    Registration order is the order of the per-sample columns in a run directory and of
    the aggregation (which draws its resamples metric after metric): a new metric's
    columns come last, so the files of earlier runs keep theirs.  ``shown_before`` places
    a metric earlier in the shown order (tables, options, ``results.csv``).
    """

    def __init__(self):
        self._registered: list[Metric] = []
        self._shown: list[str] = []

    def register(self, metric: Metric, shown_before: str | None = None) -> Metric:
        """Add ``metric``; shown last, or just before the metric ``shown_before``."""
        if not metric.key or metric.key in self:
            raise ValueError(f"metric key {metric.key!r} is empty or registered already")
        taken = {c for m in self._registered for c in m.columns}.intersection(metric.columns)
        if taken:
            raise ValueError(f"metric {metric.key}: columns {sorted(taken)} are another's")
        self._registered.append(metric)
        where = len(self._shown) if shown_before is None else self._shown.index(shown_before)
        self._shown.insert(where, metric.key)
        return metric

    def unregister(self, key: str) -> None:
        """Take the metric ``key`` out of both orders (the end of :meth:`registered`)."""
        self._registered = [m for m in self._registered if m.key != key]
        self._shown.remove(key)

    @contextmanager
    def registered(self, *metrics: Metric) -> Iterator[Registry]:
        """Register ``metrics`` for the duration of a ``with`` block (tests, examples)."""
        done = []
        try:
            for metric in metrics:
                done.append(self.register(metric).key)
            yield self
        finally:
            for key in reversed(done):
                self.unregister(key)

    def __getitem__(self, key: str) -> Metric:
        for metric in self._registered:
            if metric.key == key:
                return metric
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._shown))

    def __len__(self) -> int:
        return len(self._shown)

    def sampled(self) -> list[Metric]:
        """The metrics of an estimator's own samples, in registration order."""
        return [m for m in self._registered if not m.paired]

    def compared(self) -> list[Metric]:
        """The paired metrics, in registration order."""
        return [m for m in self._registered if m.paired]

    def columns(self) -> tuple[str, ...]:
        """Every per-sample column, in a run directory's order."""
        return tuple(c for m in self._registered for c in m.columns)

    def sample_columns(self, estimate, clean_target, threshold: float) -> dict[str, np.ndarray]:
        """Every registered metric's per-sample columns of one batch (see
        :func:`ogmbench.metrics.sample_columns`)."""
        batch = Batch(estimate, clean_target, threshold)
        out: dict[str, np.ndarray] = {}
        for metric in self.sampled():
            values = metric.update(batch)
            if tuple(values) != metric.columns:
                raise ValueError(f"metric {metric.key} wrote {tuple(values)}, declares "
                                 f"{metric.columns}")
            out.update(values)
        return out
