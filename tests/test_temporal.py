"""The temporal prior (issue 14, part 2): estimators that read the target's past frames,
the warps that align them, eval's past- controls and past= twins, the log-odds filter."""

import numpy as np
import pytest
from scipy import ndimage

import ogmbench
from ogmbench.api import Estimator, FitData, Split
from ogmbench.errors import ConfigError
from ogmbench.evaluate import apply_control, EvalConfig, run_eval
from ogmbench.generators import frame_transform, warp, warps_to_last
from ogmbench.runs import read_run
from ogmbench.specs import EstimatorSpec, default_estimators, resolve
from ogmbench.testing import check_estimator, tiny_data
from cli_helpers import call

torch = pytest.importorskip("torch")
from ogmbench.baselines.classical import BayesCell, LogOdds  # noqa: E402
from ogmbench.baselines.nets import ConcatBoth, ConcatTime, XAttnTime, warp_frames  # noqa: E402

URBAN_SEQ = dict(family="urban", rho=[0.0, 0.9], samples_per_rho=10, size=32, frames=3,
                 noise="gaussian:sigma=0.3", classes="vehicle,drivable",
                 params={"speed": 8.0, "yaw_rate": 20.0}, seed=5)


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("tseq") / "s.zarr", **URBAN_SEQ)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("tsingle") / "s.zarr", family="field",
                             rho=[0.5], samples_per_rho=8, size=16, seed=1)


# ------------------------------------------------------------------------ warps


def test_warps_to_last_are_frame_transforms_into_the_last_frame():
    poses = np.array([[16.0, 16.0, 0.0], [17.5, 19.0, 0.2], [18.0, 23.0, 0.5]])
    warps = warps_to_last(poses, (32, 32), 0.5)
    np.testing.assert_array_equal(warps[-1], np.eye(2, 3))
    for t in range(3):
        matrix, offset = frame_transform(poses[t], poses[-1], (32, 32), 0.5)
        np.testing.assert_array_equal(warps[t], np.column_stack([matrix, offset]))
    batch = warps_to_last(np.stack([poses, poses[::-1]]), (32, 32), 0.5)
    np.testing.assert_array_equal(batch[0], warps)


def test_a_stores_warps_come_from_its_poses(seq):
    index = seq.indices("test")
    expected = warps_to_last(seq.take("pose", index), (32, 32), seq.attrs["resolution"])
    np.testing.assert_array_equal(seq.warps(index), expected)
    # A moving, turning ego: the past frames' warps are not the identity.
    assert not np.allclose(seq.warps(index)[:, 0], np.eye(2, 3))


def test_warp_frames_matches_scipy_and_the_generators_nearest_warp():
    rng = np.random.default_rng(0)
    frames = rng.random((2, 2, 24, 20))
    poses = [np.array([[12.0, 10.0, 0.0], [14.0, 13.0, 0.0]]),  # whole cells, no turn
             np.array([[12.0, 10.0, 0.0], [13.3, 11.2, 0.4]])]  # a turn
    warps = np.stack([warps_to_last(p, (24, 20), 1.0) for p in poses])
    warped, valid = warp_frames(torch.from_numpy(frames).float(), torch.from_numpy(warps))
    warped, valid = warped.numpy(), valid.numpy().astype(bool)
    # Whole-cell shifts: bilinear samples are the cells themselves, as the nearest warp.
    exact, seen = warp(frames[0, 0], poses[0][0], poses[0][1], 1.0)
    np.testing.assert_array_equal(valid[0, 0], seen)
    np.testing.assert_allclose(warped[0, 0], exact, atol=1e-6)
    # A turn: scipy's bilinear affine_transform of the same matrix, where the frame saw.
    reference = ndimage.affine_transform(frames[1, 0], warps[1, 0, :, :2], warps[1, 0, :, 2],
                                         order=1, mode="nearest")
    seen = ndimage.affine_transform(np.ones((24, 20)), warps[1, 0, :, :2], warps[1, 0, :, 2],
                                    order=0, mode="grid-constant")
    np.testing.assert_array_equal(valid[1, 0], seen.astype(bool))
    np.testing.assert_allclose(warped[1, 0][valid[1, 0]], reference[valid[1, 0]], atol=1e-5)
    assert (warped[1, 0][~valid[1, 0]] == 0).all()
    # The last frame maps onto itself.
    np.testing.assert_allclose(warped[:, 1], frames[:, 1], atol=1e-6)


