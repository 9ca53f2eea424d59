"""Sequences: frames of one scene from a moving ego (generators.motion, field_sequence,
urban_sequence, apply_noise_sequence) and stores of them."""

import json

import numpy as np
import pytest
import xarray as xr
import zarr
from scipy import ndimage

import ogmbench
from ogmbench.config import make_config
from ogmbench.errors import ConfigError
from ogmbench.generate import make_sample
from ogmbench.generators import (
    apply_noise, apply_noise_sequence, class_correlation, ego_poses, field, field_expected_phi,
    field_expected_temporal_phi, field_sequence, frame_transform, temporal_phi, urban,
    urban_sequence, warp,
)
from ogmbench.info import summarize
from ogmbench.store import open_store, verify_store
from cli_helpers import call

URBAN = ("vehicle", "drivable", "walkway", "ped_crossing", "pedestrian")


# ----------------------------------------------------------------------- frames 1


# Digests of stores written by the commit before sequences existed (9a5a6b5), with the
# numpy and scipy it ran: --frames 1 (the default) must keep them byte for byte.
BEFORE_SEQUENCES = {
    "field": (dict(family="field", rho=[0.0, 0.9], samples_per_rho=6, size=32),
              "8ff2c3331997"),
    "urban": (dict(family="urban", rho=[0.0, 0.9], samples_per_rho=4, size=64,
                   noise="camera+gaussian:sigma=0.1", classes="vehicle,drivable,pedestrian"),
              "555df7b5a6cc"),
}


@pytest.mark.parametrize("case", sorted(BEFORE_SEQUENCES))
def test_one_frame_stores_are_the_stores_before_sequences(tmp_path, case):
    if (np.__version__, __import__("scipy").__version__) != ("2.4.6", "1.17.1"):
        pytest.skip("the recorded digests are those of numpy 2.4.6 and scipy 1.17.1")
    settings, digest = BEFORE_SEQUENCES[case]
    store = ogmbench.generate(tmp_path / "s.zarr", frames=1, **settings)
    assert store.attrs["digest"][:12] == digest
    assert "frames" not in store.attrs and "frames" not in store.attrs["config"]


def test_frame_zero_is_the_single_map():
    for rho in (0.0, 0.9):
        single = field(np.random.default_rng(3), rho, 32)
        frames, poses = field_sequence(np.random.default_rng(3), rho, 32, frames=3)
        np.testing.assert_array_equal(frames[0], single)
    clean = urban(np.random.default_rng(0), 0.5, 48)
    noisy = apply_noise(np.random.default_rng(1), clean, make_config(family="urban").noise_steps)
    seq = apply_noise_sequence(np.random.default_rng(1), np.stack([clean, clean]),
                               make_config(family="urban").noise_steps)
    np.testing.assert_array_equal(seq[0], noisy)


# -------------------------------------------------------------------- motion


def test_a_translation_moves_the_map_by_whole_cells():
    maps = np.zeros((1, 16, 16), np.uint8)
    maps[0, 5, 9] = 1
    # The ego moves 3 cells (1.5 m at 0.5 m) along +x and 2 down the rows: the world
    # moves the other way in its grid.
    warped, valid = warp(maps, (4.0, 4.0, 0.0), (5.0, 5.5, 0.0), 0.5)
    assert np.argwhere(warped[0]).tolist() == [[3, 6]]
    assert not valid[:, -3:].any() and valid[:-2, :-3].all()


def test_a_quarter_turn_about_the_ego():
    # The grid turned by +90 degrees about its centre: a point ahead along +x (the
    # heading 0) is then at heading -90 degrees in the new grid, up the rows.
    maps = np.zeros((8, 8), np.uint8)
    maps[4, 7] = 1  # 3.5 cells ahead of the centre (4, 4) in x
    warped, valid = warp(maps, (4.0, 4.0, 0.0), (4.0, 4.0, np.pi / 2), 1.0)
    assert np.argwhere(warped).tolist() == [[0, 4]]
    assert valid.all()


def test_transforms_compose_as_the_poses_do():
    shape, res = (20, 30), 0.4
    a, b, c = (4.0, 6.0, 0.1), (5.0, 4.5, -0.3), (3.0, 7.0, 0.6)
    m_ab, o_ab = frame_transform(a, b, shape, res)  # b's cells into a's
    m_bc, o_bc = frame_transform(b, c, shape, res)
    m_ac, o_ac = frame_transform(a, c, shape, res)
    np.testing.assert_allclose(m_ab @ m_bc, m_ac, atol=1e-12)
    np.testing.assert_allclose(m_ab @ o_bc + o_ab, o_ac, atol=1e-12)


