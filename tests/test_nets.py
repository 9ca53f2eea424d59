"""The learned noise estimators: architecture, budgets, gradients, determinism, checkpoints."""

import hashlib
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ogmbench  # noqa: E402
from ogmbench.api import FitData, Split  # noqa: E402
from ogmbench.baselines.nets import Concat, FiLM, NoiseUNet, UNet, XAttn, count_parameters  # noqa: E402
from ogmbench.baselines.nets.training import dihedral as _dihedral  # noqa: E402
from ogmbench.testing import check_estimator, tiny_data  # noqa: E402

ALL = (UNet, Concat, FiLM, XAttn)
QUICK = {"profile": "quick"}


@pytest.mark.parametrize("fusion", ["none", "concat", "film", "xattn"])
def test_output_shape_for_any_size(fusion):
    model = NoiseUNet(prior_channels=2, fusion=fusion, width=8, depth=2)
    for h, w in ((16, 16), (23, 17)):
        out = model(torch.randn(3, 1, h, w), torch.randn(3, 2, h, w))
        assert out.shape == (3, 1, h, w)


def test_parameter_budgets_of_the_prior_variants_agree():
    for width, depth in ((16, 3), (32, 4), (8, 2)):
        counts = {f: count_parameters(NoiseUNet(1, f, width, depth)) for f in ("concat", "film", "xattn")}
        low, high = min(counts.values()), max(counts.values())
        assert high <= 1.1 * low, counts
        assert count_parameters(NoiseUNet(1, "none", width, depth)) < low


@pytest.mark.parametrize("fusion", ["concat", "film", "xattn"])
def test_gradients_reach_the_prior_branch(fusion):
    torch.manual_seed(0)
    model = NoiseUNet(prior_channels=1, fusion=fusion, width=8, depth=2)
    loss = model(torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)).pow(2).mean()
    loss.backward()
    grads = [p.grad.abs().sum().item() for p in model.prior_encoder.parameters()]
    assert all(g > 0 for g in grads[:2]) and sum(grads) > 0


@pytest.mark.parametrize("fusion", ["concat", "film", "xattn"])
def test_the_prior_changes_the_output(fusion):
    torch.manual_seed(0)
    model = NoiseUNet(prior_channels=1, fusion=fusion, width=8, depth=2).eval()
    x = torch.randn(1, 1, 16, 16)
    a, b = model(x, torch.randn(1, 1, 16, 16)), model(x, torch.randn(1, 1, 16, 16))
    assert not torch.equal(a, b)
    unet = NoiseUNet(prior_channels=1, fusion="none", width=8, depth=2).eval()
    assert torch.equal(unet(x, torch.randn(1, 1, 16, 16)), unet(x, torch.randn(1, 1, 16, 16)))


def test_xattn_uses_sdpa_not_a_hand_written_matrix(monkeypatch):
    calls = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    NoiseUNet(1, "xattn", width=8, depth=2, heads=4, attn_levels=2)(torch.randn(1, 1, 16, 16),
                                                                     torch.randn(1, 1, 16, 16))
    # Bottleneck (4x4 = 16 tokens) and one level up (8x8 = 64 tokens), 4 heads each.
    assert sorted(calls) == [(1, 4, 16, 8), (1, 4, 64, 4)]


def test_dihedral_augmentation_matches_numpy():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    for code in range(8):
        out = _dihedral(x, torch.full((2,), code))
        expected = np.rot90(x.numpy(), code % 4, axes=(-2, -1))
        if code >= 4:
            expected = np.flip(expected, axis=-1)
        np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("cls", ALL)
def test_check_estimator_quick_profile(cls):
    assert check_estimator(cls, params=QUICK)


