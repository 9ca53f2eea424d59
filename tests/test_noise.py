"""Noise models: shapes, ranges, determinism, and statistics against closed forms."""

import numpy as np
import pytest

from ogmbench.errors import ConfigError
from ogmbench.generators import NOISE_MODELS, ParamError, apply_noise, field, urban
from ogmbench.specs import parse_noise_spec


def resolve(spec, classes=2, defaults=None):
    return [(name, NOISE_MODELS[name].resolve(params, classes, (defaults or {}).get(name)))
            for name, params in parse_noise_spec(spec)]


@pytest.fixture(scope="module")
def clean():
    return field(np.random.default_rng(0), 0.5, (48, 40), length_scale=2.0)


@pytest.mark.parametrize("spec", ["gaussian", "flip", "clutter", "lidar", "confusion",
                                  "lidar+confusion:p=0.2", "gaussian:sigma=1/0.3,kappa=0.5",
                                  "camera", "gaussian:sigma=0.2+camera+flip:fp=0.01"])
def test_shape_dtype_determinism(clean, spec):
    steps = resolve(spec)
    a = apply_noise(np.random.default_rng(1), clean, steps)
    b = apply_noise(np.random.default_rng(1), clean, steps)
    assert a.dtype == np.float32 and a.shape == clean.shape
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, apply_noise(np.random.default_rng(2), clean, steps))
    if not spec.startswith("gaussian"):
        assert a.min() >= 0 and a.max() <= 1


def test_gaussian_moments_per_class_and_kappa():
    clean = np.zeros((2, 200, 200), np.uint8)
    x = apply_noise(np.random.default_rng(0), clean, resolve("gaussian:sigma=1.0/0.3,kappa=0.6"))
    assert x[0].std() == pytest.approx(1.0, rel=0.02)
    assert x[1].std() == pytest.approx(0.3, rel=0.02)
    assert np.corrcoef(x[0].ravel(), x[1].ravel())[0, 1] == pytest.approx(0.6, abs=0.02)
    assert x.min() < 0 < 1 < x.max()  # not clipped, as documented


def test_flip_rates():
    rng = np.random.default_rng(0)
    clean = (rng.random((2, 300, 300)) < 0.5).astype(np.uint8)
    x = apply_noise(np.random.default_rng(1), clean, resolve("flip:fp=0.05/0.2,fn=0.1"))
    assert set(np.unique(x)) <= {0.0, 1.0}
    for k, fp in enumerate((0.05, 0.2)):
        assert x[k][clean[k] == 0].mean() == pytest.approx(fp, abs=0.005)
        assert 1 - x[k][clean[k] == 1].mean() == pytest.approx(0.1, abs=0.005)


def test_clutter_rates_and_blobs():
    clean = np.zeros((2, 256, 256), np.uint8)
    clean[:, :, 128:] = 1
    x = apply_noise(np.random.default_rng(0), clean,
                    resolve("clutter:rate=0.05,dropout=0.1,size=3"))
    # Blobs hit empty cells at `rate`; dropouts hit occupied cells at `dropout` (minus
    # the cells that a blob re-occupies).
    assert x[:, :, :128].mean() == pytest.approx(0.05, abs=0.015)
    assert 1 - x[:, :, 128:].mean() == pytest.approx(0.1 * 0.95, abs=0.03)
    # Spatially correlated: a blob cell's right neighbour is far more often a blob.
    blob = x[0, :, :127] == 1
    assert blob[:, 1:][blob[:, :-1]].mean() > 0.7


def test_clutter_kappa_correlates_classes_not_blobs_and_dropouts():
    clean = np.zeros((2, 256, 256), np.uint8)
    steps = resolve("clutter:rate=0.1,dropout=0,size=2,kappa=0.9")
    x = apply_noise(np.random.default_rng(0), clean, steps)
    assert np.corrcoef(x[0].ravel(), x[1].ravel())[0, 1] > 0.5
    steps = resolve("clutter:rate=0.1,dropout=0,size=2,kappa=0")
    x = apply_noise(np.random.default_rng(0), clean, steps)
    assert abs(np.corrcoef(x[0].ravel(), x[1].ravel())[0, 1]) < 0.05


def test_confusion_moves_evidence_between_classes():
    clean = np.zeros((2, 200, 200), np.uint8)
    clean[0, :100] = 1  # class 0 occupies the top half, class 1 is empty
    x = apply_noise(np.random.default_rng(0), clean, resolve("confusion:p=0.25/0"))
    moved = x[0, :100] == 0
    assert moved.mean() == pytest.approx(0.25, abs=0.01)
    np.testing.assert_array_equal(x[1, :100] == 1, moved)
    assert x[1, 100:].max() == 0 and x[0, 100:].max() == 0