def test_warp_is_scipys_nearest_affine_transform():
    rng = np.random.default_rng(0)
    maps = rng.random((24, 24))
    pose_from, pose_to = (6.0, 6.0, 0.0), (6.7, 5.2, 0.35)
    warped, valid = warp(maps, pose_from, pose_to, 0.5)
    matrix, offset = frame_transform(pose_from, pose_to, maps.shape, 0.5)
    reference = ndimage.affine_transform(maps, matrix, offset, order=0, mode="grid-constant")
    # Away from the edge, where scipy and the validity rule could differ by rounding.
    inner = ndimage.binary_erosion(valid, iterations=2)
    np.testing.assert_array_equal(warped[inner], reference[inner])


def test_ego_poses_follow_a_constant_turn():
    poses = ego_poses(5, 0.5, 10.0, np.radians(30.0), (40, 40), 0.5, heading=0.0)
    # On a circle of radius v / w about the centre of the turn, turning w dt each frame.
    radius = 10.0 / np.radians(30.0)
    centre = np.array([10.0 + radius, 10.0])  # +90 degrees from heading 0 is +y
    np.testing.assert_allclose(np.hypot(*(poses[:, :2] - centre).T), radius)
    np.testing.assert_allclose(np.diff(poses[:, 2]), np.radians(15.0))
    straight = ego_poses(3, 1.0, 4.0, 0.0, (10, 10), 1.0, heading=np.pi / 2)
    np.testing.assert_allclose(straight[:, 0] - 5.0, [0.0, 4.0, 8.0])


# -------------------------------------------------------------------- field


def test_field_frames_decorrelate_as_the_closed_form_says():
    # Independent reference: consecutive frames are two fields whose latent correlation
    # is a * exp(-d^2 / (4 s^2)), so their phi is that of two field classes at that rho.
    settings = dict(dt=0.5, drift_y=1.0, drift_x=4.0, tau=2.0)
    latent = np.exp(-0.5 / 2.0) * np.exp(-(0.5 ** 2 + 2.0 ** 2) / (4 * 4.0 ** 2))
    measured = np.mean([temporal_phi(*field_sequence(np.random.default_rng(s), 0.3, 128,
                                                     frames=3, **settings), 1.0)
                        for s in range(30)], axis=0)
    classes = np.mean([class_correlation(field(np.random.default_rng(100 + s), latent, 128))[0, 1]
                       for s in range(60)])
    expected = field_expected_temporal_phi(length_scale=4.0, **settings)
    assert expected == pytest.approx(field_expected_phi(latent))
    np.testing.assert_allclose(measured, expected, atol=0.02)
    np.testing.assert_allclose(measured, classes, atol=0.02)


def test_field_frames_keep_the_class_correlation():
    frames, _ = field_sequence(np.random.default_rng(0), 0.9, 128, frames=4)
    phi = [class_correlation(f)[0, 1] for f in frames]
    np.testing.assert_allclose(phi, field_expected_phi(0.9), atol=0.08)


def test_a_frozen_field_without_drift_stays():
    frames, _ = field_sequence(np.random.default_rng(0), 0.5, 32, frames=3, drift_x=0.0,
                               tau=1e9)
    assert (frames == frames[0]).mean() > 0.999


# -------------------------------------------------------------------- urban


def test_a_still_world_seen_from_a_still_ego_never_changes():
    frames, poses = urban_sequence(np.random.default_rng(1), 0.9, 96, frames=3, speed=0.0,
                                   vehicle_speed=0.0, pedestrian_speed=0.0, classes=URBAN)
    assert (frames == frames[0]).all()
    np.testing.assert_allclose(poses, [[24.0, 24.0, 0.0]] * 3)


def test_the_layout_stays_put_while_the_ego_drives_and_turns():
    frames, poses = urban_sequence(np.random.default_rng(2), 0.9, 160, frames=4, speed=12.0,
                                   yaw_rate=20.0, vehicle_speed=0.0, pedestrian_speed=0.0,
                                   classes=URBAN)
    assert np.hypot(*(poses[-1, :2] - poses[0, :2])) == pytest.approx(12.0 * 1.5, rel=0.02)
    phi = temporal_phi(frames, poses, 0.5)
    assert phi[1] > 0.95 and phi[2] > 0.85  # drivable and walkway: only rasterisation
    assert phi[0] > 0.7  # parked vehicles: rasterisation of small rectangles
    # Without the warp the frames disagree: the grid really moved.
    unwarped = temporal_phi(frames, np.tile(poses[:1], (4, 1)), 0.5)
    assert unwarped[1] < phi[1] - 0.05


