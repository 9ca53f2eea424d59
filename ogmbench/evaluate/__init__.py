"""``ogmbench eval``: tune and fit estimators on train/val, stream the test split, score.

The face of the evaluation room: :func:`run_eval` takes the store, the estimators and
one validated :class:`~ogmbench.eval_config.EvalConfig`.  Inside, ``_run`` opens the
store and the run directory and writes what the jobs return, ``_plan`` makes each
estimator's job and the key that decides whether a resumed run's results stand, and
``_units`` runs a job in a plugin's child process or as Dask units.  Scoring itself is
:mod:`ogmbench.scoring`'s; what is written where, :mod:`ogmbench.runs`'.
"""

from ..controls import apply_control
from ..eval_config import EvalConfig, EvalError, train_indices
from ._run import Outcome, run_device, run_eval

__all__ = ["EvalConfig", "EvalError", "Outcome", "run_eval", "run_device", "apply_control",
           "train_indices"]
