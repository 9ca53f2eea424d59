"""The metric ``urban`` family: scenes in metres, named classes, rho as a placement rule."""

import numpy as np
import pytest
from scipy import ndimage

from ogmbench.calibration import measure
from ogmbench.config import make_config
from ogmbench.errors import ConfigError
from ogmbench.generators import ParamError, class_correlation, urban
from ogmbench.generators.urban import CLASSES

EIGHT = np.ones((3, 3), bool)


def scenes(rho, n, size=96, seed=0, **params):
    return np.stack([urban(np.random.default_rng([seed, i]), rho, size, classes=CLASSES,
                           **params) for i in range(n)])


def test_rho_is_the_fraction_of_objects_that_follow_the_layout():
    k = {name: i for i, name in enumerate(CLASSES)}
    # A scene without pedestrians has no phi for them (NaN): averaged over the others.
    phi = {r: np.nanmean([class_correlation(m) for m in scenes(r, 16)], axis=0)
           for r in (-1.0, -0.5, 0.0, 0.5, 1.0)}
    vehicles = [phi[r][k["vehicle"], k["drivable"]] for r in sorted(phi)]
    assert all(a < b for a, b in zip(vehicles, vehicles[1:])), vehicles
    # Independent at rho 0: |phi| within a few standard errors of 0.
    assert abs(phi[0.0][k["vehicle"], k["drivable"]]) < 0.03
    assert abs(phi[0.0][k["pedestrian"], k["walkway"]]) < 0.02
    assert phi[1.0][k["pedestrian"], k["walkway"]] > 0.03 > phi[-1.0][k["pedestrian"], k["walkway"]]
    on, off = scenes(1.0, 8), scenes(-1.0, 8)
    paths = on[:, k["walkway"]] | on[:, k["ped_crossing"]]
    # At rho 1 every vehicle lies in a lane (its cells on the road but at its very ends),
    # every pedestrian is centred on a walkway or a crossing; at rho -1 none touches them.
    assert on[:, k["drivable"]][on[:, k["vehicle"]] == 1].mean() > 0.95
    assert paths[on[:, k["pedestrian"]] == 1].mean() > 0.8
    assert off[:, k["drivable"]][off[:, k["vehicle"]] == 1].sum() == 0
    off_paths = off[:, k["walkway"]] | off[:, k["ped_crossing"]]
    assert off_paths[off[:, k["pedestrian"]] == 1].sum() == 0


def test_a_subset_of_classes_is_the_same_scene():
    full = urban(np.random.default_rng(3), 0.5, 80, classes=CLASSES)
    for subset in (("vehicle", "drivable"), ("walkway", "pedestrian"),
                   ("drivable", "ped_crossing", "pedestrian")):
        part = urban(np.random.default_rng(3), 0.5, 80, classes=subset)
        np.testing.assert_array_equal(part, full[[CLASSES.index(c) for c in subset]])
    # The default is the benchmark's first pair.
    np.testing.assert_array_equal(urban(np.random.default_rng(3), 0.5, 80), full[:2])


def test_the_same_scene_at_half_the_cell_size():
    # The layout draws nothing by the raster: the same streets, each 0.5 m cell of the
    # coarse map the mean of four 0.25 m cells up to the cells on a boundary.
    coarse = urban(np.random.default_rng(7), 1.0, 100, classes=CLASSES)
    fine = urban(np.random.default_rng(7), 1.0, 200, classes=CLASSES, resolution=0.25)
    for name in ("drivable", "walkway"):
        k = CLASSES.index(name)
        pooled = fine[k].reshape(100, 2, 100, 2).mean(axis=(1, 3))
        assert np.mean(np.abs(pooled - coarse[k]) > 0.5) < 0.02, name
    # Objects are placed where the raster says a spot is free, so they differ scene by
    # scene; their occupancy agrees within sampling error.
    a = scenes(1.0, 24, size=100, seed=1).mean(axis=(2, 3))
    b = scenes(1.0, 24, size=200, seed=1, resolution=0.25).mean(axis=(2, 3))
    se = np.sqrt((a.var(0) + b.var(0)) / 24)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 4 * se + 1e-4), (a.mean(0), b.mean(0), se)


def test_a_larger_map_shows_more_of_the_same_city():
    # Roads are counted per 100 m of map side, so a 200 m map has the road density of a
    # 64 m one (a fixed count would leave it about a third).  What remains, about 10%
    # measured over 60 scenes, is the ego's road: always there, and through the centre,
    # it is a larger share of a small map's roads.
    small = scenes(0.0, 30, size=64, seed=4, resolution=1.0).mean(axis=(0, 2, 3))
    large = scenes(0.0, 30, size=200, seed=4, resolution=1.0).mean(axis=(0, 2, 3))
    for name in ("drivable", "walkway", "ped_crossing"):
        k = CLASSES.index(name)
        assert abs(large[k] / small[k] - 1) < 0.2, (name, small[k], large[k])