def test_moving_objects_follow_their_lanes_and_walkways():
    # At rho = 1 every object follows the layout when placed; moving, it must keep to it
    # (pedestrians nearly so: a footprint at a walkway's edge covers a cell beyond it,
    # as in single maps, and a walker reaching a junction without a crossing walks on).
    def on_layout(rho, seed):
        frames, _ = urban_sequence(np.random.default_rng(seed), rho, 200, frames=6,
                                   vehicle_speed=12.0, pedestrian_speed=1.5, classes=URBAN)
        vehicle, drivable, walkway, crossing, pedestrian = frames.astype(bool).transpose(1, 0, 2, 3)
        return ((vehicle & drivable).sum() / vehicle.sum(),
                (pedestrian & (walkway | crossing)).sum() / pedestrian.sum())

    rule = np.mean([on_layout(1.0, s) for s in range(3)], axis=0)
    free = np.mean([on_layout(0.0, s) for s in range(3)], axis=0)
    assert rule[0] > 0.97 and rule[1] > 0.85
    assert free[0] < 0.85 and free[1] < 0.35


def test_a_sequences_frames_see_the_layout_a_single_map_would():
    # The road network is densest at its centre, and a sequence's world is larger than
    # its map: counted by the world, its roads made frames 40% more drivable than single
    # maps (0.75 against 0.54 at 32 m on 1 m cells, the benchmark's urban-time-cpu).
    seeds, classes = range(120), ("vehicle", "drivable", "walkway")
    frames = np.array([urban_sequence(np.random.default_rng(s), 0.5, 32, frames=4,
                                      resolution=1.0, classes=classes)[0].mean(axis=(2, 3))
                       for s in seeds])
    singles = np.array([urban(np.random.default_rng(s), 0.5, 32, resolution=1.0,
                              classes=classes).mean(axis=(1, 2)) for s in seeds])
    # Standard errors of these means are about 0.02 (drivable) and 0.01 (walkway).
    np.testing.assert_allclose(frames[:, :, 1:].mean(axis=(0, 1)), singles[:, 1:].mean(0),
                               atol=0.06)


def test_faster_traffic_changes_more_between_frames():
    phis = []
    for speed in (0.0, 4.0, 16.0):
        measured = [temporal_phi(*urban_sequence(np.random.default_rng(s), 1.0, 128, frames=3,
                                                 vehicle_speed=speed), 0.5)[0]
                    for s in range(4)]
        phis.append(np.nanmean(measured))
    assert phis[0] > phis[1] > phis[2]


# -------------------------------------------------------------------- noise


def test_noise_memory_is_the_frame_to_frame_correlation_of_the_noise():
    clean = np.zeros((6, 2, 64, 64), np.uint8)
    steps = make_config(noise="gaussian:sigma=0.5").noise_steps
    for memory in (0.0, 0.8):
        noise = apply_noise_sequence(np.random.default_rng(0), clean, steps, memory)[:, 0]
        corr = np.mean([np.corrcoef(noise[t - 1].ravel(), noise[t].ravel())[0, 1]
                        for t in range(1, 6)])
        assert corr == pytest.approx(memory, abs=0.03)
        assert noise.std() == pytest.approx(0.5, rel=0.05)


# -------------------------------------------------------------------- stores

SEQ = dict(family="urban", rho=[0.0, 0.9], samples_per_rho=5, size=48, frames=3,
           noise="gaussian:sigma=0.4", params={"speed": 6.0, "noise_memory": 0.5})


@pytest.fixture(scope="module")
def seq_store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("seq") / "s.zarr", **SEQ)


def test_a_sequence_store_holds_frames_poses_and_frame_to_frame_phi(seq_store):
    assert seq_store.clean.shape == (10, 3, 2, 48, 48) and seq_store.frames == 3
    config = make_config(**SEQ)
    for i in (0, 7):
        clean, noisy, poses = make_sample(config, i)
        sample = seq_store[i]
        np.testing.assert_array_equal(sample["clean"], clean)
        np.testing.assert_array_equal(sample["noisy"], noisy)
        np.testing.assert_array_equal(sample["pose"], poses)
        np.testing.assert_allclose(sample["phi_time"], temporal_phi(clean, poses, 0.5), rtol=1e-6)
        assert sample["phi"] == pytest.approx(class_correlation(clean[-1])[0, 1], nan_ok=True)
    assert seq_store.attrs["sequence"]["speed"] == 6.0 and seq_store.attrs["resolution"] == 0.5
    assert verify_store(seq_store.path).ok