def test_training_is_bitwise_reproducible_and_keeps_the_best_val_checkpoint():
    data = tiny_data()
    a = FiLM(**QUICK).fit(data, target=0, seed=5)
    b = FiLM(**QUICK).fit(data, target=0, seed=5)
    for (name, pa), (_, pb) in zip(a.model_.state_dict().items(), b.model_.state_dict().items()):
        assert torch.equal(pa, pb), name
    c = FiLM(**QUICK).fit(data, target=0, seed=6)
    assert not torch.equal(a.model_.head.weight, c.model_.head.weight)
    best = min(a.history_, key=lambda h: h["val_mse"])
    noisy, clean, _ = data.val.load()
    assert np.mean((a.predict(noisy, 0) - clean[:, 0]) ** 2) == pytest.approx(best["val_mse"])


def test_checkpoint_round_trip_and_reuse(tmp_path):
    base = tiny_data()
    data = FitData(base.train, base.val, cache_dir=tmp_path, cache_key="store-x:0")
    first = XAttn(**QUICK).fit(data, target=0, seed=1)
    files = list(tmp_path.glob("xattn-*.pt"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    second = XAttn(**QUICK).fit(data, target=0, seed=1)  # loads, does not retrain
    assert files[0].stat().st_mtime_ns == stamp
    noisy = base.val.load()[0]
    np.testing.assert_array_equal(first.predict(noisy, 0), second.predict(noisy, 0))
    # The file: a header with the payload's sha256, then what torch.save wrote.
    from ogmbench.baselines.nets.checkpoints import MAGIC

    raw = files[0].read_bytes()
    digest, _, payload = raw[len(MAGIC):].partition(b"\n")
    assert raw.startswith(MAGIC) and hashlib.sha256(payload).hexdigest().encode() == digest
    state = torch.load(io.BytesIO(payload), weights_only=True)
    assert set(state) == {"state_dict", "history", "config", "key"}
    XAttn(**QUICK).fit(FitData(base.train, base.val, cache_dir=tmp_path, cache_key="other:0"),
                       target=0, seed=1)
    assert len(list(tmp_path.glob("xattn-*.pt"))) == 2  # other data: a new checkpoint


def test_end_to_end_train_and_eval(tmp_path):
    from ogmbench.evaluate import EvalConfig, run_eval

    store = ogmbench.generate(tmp_path / "s.zarr", family="field", noise="gaussian:sigma=1.0/0.3",
                              rho=[0.0, 0.9], samples_per_rho=20, size=16)
    run_dir, outcomes = run_eval(store.path, ["identity", "unet", "concat"], EvalConfig(out=tmp_path / "run",
                                                                                        profile="quick",
                                                                                        prior_controls=["shuffled"]))
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    record = outcomes[2].record
    assert record["fixed_params"] == {"profile": "quick"} and record["describe"]["parameters"] > 0
    assert len(list((run_dir / "checkpoints").glob("*.pt"))) == 2
    # A second eval sharing the checkpoint folder reuses them (no retraining)...
    stamps = {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").glob("*.pt")}
    _, again = run_eval(store.path, ["unet"], EvalConfig(out=tmp_path / "run2", profile="quick",
                                                         checkpoints=run_dir / "checkpoints"))
    assert again[0].status == "ok"
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").glob("*.pt")} == stamps
    # ... and so does --resume with another prior control (concat is re-evaluated).
    _, resumed = run_eval(store.path, ["identity", "unet", "concat"], EvalConfig(out=run_dir,
                                                                                 profile="quick",
                                                                                 prior_controls=["zeros"],
                                                                                 resume=True))
    assert [o.status for o in resumed] == ["skipped", "skipped", "ok"]
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").glob("*.pt")} == stamps


def test_unknown_profile_and_parameter_are_clear_errors(tmp_path):
    from ogmbench.evaluate import EvalError, EvalConfig, run_eval

    store = ogmbench.generate(tmp_path / "s.zarr", noise="flip", rho=[0.5], samples_per_rho=10,
                              size=16)
    with pytest.raises(EvalError, match="has no parameter 'depht'"):
        run_eval(store.path, ["unet:depht=2"], EvalConfig(out=tmp_path / "r"))
    for spec, message in (("unet:profile=huge", "profile must be one of"),
                          ("unet:width=12", "width must be a multiple of 8"),
                          ("unet:steps=0", r"steps must be in \[1, 10000000\], got 0"),
                          ("xattn:heads=5", "heads must divide")):
        with pytest.raises(EvalError, match=message):
            run_eval(store.path, [spec], EvalConfig(out=tmp_path / "r2"))


def test_diverged_training_is_a_clear_failure():
    base = tiny_data()
    noisy, clean, rho = base.train.load()
    poisoned = noisy.copy()
    poisoned[0, 0, 0, 0] = np.inf  # one bad cell turns the weights into NaN
    data = FitData(Split(poisoned, clean, rho), base.val)
    with pytest.raises(ValueError, match="training diverged"):
        UNet(profile="quick", batch_size=len(poisoned)).fit(data, target=0)


def test_non_square_maps_train(tmp_path):
    from ogmbench.evaluate import EvalConfig, run_eval

    store = ogmbench.generate(tmp_path / "ns.zarr", noise="gaussian:sigma=0.5", rho=[0.5],
                              samples_per_rho=12, size=(16, 24))
    _, outcomes = run_eval(store.path, ["unet", "film"], EvalConfig(out=tmp_path / "r",
                                                                    profile="quick"))
    assert [o.status for o in outcomes] == ["ok", "ok"]


def test_train_seeds_give_an_interval_across_seeds(tmp_path):
    from scipy import stats

    from ogmbench import leaderboard
    from ogmbench.evaluate import EvalConfig, run_eval

    store = ogmbench.generate(tmp_path / "s.zarr", family="field", noise="gaussian:sigma=1.0/0.3",
                              rho=[0.9], samples_per_rho=20, size=16)
    run_dir, outcomes = run_eval(store.path, ["identity", "unet"], EvalConfig(out=tmp_path / "run",
                                                                              profile="quick",
                                                                              train_seeds=3))
    record = outcomes[1].record
    assert len({s["seed"] for s in record["train_seeds"]}) == 3
    assert len(outcomes[0].record["train_seeds"]) == 1  # deterministic: trained once
    rows = leaderboard.load_runs([run_dir])
    agg = leaderboard.aggregate(rows)
    got = agg[(agg.estimator == "unet") & (agg.rho == "all")].iloc[0]
    unet = rows[rows.estimator == "unet"].pivot(index="train_seed", columns="sample",
                                                 values="mse")
    assert got["seeds"] == 3 and got["n"] == 4
    assert got["mse"] == pytest.approx(unet.to_numpy().mean())
    # Seeds and samples crossed: the seed means' variance over 3 plus the sample means'
    # over 4, each with its own t quantile.
    by_seed = unet.mean(axis=1).var(ddof=1) / 3
    by_sample = unet.mean(axis=0).var(ddof=1) / 4
    half = np.sqrt(stats.t.ppf(0.975, 2) ** 2 * by_seed + stats.t.ppf(0.975, 3) ** 2 * by_sample)
    assert got["mse_hi"] - got["mse"] == pytest.approx(half)
    # unet is the reference: identity (deterministic, one run) is paired with each of its
    # seeds on the same samples.
    ident = rows[rows.estimator == "identity"].set_index("sample")["mse"]
    paired = agg[(agg.estimator == "identity") & (agg.rho == "all")].iloc[0]
    assert paired["reference"] == "unet"
    assert paired["d_mse"] == pytest.approx((ident[unet.columns].to_numpy() - unet.to_numpy()).mean())


def test_device_auto_sees_cuda_once_torch_estimators_are_loaded(monkeypatch):
    from ogmbench import registry
    from ogmbench.api import resolve_device

    registry.load("unet")  # imports torch, as run_eval does before resolving the device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
