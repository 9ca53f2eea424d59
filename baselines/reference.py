"""The Bayes-optimal references: the posterior mean of the target under the true model.

They know what no submission knows, the store's generative model (handed to them as
``FitData.model`` because they declare ``knows_model``), and so give the least expected
squared error any estimator can reach on the store: ``bayes-optimal`` from every class's
noisy map, ``bayes-optimal-x1`` from the target's alone.  Their difference is what the
prior classes can give at best (the attainable gain).  ``bayes-optimal-unknown-rho`` is
``bayes-optimal`` not told each sample's rho: it infers it from the sample's maps.
"""

from __future__ import annotations

from ogmbench.api import Estimator

__all__ = ["BayesOptimal", "BayesOptimalX1", "BayesUnknownRho"]


class BayesOptimal(Estimator):
    """Posterior mean of the target given the noisy maps of every class (a reference).

    Computed from the store's true model (the family's posterior under the noise's
    per-cell likelihood), never learned: no training, nothing tuned.  It reads each
    sample's rho, as the leaderboard's per-rho columns assume (see
    :class:`BayesUnknownRho` for the estimate that is not told it).
    """

    uses_prior = True
    knows_model = True
    infers_rho = False

    def __init__(self):
        self.model_ = None

    def fit(self, data, *, target, seed=0, device="cpu"):
        if data.model is None:
            raise ValueError(f"{type(self).__name__} reads the true model, which this run "
                             "does not hand it")
        self.model_ = data.model
        return self

    def predict(self, noisy, target, rho=None):
        if self.model_ is None:
            raise RuntimeError("the Bayes-optimal reference must be fitted before predict")
        if rho is None or len(rho) != len(noisy):
            raise ValueError("the Bayes-optimal reference needs every sample's rho")
        # Without the prior the model reads the target's map alone.
        return self.model_.posterior(noisy, rho, target, prior=self.uses_prior,
                                     infer_rho=self.infers_rho)

    def describe(self):
        return {} if self.model_ is None else {
            "reference": "the true model's posterior mean", "family": self.model_.family,
            "noise": self.model_.noise}


class BayesOptimalX1(BayesOptimal):
    """Posterior mean of the target given its own noisy map only (a reference).

    The limit without the prior classes."""

    uses_prior = False


class BayesUnknownRho(BayesOptimal):
    """Posterior mean of the target given every class's noisy map, rho inferred (a reference).

    Each sample's rho is inferred from its own maps among the store's rho values (equally
    likely a priori): the least error an estimator that must read rho from the data can
    reach."""

    infers_rho = True
