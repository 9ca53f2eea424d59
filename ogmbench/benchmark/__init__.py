"""Benchmark definitions: a TOML file of datasets, estimators and profiles, validated.

A benchmark file (``leaderboard/benchmark.toml`` is the reference one) has::

    [benchmark]   name, version, description
    [[dataset]]   name, family, noise, target, params, classes (a number, or names for
                  a family with named classes), size (instead of the profile's: a
                  dataset at its own scale), frames (sequences of that many frames;
                  params may then hold dt, noise_memory and the family's motion),
                  description   (one table per dataset)
    [eval]        estimators, prior_controls, reference, seed, timeout (seconds per
                  estimator; a hanging one fails instead of holding the run), scaling
                  (estimators trained again, with the reference, at each train size)
    [profile.X]   rho, samples_per_rho, size, split, seed, training, steps,
                  train_seeds, device, datasets, description, estimators (names of
                  [eval] estimators it runs; default all), train_sizes (train samples
                  per rho of the data-scaling sweep, below the split's), dask (where
                  ``reproduce`` runs without --dask or $DASK_SCHEDULER_ADDRESS, e.g.
                  "local"; not a result setting)
    [check]       rtol, atol   (tolerance of ``reproduce --check``; atol may be a table
                               of one value per metric, since metrics differ in units)

:func:`load_benchmark` reads one profile into a :class:`Benchmark` with every dataset's
generation settings resolved by :func:`ogmbench.config.make_config` and every estimator
resolved once (:class:`ogmbench.specs.EstimatorSpec`), so an impossible value is refused
before any work starts, with one line naming the file, the table and the key.

The file format is validated here only, a message per key: :mod:`._format` holds
its keys and the checks every table shares, :mod:`._load` reads the sections and the
profiles, :mod:`._datasets` the ``[[dataset]]`` tables; :mod:`._model` holds what they
resolve to.
"""

from ._load import load_benchmark, resolve_extra
from ._model import Benchmark, BenchmarkError, Dataset

__all__ = ["Benchmark", "Dataset", "BenchmarkError", "load_benchmark", "resolve_extra"]