def test_lidar_occlusion_unobserved_behind_obstacles():
    clean = np.zeros((1, 64, 64), np.uint8)
    clean[0, 20:44, 40:44] = 1  # a wall right of the ego (centre)
    x = apply_noise(np.random.default_rng(0), clean,
                    resolve("lidar:jitter=0,range_noise=0,p_false=0,p_near=1,p_far=1", classes=1))
    assert np.all(x[0, 26:38, 48:] == 0.5)  # shadow behind the wall: never observed
    assert x[0, 26:38, 40].mean() > 0.9  # the wall face: occupied
    assert x[0, 28:36, 34:38].max() < 0.1  # between ego and wall: free
    assert np.all(x[0, 24:40, 8:28] < 0.5)  # open space to the left: free


def test_lidar_ground_class_does_not_block():
    clean = urban(np.random.default_rng(3), 0.0, 96)
    blocked = apply_noise(np.random.default_rng(0), clean, resolve("lidar:ground=0/0"))
    ground = apply_noise(np.random.default_rng(0), clean, resolve("lidar:ground=0/1"))
    assert (ground[0] == 0.5).mean() < (blocked[0] == 0.5).mean()
    # The drivable class is seen as occupied where it is and observed.
    seen = ground[1] != 0.5
    assert (ground[1][seen & (clean[1] == 1)] > 0.5).mean() > 0.8
    assert (ground[1][seen & (clean[1] == 0)] < 0.5).mean() > 0.8


def test_lidar_more_scans_fuse_to_more_confident_maps():
    clean = urban(np.random.default_rng(4), 0.5, 64)
    err = []
    for scans in (1, 8):
        x = apply_noise(np.random.default_rng(0), clean,
                        resolve(f"lidar:scans={scans},ground=0/1,p_near=0.8,p_far=0.6"))
        seen = x != 0.5
        err.append(np.mean((x[seen] - clean[seen]) ** 2))
    assert err[1] < err[0]


def _radial_profile(r, spec, size=161):
    """A one-cell object at range ``r`` right of the ego, seen by ``camera``: the map's
    row through both (everything else is visible free space, so reads 0)."""
    clean = np.zeros((1, size, size), np.uint8)
    centre = size // 2
    clean[0, centre, centre + r] = 1
    x = apply_noise(np.random.default_rng(0), clean, resolve(spec, classes=1))
    return x[0, centre, centre + 1:], np.arange(1, size - centre)


@pytest.mark.parametrize("depth_noise", [0.05, 0.1, 0.2])
def test_camera_smears_along_the_ray_in_proportion_to_range(depth_noise):
    spec = f"camera:depth_noise={depth_noise},depth_error=0,angular_blur=0,ground=1"
    spreads = []
    for r in (20, 60):
        profile, position = _radial_profile(r, spec, size=241)
        # Near max_range the unobserved beyond bleeds in (0.5 * unseen): not this object.
        near = (position > r / 2) & (position < 1.5 * r)
        profile, position = profile[near], position[near]
        mean = (profile * position).sum() / profile.sum()
        spread = np.sqrt((profile * (position - mean) ** 2).sum() / profile.sum())
        # A Gaussian of std s = log1p(d) in log range, read along the row (weights
        # g(ln x) dx): mean r exp(1.5 s^2), std r exp(1.5 s^2) sqrt(exp(s^2) - 1).
        s2 = np.log1p(depth_noise) ** 2
        assert mean == pytest.approx(r * np.exp(1.5 * s2), rel=0.03)
        assert spread == pytest.approx(r * np.exp(1.5 * s2) * np.sqrt(np.expm1(s2)),
                                       rel=0.1, abs=0.3)
        spreads.append(spread)
    assert spreads[1] > 2.5 * spreads[0]


def test_camera_depth_error_moves_objects_along_the_ray_by_the_seed():
    spec = "camera:depth_noise=0,depth_error=0.2,angular_blur=0,ground=1"
    shifts = []
    for seed in range(12):
        clean = np.zeros((1, 161, 161), np.uint8)
        clean[0, 80, 140] = 1
        x = apply_noise(np.random.default_rng(seed), clean, resolve(spec, classes=1))
        row = x[0, 80, 81:]
        shifts.append((row * np.arange(1, 81)).sum() / row.sum() - 60)
    shifts = np.array(shifts)
    # A relative depth error of std 0.2 at range 60: shifts of about 12 cells either way.
    assert np.abs(shifts).max() > 4 and (shifts > 0).any() and (shifts < 0).any()
    assert 4 < shifts.std() < 24


