"""Prior-source twins (issue 11): an estimator's X2 replaced at training and at test alike,
and the information gain and oracle ceiling the leaderboard derives from them."""

import numpy as np
import pytest

import ogmbench
from ogmbench.api import Estimator
from ogmbench.errors import ConfigError
from ogmbench.evaluate import EvalConfig, run_eval
from ogmbench.leaderboard import aggregate, load_runs
from ogmbench.seeding import rho_id
from ogmbench.specs import EstimatorSpec, resolve


class Spy(Estimator):
    """Records the X2 it is given in fit (train and val) and predict, in order."""

    name = "spy"
    uses_prior = True
    seen: dict = {}

    def fit(self, data, *, target, seed=0, device="cpu"):
        Spy.seen["train"] = np.concatenate([n[:, 1] for n, _, _ in data.train.iter_chunks()])
        Spy.seen["val"] = data.val.load()[0][:, 1].copy()
        Spy.seen["test"] = []
        return self

    def predict(self, noisy, target):
        Spy.seen["test"].append(noisy[:, 1].copy())
        return np.clip(noisy[:, target], 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("tw") / "s.zarr", family="field",
                             rho=[0.0, 0.9], samples_per_rho=10, size=8, seed=3)


def spy_run(store, tmp_path, prior):
    name = "spy" if prior == "noisy" else f"spy-{prior}"
    spec = EstimatorSpec(text=f"spy:prior={prior}", name=name, cls=Spy, source="a test",
                         prior=prior)
    run_eval(store.path, [spec], EvalConfig(out=tmp_path / prior))
    # predict also sees val (the threshold is chosen there): the test split comes last.
    test = np.concatenate(Spy.seen["test"])[-store.indices("test").size:]
    return {"train": Spy.seen["train"], "val": Spy.seen["val"], "test": test}


def own(store, split, array):
    return store.read(array, 0, len(store))[store.indices(split), 1].astype(np.float32)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_the_blind_twin_never_sees_its_own_x2_at_train_or_test(store, tmp_path, split):
    given = spy_run(store, tmp_path, "shuffled")[split]
    noisy = own(store, split, "noisy")
    assert len(given) == len(noisy) >= 2
    # Whose X2 each sample got: exactly one other sample of the same split each, and
    # every sample's X2 given once (a derangement, not a draw with replacement).
    partner = [next(j for j in range(len(noisy)) if np.array_equal(g, noisy[j])) for g in given]
    assert sorted(partner) == list(range(len(noisy)))
    assert all(p != i for i, p in enumerate(partner))


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_the_oracle_twin_sees_the_clean_x2_and_the_estimator_its_own(store, tmp_path, split):
    assert np.array_equal(spy_run(store, tmp_path, "oracle")[split], own(store, split, "clean"))
    assert np.array_equal(spy_run(store, tmp_path, "noisy")[split], own(store, split, "noisy"))
    assert not spy_run(store, tmp_path, "zeros")[split].any()


def test_a_twin_is_named_after_its_source_and_refused_where_x2_is_unused():
    assert resolve("concat:prior=shuffled").name == "concat-shuffled"
    assert resolve("concat:prior=oracle,width=8").params == {"width": 8}
    with pytest.raises(ConfigError, match="unet does not use the prior"):
        resolve("unet:prior=shuffled")
    with pytest.raises(ConfigError, match="prior must be one of noisy, shuffled, zeros, oracle"):
        resolve("concat:prior=clean")