# ------------------------------------------------------------- the protocol, eval


class PastSpy(Estimator):
    """Records what it is given in fit and predict; estimates the noisy last frame."""

    name = "past-spy"
    uses_prior = True
    uses_past = True
    seen: dict = {}

    def fit(self, data, *, target, seed=0, device="cpu"):
        noisy, clean, _ = data.train.load()
        PastSpy.seen.update(train=noisy, train_clean=clean, train_warps=data.train.warps,
                            test=[], test_warps=[])
        return self

    def predict(self, noisy, target, warps):
        PastSpy.seen["test"].append(noisy.copy())
        PastSpy.seen["test_warps"].append(warps.copy())
        return np.clip(noisy[:, -1, target], 0, 1).astype(np.float32)


def spy_run(store, tmp_path, past="noisy", controls=()):
    name = "past-spy" if past == "noisy" else f"past-spy-past-{past}"
    spec = EstimatorSpec(text=f"past-spy:past={past}", name=name, cls=PastSpy, source="a test",
                         past=past)
    run_eval(store.path, [spec], EvalConfig(out=tmp_path / past, prior_controls=controls))
    n = store.indices("test").size
    # predict sees val first (the threshold), then the test split once per control.
    given = np.concatenate(PastSpy.seen["test"])
    warps = np.concatenate(PastSpy.seen["test_warps"])
    return given, warps, n


def test_an_estimator_that_reads_the_past_gets_sequences_and_their_warps(seq, tmp_path):
    given, warps, n = spy_run(seq, tmp_path)
    train = seq.indices("train")
    np.testing.assert_array_equal(PastSpy.seen["train"], seq.take("noisy", train))
    # Its clean maps are the last frame: the target is online filtering's.
    np.testing.assert_array_equal(PastSpy.seen["train_clean"], seq.take("clean", train)[:, -1])
    np.testing.assert_array_equal(PastSpy.seen["train_warps"], seq.warps(train))
    test = seq.indices("test")
    np.testing.assert_array_equal(given[-n:], seq.take("noisy", test))
    np.testing.assert_array_equal(warps[-n:], seq.warps(test))


def test_past_controls_replace_only_the_targets_past(seq, tmp_path):
    given, warps, n = spy_run(seq, tmp_path, controls=("past-zeros", "past-shuffled",
                                                       "past-oracle", "shuffled"))
    test = seq.indices("test")
    noisy, clean = seq.take("noisy", test), seq.take("clean", test)
    # Controls run in the order given after "none".
    none, zeros, shuffled, oracle, classes = (given[-5 * n:].reshape(5, n, *noisy.shape[1:]))
    np.testing.assert_array_equal(none, noisy)
    for replaced in (zeros, shuffled, oracle):
        # The last frame and the other classes stay the sample's own.
        np.testing.assert_array_equal(replaced[:, -1], noisy[:, -1])
        np.testing.assert_array_equal(replaced[:, :, 1], noisy[:, :, 1])
    assert (zeros[:, :-1, 0] == 0).all()
    np.testing.assert_array_equal(oracle[:, :-1, 0], clean[:, :-1, 0])
    # A shuffled past is another test sample's, whole, and comes with its motion.
    motions = warps[-5 * n:].reshape(5, n, *warps.shape[1:])
    for j in range(n):
        k = [i for i in range(n) if np.array_equal(shuffled[j, :-1, 0], noisy[i, :-1, 0])]
        assert len(k) == 1 and k[0] != j
        np.testing.assert_array_equal(motions[2, j], seq.warps(test[k]).squeeze(0))
    # The classes' control leaves the target's frames alone and moves the other class in
    # every frame.
    np.testing.assert_array_equal(classes[:, :, 0], noisy[:, :, 0])
    assert not np.array_equal(classes[:, :, 1], noisy[:, :, 1])