def test_camera_field_of_view_range_and_occlusion():
    clean = np.zeros((1, 101, 101), np.uint8)
    x = apply_noise(np.random.default_rng(0), clean,
                    resolve("camera:cameras=1,fov=90,max_range=30,angular_blur=0", classes=1))
    assert x[0, 50, 70] < 0.05  # ahead (+x), in range: seen free
    assert x[0, 50, 10] == 0.5 and x[0, 10, 50] == 0.5  # behind and beside: unseen
    assert x[0, 50, 95] == 0.5  # ahead, out of range
    clean[0, 30:71, 70] = 1  # a wall right of the ego
    spec = "camera:opacity=1,depth_noise=0,depth_error=0,angular_blur=0"
    x = apply_noise(np.random.default_rng(0), clean, resolve(f"{spec},ground=0", classes=1))
    assert x[0, 45:56, 60].max() == 0.0  # between ego and wall: free
    assert x[0, 45:56, 70].min() == 1.0  # the wall's face
    assert np.all(x[0, 45:56, 75:] == 0.5)  # its shadow: unobserved
    x = apply_noise(np.random.default_rng(0), clean, resolve(f"{spec},ground=1", classes=1))
    assert np.all(x[0, 45:56, 75:] == 0.0)  # a ground class blocks nothing


def test_camera_sees_a_small_far_object_at_any_angle_and_caps_its_range():
    size = 256
    spec = resolve("camera:depth_noise=0,depth_error=0,angular_blur=0", classes=1)
    for angle in np.linspace(0, np.pi / 2, 12):
        clean = np.zeros((1, size, size), np.uint8)
        y = int(size / 2 + 0.45 * size * np.sin(angle))
        x = int(size / 2 + 0.45 * size * np.cos(angle))
        clean[0, y, x] = 1
        x_noisy = apply_noise(np.random.default_rng(0), clean, spec)
        assert x_noisy[0, y, x] > 0.5, angle  # no cell falls between two rays
    # A range far beyond the map costs what the map's farthest corner does.
    tiny = np.zeros((1, 8, 8), np.uint8)
    out = apply_noise(np.random.default_rng(0), tiny, resolve("camera:max_range=100000",
                                                              classes=1))
    assert out.shape == (1, 8, 8) and np.isfinite(out).all()


def test_camera_on_urban_blocks_with_vehicles_only():
    clean = urban(np.random.default_rng(3), 0.0, 96)
    blocked = apply_noise(np.random.default_rng(0), clean, resolve("camera:ground=0/0"))
    ground = apply_noise(np.random.default_rng(0), clean, resolve("camera:ground=0/1"))
    assert (ground[1] == 0.5).mean() < (blocked[1] == 0.5).mean()
    seen = np.abs(ground[1] - 0.5) > 0.25
    assert (ground[1][seen & (clean[1] == 1)] > 0.5).mean() > 0.9
    assert (ground[1][seen & (clean[1] == 0)] < 0.5).mean() > 0.9


@pytest.mark.parametrize("spec, message", [
    ("", "empty"),
    ("gauss", "unknown noise model 'gauss'"),
    ("gaussian:sigma", "expected key=value"),
    ("gaussian:sigma=0.1,sigma=0.2", "given twice"),
    ("gaussian:tau=1", "unknown parameter 'tau'"),
    ("gaussian:sigma=0", r"sigma must be in \(0, inf\)"),
    ("gaussian:sigma=x", "must be a number"),
    ("flip:fp=1.5", r"fp must be in \[0, 1\]"),
    ("gaussian:sigma=1/2/3", "3 per-class values but there are 2 classes"),
    ("gaussian:kappa=0.1/0.2", "one value for all classes"),
    ("lidar:scans=2.5", "must be an integer"),
])
def test_bad_specs(spec, message):
    # Spec syntax is the core's (ConfigError); parameter values are the generators' own.
    with pytest.raises((ConfigError, ParamError), match=message):
        resolve(spec)


def test_memory_over_frames_is_what_a_model_declares(monkeypatch):
    # Noise persists from frame to frame for a model with a memory_step, whatever its
    # name, and not for one without.
    from dataclasses import replace

    from ogmbench.generators import apply_noise_sequence

    clean = np.zeros((4, 2, 16, 16), np.uint8)
    params = NOISE_MODELS["gaussian"].resolve({}, 2)
    monkeypatch.setitem(NOISE_MODELS, "twin", replace(NOISE_MODELS["gaussian"], name="twin"))
    monkeypatch.setitem(NOISE_MODELS, "forgetful", replace(NOISE_MODELS["gaussian"],
                                                            name="forgetful", memory_step=None))

    def run(name, memory):
        return apply_noise_sequence(np.random.default_rng(5), clean, [(name, params)], memory)

    np.testing.assert_array_equal(run("twin", 0.9), run("gaussian", 0.9))
    np.testing.assert_array_equal(run("forgetful", 0.9), run("gaussian", 0.0))
    assert not np.array_equal(run("gaussian", 0.9), run("gaussian", 0.0))