def test_information_gain_and_oracle_ceiling_are_paired_gains_over_the_twins(store, tmp_path):
    # guided reads X2 (a guide image); its twins are the same filter with another X2.
    specs = ["identity", "guided", "guided:prior=shuffled", "guided:prior=oracle"]
    run_eval(store.path, specs, EvalConfig(out=tmp_path / "r"))
    rows = load_runs([tmp_path / "r"])
    agg = aggregate(rows, reference="identity")
    mse = rows[rows["control"] == "none"].pivot_table(index="sample", columns="estimator",
                                                      values="mse")
    mine = agg[(agg["estimator"] == "guided") & (agg["control"] == "none")]
    assert len(mine) == 3  # two rho values and "all"
    for row in mine.itertuples():
        samples = rows.loc[(rows["estimator"] == "guided")
                           & ((rho_id(rows["rho"]) == row.rho) if row.rho != "all" else True),
                           "sample"]
        m = mse.loc[sorted(samples.unique())]
        info = -100 * (m["guided"] - m["guided-shuffled"]).mean() / m["guided-shuffled"].mean()
        ceiling = -100 * (m["guided-oracle"] - m["identity"]).mean() / m["identity"].mean()
        assert row.gain_info == pytest.approx(info, rel=1e-9, abs=1e-12)
        assert row.gain_oracle == pytest.approx(ceiling, rel=1e-9, abs=1e-12)
        assert row.gain_info_lo <= row.gain_info <= row.gain_info_hi
    # The ceiling is the oracle twin's own gain_mse, interval included: one computation.
    oracle = agg[(agg["estimator"] == "guided-oracle") & (agg["control"] == "none")]
    for column in ("gain_oracle", "gain_oracle_lo", "gain_oracle_hi"):
        assert mine[column].tolist() == oracle[column.replace("oracle", "mse")].tolist()
    twins = agg[agg["estimator"].str.startswith("guided-")]
    assert twins["gain_info"].isna().all() and twins["gain_oracle"].isna().all()


# --------------------------------------------------------------------------- train sizes


def test_a_train_size_fits_on_the_first_samples_of_each_rho_and_scores_the_whole_test_split(
        store, tmp_path):
    spec = EstimatorSpec(text="spy", name="spy", cls=Spy, source="a test")
    run_eval(store.path, [spec], EvalConfig(out=tmp_path / "small", train_size=3))
    train = store.indices("train")
    rho = store.rho[:][train]
    first = np.sort(np.concatenate([train[rho == r][:3] for r in np.unique(rho)]))
    assert len(first) == 6
    assert np.array_equal(Spy.seen["train"], own(store, "train", "noisy")[np.isin(train, first)])
    assert np.array_equal(Spy.seen["val"], own(store, "val", "noisy"))
    test = np.concatenate(Spy.seen["test"])[-store.indices("test").size:]
    assert np.array_equal(test, own(store, "test", "noisy"))


def test_a_train_size_is_part_of_the_run_and_of_the_checkpoints(store, tmp_path):
    import json

    pytest.importorskip("torch")
    shared = tmp_path / "ckpt"
    for size, out in ((None, "full"), (3, "three"), (3, "again")):
        run_eval(store.path, ["unet"], EvalConfig(profile="quick", out=tmp_path / out,
                                                  checkpoints=shared, train_size=size))
    runs = {name: json.loads((tmp_path / name / "run.json").read_text())
            for name in ("full", "three", "again")}
    assert "train_size" not in runs["full"] and runs["three"]["train_size"] == 3
    trained = {name: run["estimators"]["unet"]["train_seeds"][0]["describe"]["checkpoint"]
               for name, run in runs.items()}
    assert trained["full"]["path"] != trained["three"]["path"]
    assert trained["three"]["trained"] and not trained["again"]["trained"]   # reused
    assert len(list(shared.glob("*.pt"))) == 2


@pytest.mark.parametrize("size", [0, 8, 2.5, True])
def test_a_train_size_outside_the_train_split_is_refused_in_one_line(store, tmp_path, size):
    from ogmbench.evaluate import EvalError

    # 10 samples per rho, 70% train: 7 per rho.
    with pytest.raises(EvalError, match=r"train size must be an integer in \[1, 7\]") as info:
        run_eval(store.path, ["identity"], EvalConfig(out=tmp_path / "r", train_size=size))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "r").exists()