def test_counts_per_hectare_whatever_the_layout():
    # 100 x 100 cells of 0.5 m is a quarter hectare; each object keeps a cell from the
    # others, so every one is its own 8-connected component.
    params = dict(cars=40.0, trucks=0.0, buses=0.0, pedestrians=60.0)
    for rho in (-1.0, 0.0, 1.0):
        maps = scenes(rho, 12, size=100, seed=2, **params)
        for name, mean in (("vehicle", 40 / 4), ("pedestrian", 60 / 4)):
            k = CLASSES.index(name)
            counts = [ndimage.label(m, EIGHT)[1] for m in maps[:, k]]
            # Poisson: the mean of 12 counts has a standard error sqrt(mean / 12).
            assert abs(np.mean(counts) - mean) < 4 * np.sqrt(mean / 12), (rho, name, counts)
    # Objects of both kinds never touch.
    both = maps[:, CLASSES.index("vehicle")] | maps[:, CLASSES.index("pedestrian")]
    assert sum(ndimage.label(m, EIGHT)[1] for m in both) == sum(
        ndimage.label(m, EIGHT)[1] for k in ("vehicle", "pedestrian")
        for m in maps[:, CLASSES.index(k)])


def test_sizes_are_in_metres():
    # A 6 x 2.5 m car at 0.25 m per cell, with no spread, measures 6 x 2.5 m.
    maps = scenes(1.0, 6, size=160, resolution=0.25, cars=60.0, trucks=0.0, buses=0.0,
                  car_length=6.0, car_width=2.5, size_spread=0.0)
    cars = measure(maps, list(CLASSES), 0.25)["objects"]
    lengths = np.concatenate([cars[t]["lengths"] for t in cars if t != "pedestrian"])
    widths = np.concatenate([cars[t]["widths"] for t in cars if t != "pedestrian"])
    # Cars cut by the map's edge are shorter: the median is a whole one.
    assert np.median(lengths) == pytest.approx(6.0, abs=0.25)
    assert np.median(widths) == pytest.approx(2.5, abs=0.25)
    # Lane width in metres: four 3.5 m lanes make a 14 m road, 28 cells of 0.5 m or 14 of 1 m.
    for res in (0.5, 1.0):
        road = urban(np.random.default_rng(0), 0.0, int(60 / res), roads=1, branches=0,
                     resolution=res)[1]
        width_m = road.sum() * res * res / (road.shape[0] * res)  # area / crossing length
        assert width_m == pytest.approx(14.0, rel=0.15), res


def test_no_roads_and_no_objects():
    rng = np.random.default_rng(0)
    bare = urban(rng, 1.0, 64, classes=CLASSES, roads=0, branches=0)
    for name in ("drivable", "walkway", "ped_crossing"):
        assert bare[CLASSES.index(name)].sum() == 0
    # With nothing to follow, objects are placed anyway.
    assert bare[CLASSES.index("vehicle")].sum() > 0
    empty = urban(rng, 1.0, 64, cars=0, trucks=0, buses=0)
    assert empty[0].sum() == 0 and empty[1].sum() > 0


def test_the_ego_keeps_its_lane():
    # The ego's 6.6 x 4 m keep-clear box, whatever its heading, covers the central 2 m.
    for seed in range(10):
        maps = urban(np.random.default_rng(seed), 1.0, 64, cars=400.0)
        assert maps[0, 30:34, 30:34].sum() == 0 and maps[1, 30:34, 30:34].all(), seed


def test_maps_are_scenes_not_cities():
    with pytest.raises(ParamError, match="at most 2048 m on a side"):
        urban(np.random.default_rng(0), 0.0, 4096, resolution=1.0)


@pytest.mark.parametrize("classes, words", [
    ("vehicle,drivable", "a sequence of class names"),
    (2, "a sequence of class names"),
    (("vehicle", "tree"), "no class 'tree'"),
    (("vehicle", "vehicle"), "distinct"),
    (("vehicle",), "at least 2"),
    (("walkway", "vehicle"), "write vehicle,walkway"),
])
def test_bad_class_subsets(classes, words):
    with pytest.raises(ParamError, match=words):
        urban(np.random.default_rng(0), 0.0, 16, classes=classes)


