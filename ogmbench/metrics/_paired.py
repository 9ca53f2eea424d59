"""Paired metrics: an estimator's metric against another estimator's on the same test
samples, paired sample by sample (and training seed by training seed).

Each names its base metric and what it compares: ``measured`` over ``against``, each
one of ``"estimator"`` (the row's own estimator), ``"reference"`` (the leaderboard's
reference estimator), ``"twin"`` (the row estimator's twin whose prior ``source`` was
replaced by ``twin``), ``"limit"`` or ``"limit_alone"`` (the Bayes-optimal estimates
with and without the prior classes, where they ran).  Which rows those are is the leaderboard's business; how the two
become a number and its interval is the metric's (:meth:`Paired.compare`).
"""

from __future__ import annotations

import numpy as np

from ._base import Metric
from ._stats import BOOTSTRAP, bootstrap, ratio_influence, two_way_interval

_ROLES = ("estimator", "reference", "twin", "limit", "limit_alone")


class Paired(Metric):
    """A paired metric: ``base`` of ``measured`` against ``base`` of ``against``.

    Attributes (besides :class:`~._base.Metric`'s)
    ----------
    base : Metric
        The metric compared.
    measured, against : {"estimator", "reference", "twin"}
    """

    paired = True
    base: Metric | None = None
    measured: str = "estimator"
    against: str = "reference"

    def __init__(self, **fields):
        super().__init__(**fields)
        if self.base is None or self.measured not in _ROLES or self.against not in _ROLES:
            raise ValueError(f"paired metric {self.key}: give its base metric, and what it "
                             f"measures against what among {', '.join(_ROLES)}")
        self.needs = self.base.needs

    @property
    def outputs(self) -> tuple[str, ...]:
        """The aggregate columns :meth:`compare` fills (each with ``_lo``/``_hi``)."""
        return (self.key,)

    def definition_against(self, reference: str) -> str:
        """The definition with the reference estimator named."""
        return self.definition.replace("the reference", reference)

    def compare(self, mine, ref, n: int, rng: np.random.Generator, resamples: int = BOOTSTRAP,
                seeds: int = 1) -> dict[str, tuple[float, float, float]]:
        """{output: (value, lo, hi)} of ``mine`` against ``ref``, the same ``n`` samples
        in the same order (``mine[column]``, ``ref[column]``: one entry per sample; with
        ``seeds`` > 1, per training seed and sample, seed-major, the same training seed
        on both sides: seeds and samples are resampled together)."""
        raise NotImplementedError


class Gain(Paired):
    """Improvement of a mean metric over the one compared against, in % of its value
    (a reduction for a metric where lower is better); also the plain mean difference
    ``d_<base>``, drawn first."""

    unit = "%"
    digits = 2
    higher_is_better = True
    # The plain difference's column (default ``d_<base>``).
    difference: str = ""

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.difference or f"d_{self.base.key}", self.key)

    def compare(self, mine, ref, n, rng, resamples=BOOTSTRAP, seeds=1):
        (column,) = self.base.needs
        diff = np.asarray(mine[column], np.float64) - np.asarray(ref[column], np.float64)
        scale = 100.0 if self.base.higher_is_better else -100.0
        # A ratio of paired means, linearised: closed-form over samples (and seeds).
        point, share = ratio_influence(scale * diff, np.asarray(ref[column]))
        return {self.outputs[0]: two_way_interval(float(diff.mean()),
                                                       diff.reshape(seeds, n)),
                self.key: two_way_interval(point, share.reshape(seeds, n))}


class Difference(Paired):
    """The base metric of the group minus that of the one compared against, each over
    the same resampled samples."""

    higher_is_better = True

    def compare(self, mine, ref, n, rng, resamples=BOOTSTRAP, seeds=1):
        own, theirs = self.base.linear(mine), self.base.linear(ref)
        if own is not None and theirs is not None:
            return {self.key: two_way_interval(own[0] - theirs[0],
                                               (own[1] - theirs[1]).reshape(seeds, n))}
        own, theirs = self.base.statistic(mine), self.base.statistic(ref)
        return {self.key: bootstrap(lambda index: own(index) - theirs(index), n, rng,
                                    resamples, seeds)}


class TwinGain(Paired):
    """A paired gain (``of``) between an estimator's twin and the estimator or the
    reference: what a prior source carries, or what a perfect one would add.

    Attributes (besides :class:`Paired`'s)
    ----------
    of : Gain
        The gain computed; its base is this metric's base.
    source, other : str
        The twin replaced ``source`` (a sample column, ``prior_source`` or
        ``past_source``) by ``twin`` and kept ``other`` noisy.
    twin : str
        The replacement: ``"shuffled"`` (the blind twin) or ``"oracle"``.
    stream : str
        Names the resampling of an estimator against its twin (default: the key without
        ``gain_``); the twin against the reference resamples as the twin's own row does,
        so the two are one number with one interval.
    """

    of: Gain | None = None
    source: str = ""
    other: str = ""
    twin: str = ""
    stream: str = ""
    unit = "%"
    digits = 2
    higher_is_better = True

    def __init__(self, **fields):
        fields.setdefault("base", fields["of"].base)
        super().__init__(**fields)
        if "twin" not in (self.measured, self.against):
            raise ValueError(f"paired metric {self.key}: a twin gain compares a twin")
        self.stream = self.stream or self.key.removeprefix("gain_")

    def compare(self, mine, ref, n, rng, resamples=BOOTSTRAP, seeds=1):
        return {self.key: self.of.compare(mine, ref, n, rng, resamples, seeds)[self.of.key]}


class Share(Paired):
    """An estimator's reduction of the base metric over the reference, in % of the
    reduction the Bayes-optimal estimate gets from the prior classes (its value without
    them minus its value with them): how much of what the prior can give at best an
    estimator takes.

    :meth:`compare_limits` computes it from four sides paired on the same test samples;
    the limits are not trained, so each training seed of the estimator and the reference
    meets the same limit values.  Undefined (NaN) where the attainable reduction is not
    resolved (its 95% interval holds 0).
    """

    unit = "%"
    digits = 1
    higher_is_better = True

    def compare(self, mine, ref, n, rng, resamples=BOOTSTRAP, seeds=1):
        raise TypeError(f"{self.key} compares four sides: use compare_limits")

    def compare_limits(self, mine, ref, limit, alone, n: int, seeds: int = 1):
        """{key: (value, lo, hi)}: ``mine`` and ``ref`` per training seed and sample
        (seed-major, as :meth:`Paired.compare`), ``limit`` and ``alone`` per sample."""
        (column,) = self.base.needs
        sign = 1.0 if self.base.higher_is_better else -1.0
        taken = sign * (np.asarray(mine[column], np.float64) - np.asarray(ref[column], np.float64))
        room = sign * (np.asarray(limit[column], np.float64) - np.asarray(alone[column], np.float64))
        attainable = two_way_interval(float(room.mean()), room.reshape(1, n))
        if not attainable[1] > 0:
            return {self.key: (float("nan"),) * 3}
        point, share = ratio_influence(100.0 * taken, np.tile(room, seeds))
        return {self.key: two_way_interval(point, share.reshape(seeds, n))}
