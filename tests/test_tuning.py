"""Tuning on val: the grid point with the lowest val MSE, checked against a direct loop."""

import numpy as np
import pytest
from ogmbench.baselines.classical import Gaussian

from ogmbench.api import FitData, Split
from ogmbench.tuning import tune


def test_tuning_picks_the_val_minimum(field_store):
    data = FitData(Split(store=field_store, indices=field_store.indices("train")),
                   Split(store=field_store, indices=field_store.indices("val")))
    model, chosen, table = tune(Gaussian, data, target=0, seed=0, device="cpu")
    noisy, clean, _ = data.val.load()
    direct = {s: np.mean((Gaussian(sigma=s).predict(noisy, 0) - clean[:, 0]) ** 2)
              for s in Gaussian.param_grid["sigma"]}
    assert chosen == {"sigma": min(direct, key=direct.get)}
    assert [row["val_mse"] for row in table] == pytest.approx(list(direct.values()))
    assert model.sigma == chosen["sigma"]