def test_xarray_reads_a_sequence_store(seq_store):
    ds = xr.open_zarr(seq_store.path)
    assert ds.clean.dims == ("sample", "time", "class", "y", "x")
    assert ds.pose.dims == ("sample", "time", "axis")
    np.testing.assert_allclose(ds.time.values, [-1.0, -0.5, 0.0])
    assert list(ds.axis.values) == ["y", "x", "yaw"]
    last = ds.clean.sel(time=0.0, **{"class": "vehicle"}).isel(sample=3).values
    np.testing.assert_array_equal(last, seq_store[3]["clean"][-1, 0])


def test_sequences_are_the_same_bytes_whatever_the_workers(tmp_path):
    settings = {**SEQ, "size": 64, "samples_per_rho": 40}
    one = ogmbench.generate(tmp_path / "a.zarr", workers=1, **settings)
    two = ogmbench.generate(tmp_path / "b.zarr", workers=2, **settings)
    assert one.layout.n_shards > 1
    assert one.attrs["digest"] == two.attrs["digest"]


def test_a_damaged_pose_is_found(tmp_path):
    store = ogmbench.generate(tmp_path / "s.zarr", **SEQ)
    group = zarr.open_group(str(store.path), mode="r+")
    poses = group["pose"][:]
    poses[1, 2, 0] += 1.0
    group["pose"][:] = poses
    report = verify_store(store.path)
    assert not report.ok and report.bad_shards == [0]
    with pytest.raises(ogmbench.StoreError, match="differs from its recorded digest"):
        open_store(store.path)[1]


def test_resume_keeps_the_sequence_settings(tmp_path):
    out = tmp_path / "r.zarr"
    full = ogmbench.generate(out, **SEQ)
    digest = full.attrs["digest"]
    group = zarr.open_group(str(out), mode="r+")
    group.attrs.update({"complete": False, "shard_digests": {}})
    again = ogmbench.generate(out, resume=True)
    assert again.attrs["digest"] == digest
    with pytest.raises(ConfigError, match="differ .* in: .*sequence"):
        ogmbench.generate(out, resume=True, params={"speed": 3.0})


def test_info_gives_the_frame_to_frame_phi_and_fields_closed_form(tmp_path):
    store = ogmbench.generate(tmp_path / "f.zarr", family="field", rho=[0.5], samples_per_rho=12,
                              size=96, frames=3, noise="flip", params={"tau": 3.0})
    summary = summarize(store)
    row = summary["rho"][0]
    expected = field_expected_temporal_phi(tau=3.0)
    assert row["phi_time_expected"] == [pytest.approx(expected, abs=1e-6)] * 2
    np.testing.assert_allclose(row["phi_time_mean"], expected, atol=0.04)
    assert summary["sequence"]["frames"] == 3 and summary["sequence"]["tau"] == 3.0
    json.dumps(summary)


def test_show_draws_a_strip_of_frames(tmp_path, seq_store):
    import matplotlib.image

    out = tmp_path / "strip.png"
    code, stdout, stderr = call(["show", seq_store.path, "-n", "2", "--out", out])
    assert code == 0, stderr
    height, width = matplotlib.image.imread(out).shape[:2]
    # Two samples x two classes x (clean, noisy) rows, three frames across.
    assert height > width


@pytest.mark.parametrize("argv, message", [
    (["--frames", "0"], "frames must be an integer in [1, 64], got 0"),
    (["--frames", "65"], "frames must be an integer in [1, 64], got 65"),
    (["--param", "speed=3", "--family", "urban"], "speed is a parameter of sequences"),
    (["--param", "dt=0.1"], "dt is a parameter of sequences"),
    (["--frames", "3", "--param", "dt=0"], "dt must be in (0, 60], got 0"),
    (["--frames", "3", "--param", "noise_memory=0.5", "--noise", "flip"],
     "noise_memory applies to the gaussian model's noise"),
    (["--frames", "3", "--param", "speed=3"], "unknown parameter 'speed' for 'field'"),
    (["--family", "urban", "--frames", "64", "--param", "dt=60"], "urban sequences reach"),
])
def test_bad_sequence_settings_get_one_line(tmp_path, argv, message):
    code, stdout, stderr = call(["generate", tmp_path / "x.zarr", *argv])
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.zarr").exists()


def test_calibration_refuses_a_sequence_store_in_one_line(tmp_path, seq_store):
    code, stdout, stderr = call(["info", seq_store.path, "--calibration"])
    assert code == 2 and "holds sequences of 3 frames" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_the_torch_dataset_refuses_a_sequence_store(seq_store):
    pytest.importorskip("torch")
    with pytest.raises(ogmbench.StoreError, match="holds sequences"):
        ogmbench.TorchDataset(seq_store.path)