def test_config_chooses_classes_by_name():
    config = make_config(family="urban", classes="vehicle,walkway,pedestrian")
    assert config.class_names == ["vehicle", "walkway", "pedestrian"] and config.classes == 3
    assert config.to_json()["names"] == ["vehicle", "walkway", "pedestrian"]
    # Ground classes never block a lidar or a camera.
    assert dict(make_config(family="urban", classes=CLASSES, noise="lidar").noise_steps)[
        "lidar"]["ground"] == (0, 1, 1, 1, 0)
    # Named classes are not equicorrelated: rho -1 is allowed with five of them.
    assert make_config(family="urban", classes=CLASSES, rho=[-1.0]).rho == (-1.0,)
    # The field family's configs are recorded as before names existed.
    assert "names" not in make_config(family="field", classes=3).to_json()
    for family, classes, words in (("urban", 3, "names its classes"),
                                   ("urban", "3", "names its classes"),
                                   ("urban", "vehicle,,drivable", "no class ''"),
                                   ("field", "vehicle,drivable", "'field' numbers its classes")):
        with pytest.raises(ConfigError, match=words):
            make_config(family=family, classes=classes)


def test_a_five_class_store_is_generated_verified_read_and_evaluated(tmp_path):
    import pandas as pd
    import xarray as xr

    import ogmbench
    from ogmbench.evaluate import EvalConfig, run_eval

    store = ogmbench.generate(tmp_path / "bev.zarr", family="urban", classes=CLASSES,
                              noise="camera", rho=[0.0, 1.0], samples_per_rho=10, size=32)
    assert store.class_names == list(CLASSES)
    clean = store.take("clean", store.indices())
    matrix = store.read("phi_matrix", 0, len(store))
    assert matrix.shape == (20, 5, 5)
    for j in (0, 13):
        np.testing.assert_allclose(matrix[j], class_correlation(clean[j]), rtol=1e-5, atol=1e-6)
    assert ogmbench.verify_store(store.path).ok
    ds = xr.open_zarr(store.path)
    np.testing.assert_array_equal(ds["clean"].sel({"class": "walkway"}).values, clean[:, 2])
    # Pedestrians as the target, the four other classes as the prior, read by a
    # classical prior user and by the three fusions of the U-Net.
    quick = ":profile=quick,steps=4,width=8,depth=1"
    run_dir, outcomes = run_eval(store.path, ["identity", "guided", "concat" + quick,
                                              "film" + quick, "xattn" + quick], EvalConfig(target=4,
                                                                                           out=tmp_path / "run",
                                                                                           prior_controls=["shuffled"],
                                                                                           device="cpu"))
    assert [o.status for o in outcomes] == ["ok"] * 5, outcomes
    rows = pd.concat([pd.read_parquet(p) for p in (run_dir / "samples").glob("*.parquet")])
    assert set(rows["control"]) == {"none", "shuffled"}
    assert np.isfinite(rows["mse"]).all()
    # The phi column is the target's against the first prior class.
    got = rows.drop_duplicates("sample").set_index("sample")["phi"]
    np.testing.assert_allclose(got.values, matrix[got.index, 4, 0], rtol=1e-5, atol=1e-6)


def test_resume_with_other_classes_names_the_classes(tmp_path):
    import ogmbench

    out = tmp_path / "u.zarr"
    ogmbench.generate(out, family="urban", classes="vehicle,drivable", noise="lidar",
                      rho=[0.0], samples_per_rho=4, size=16)
    with pytest.raises(ConfigError, match="differ .* in: classes"):
        ogmbench.generate(out, resume=True, classes="vehicle,drivable,walkway")


def test_the_declared_parameters_are_the_functions_defaults():
    # One copy of each default: a call that leaves a parameter out draws what the
    # declaration (ogmbench list, --param) says it draws.
    from ogmbench.generators import FAMILIES, urban_sequence

    model = FAMILIES["urban"]
    spelled = {p.name: p.default for p in model.params}
    assert spelled["car_length"] == 4.61 and spelled["lanes"] == 4
    np.testing.assert_array_equal(urban(np.random.default_rng(3), 0.5, 48),
                                  urban(np.random.default_rng(3), 0.5, 48, **spelled))
    moving = {p.name: p.default for p in model.motion}
    a = urban_sequence(np.random.default_rng(3), 0.5, 32, frames=2)
    b = urban_sequence(np.random.default_rng(3), 0.5, 32, frames=2, dt=0.5, **spelled, **moving)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(TypeError, match="unexpected keyword argument 'lane'"):
        urban(np.random.default_rng(0), 0.5, 32, lane=3)
    with pytest.raises(TypeError, match="urban_sequence.*'noise_memory'"):
        urban_sequence(np.random.default_rng(0), 0.5, 32, frames=2, noise_memory=0.5)
