"""Conformance kits: what every estimator, family and noise model must satisfy.

Run the estimator checks on your estimator before submitting::

    from ogmbench.testing import check_estimator
    check_estimator(MyEstimator)    # EstimatorCheckError listing every broken rule, else True

or get one pytest test per rule::

    from ogmbench.testing import parametrize_with_checks

    @parametrize_with_checks([MyEstimator])
    def test_ogmbench(estimator, check):
        check(estimator)

Each rule is a function ``check_<rule>(estimator, params=None, *, target=0, seed=0)``
that raises :class:`EstimatorCheckError` naming the estimator and the rule; they are
listed, in order, in :data:`ALL_CHECKS`.  The checks raise explicitly rather than use
``assert``, so they keep failing under ``python -O``.

A family or a noise model added to :data:`ogmbench.generators.FAMILIES` or
:data:`ogmbench.generators.NOISE_MODELS` is checked by :func:`check_family` or
:func:`check_noise` (:class:`GeneratorCheckError` listing every broken rule, else True).

The package: ``_errors`` (the two errors), ``_data`` (:func:`tiny_data`), ``_fits`` (the
fitted models the estimator rules share), ``_rules`` (the fourteen estimator rules),
``_estimator`` (running them) and ``_generators`` (the family and noise-model kit).
"""

from ._data import tiny_data
from ._errors import EstimatorCheckError, GeneratorCheckError
from ._estimator import check_estimator, parametrize_with_checks
from ._generators import FAMILY_CHECKS, NOISE_CHECKS, check_family, check_noise
from ._rules import (ALL_CHECKS, check_batch_independence, check_declared_params,
                     check_fit_returns_self, check_get_params_reads_back,
                     check_is_estimator_subclass, check_one_class_stack,
                     check_param_grid_names_params, check_params_have_defaults,
                     check_predict_leaves_input_unchanged, check_predict_output,
                     check_same_seed_same_numbers, check_uses_past_is_bool,
                     check_uses_prior_is_bool, check_zeroed_prior)

__all__ = [
    "EstimatorCheckError", "ALL_CHECKS", "check_estimator", "parametrize_with_checks",
    "tiny_data",
    "check_is_estimator_subclass", "check_params_have_defaults", "check_param_grid_names_params",
    "check_declared_params",
    "check_uses_prior_is_bool", "check_uses_past_is_bool", "check_get_params_reads_back",
    "check_fit_returns_self",
    "check_predict_output", "check_predict_leaves_input_unchanged", "check_batch_independence",
    "check_same_seed_same_numbers", "check_zeroed_prior", "check_one_class_stack",
    "GeneratorCheckError", "FAMILY_CHECKS", "NOISE_CHECKS", "check_family", "check_noise",
]