def test_a_past_twin_trains_and_is_scored_on_another_samples_past(seq, tmp_path):
    given, warps, n = spy_run(seq, tmp_path, past="shuffled")
    train = seq.indices("train")
    noisy = seq.take("noisy", train)
    seen = PastSpy.seen["train"]
    np.testing.assert_array_equal(seen[:, -1], noisy[:, -1])
    for j in range(len(train)):
        k = [i for i in range(len(train)) if np.array_equal(seen[j, :-1, 0], noisy[i, :-1, 0])]
        assert len(k) == 1 and k[0] != j
        np.testing.assert_array_equal(PastSpy.seen["train_warps"][j], seq.warps(train[k])[0])
    run = read_run(tmp_path / "shuffled")
    assert run.record("past-spy-past-shuffled").data["past_source"] == "shuffled"


def test_an_estimator_of_single_maps_is_scored_on_the_last_frame(seq, tmp_path):
    run_eval(seq.path, ["identity"], EvalConfig(out=tmp_path / "r"))
    rows = read_run(tmp_path / "r").samples("identity").to_pandas()
    test = seq.indices("test")
    last = np.clip(seq.take("noisy", test)[:, -1, 0], 0, 1)
    expected = ((last - seq.take("clean", test)[:, -1, 0]) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(rows.sort_values("sample")["mse"], expected, rtol=1e-5)


def test_apply_control_on_single_maps_is_unchanged():
    rng = np.random.default_rng(1)
    noisy, clean = rng.random((4, 3, 5, 5)), (rng.random((4, 3, 5, 5)) > 0.5).astype(np.uint8)
    zeroed = apply_control("zeros", noisy, [1, 2], None, clean)
    assert (zeroed[:, 1:] == 0).all() and np.array_equal(zeroed[:, 0], noisy[:, 0])
    oracle = apply_control("oracle", noisy, [1, 2], None, clean)
    np.testing.assert_array_equal(oracle[:, 1:], clean[:, 1:])


@pytest.mark.parametrize("argv, message", [
    (["--estimator", "log-odds"], "log-odds reads past frames, and"),
    (["--estimator", "concat", "--prior-control", "past-zeros"],
     "the past-zeros control replaces past frames, and"),
    (["--estimator", "concat:past=shuffled"], "concat does not read past frames"),
])
def test_the_past_on_single_maps_is_refused_in_one_line(single, tmp_path, argv, message):
    code, stdout, stderr = call(["eval", str(single.path), *argv, "--out", str(tmp_path / "r")])
    assert code == 2 and message in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_default_estimators_read_the_past_only_from_sequences():
    single, sequences = default_estimators(frames=1), default_estimators(frames=4)
    assert "log-odds" not in single and "concat-time" not in single and "concat" in single
    assert {"log-odds", "concat-time", "concat-both", "xattn-time"} <= set(sequences)


def test_past_twins_are_named_and_checked():
    spec = resolve("concat-both:past=zeros,prior=shuffled")
    assert spec.name == "concat-both-shuffled-past-zeros"
    assert spec.replaced == ["shuffled", "past-zeros"]
    with pytest.raises(ConfigError, match="past must be one of"):
        resolve("concat-time:past=other")


def test_a_split_of_sequences_is_checked():
    noisy = np.zeros((2, 3, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="need their warps"):
        Split(noisy, noisy.astype(np.uint8))
    with pytest.raises(ValueError, match="warps must have shape"):
        Split(noisy, noisy.astype(np.uint8), warps=np.zeros((2, 2, 2, 3)))


# --------------------------------------------------------------------- estimators


def test_log_odds_is_the_inverse_sensor_model_update():
    rng = np.random.default_rng(2)
    noisy = rng.random((3, 4, 2, 6, 6)).astype(np.float32)
    warps = np.broadcast_to(np.eye(2, 3), (3, 4, 2, 3)).copy()  # a still ego
    model = LogOdds(decay=0.5)
    # A known inverse sensor model: P(occupied) 0.2 below z = 0.5, 0.7 above; prior 0.1.
    model.edges_, model.table_, model.prior_ = [np.array([0.5])], np.array([0.2, 0.7]), 0.1
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    evidence = np.where(noisy[:, :, 0] >= 0.5, logit(0.7), logit(0.2)) - logit(0.1)
    fused = logit(0.1) + sum(0.5 ** (3 - t) * evidence[:, t] for t in range(4))
    np.testing.assert_allclose(model.predict(noisy, 0, warps), 1 / (1 + np.exp(-fused)),
                               rtol=1e-5)
    # decay 0 keeps the last frame alone: its inverse sensor model.
    model.decay = 0.0
    np.testing.assert_allclose(model.predict(noisy, 0, warps),
                               np.where(noisy[:, -1, 0] >= 0.5, 0.7, 0.2), rtol=1e-5)


def test_log_odds_without_the_past_is_bayes_cell_on_the_target_alone():
    data = tiny_data(frames=3, n=12, size=16)
    noisy, _, _ = data.val.load()
    fused = LogOdds(bins=8, decay=0.0).fit(data, target=0).predict(noisy, 0, data.val.warps)
    # bayes-cell given the target's last frame only (C = 1) calibrates it the same way.
    train_noisy, train_clean, train_rho = data.train.load()
    alone = Split(noisy=train_noisy[:, -1, :1], clean=train_clean[:, :1], rho=train_rho)
    single = FitData(train=alone, val=alone)
    cell = BayesCell(bins=8).fit(single, target=0).predict(noisy[:, -1, :1], 0)
    np.testing.assert_allclose(fused, cell, rtol=1e-5)


def test_log_odds_uses_the_past_that_the_warps_align(seq, tmp_path):
    # The static layout (drivable) seen by a moving ego: aligned past frames carry the
    # target's evidence, so the tuned filter fuses them and beats the last frame alone,
    # and a shuffled past does not help.
    run_eval(seq.path, ["log-odds", "identity"], EvalConfig(target=1, out=tmp_path / "r",
                                                            prior_controls=("past-shuffled",)))
    run = read_run(tmp_path / "r")
    rows = run.samples("log-odds").to_pandas()
    none = rows[rows.control == "none"]["mse"].mean()
    shuffled = rows[rows.control == "past-shuffled"]["mse"].mean()
    last_alone = run.samples("identity").to_pandas()["mse"].mean()
    assert run.record("log-odds").data["tuned"]["decay"] > 0
    assert none < last_alone and none < shuffled


@pytest.mark.parametrize("cls, params", [
    (LogOdds, {}),
    (ConcatTime, {"profile": "quick"}),
    (ConcatBoth, {"profile": "quick", "warp": False}),
    (XAttnTime, {"profile": "quick"}),
])
def test_the_temporal_estimators_pass_check_estimator(cls, params):
    assert check_estimator(cls, params=params)


def test_tiny_sequences_align_once_warped():
    data = tiny_data(frames=3, n=4, size=16)
    noisy, clean, _ = data.train.load()
    assert noisy.shape == (4, 3, 2, 16, 16) and clean.shape == (4, 2, 16, 16)
    # The drift is one cell a frame: warping the clean frame before (through the noisy
    # maps' warps) matches the last frame better than leaving it where it was.
    from ogmbench.generators import field_sequence  # the same draw, clean frames
    frames = field_sequence(np.random.default_rng(0), 0.8, 16, frames=3, length_scale=2.0,
                            dt=0.5, drift_x=2.0, tau=20.0)[0][:, 0].astype(float)
    warps = data.train.warps[0]
    aligned = ndimage.affine_transform(frames[1], warps[1, :, :2], warps[1, :, 2], order=0)
    inner = (slice(None), slice(2, -2))
    assert (np.abs(aligned - frames[2])[inner].mean()
            < np.abs(frames[1] - frames[2])[inner].mean())
