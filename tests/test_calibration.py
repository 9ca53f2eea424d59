"""``ogmbench info --calibration``: measured fractions and footprints against targets."""

import json

import numpy as np
import pytest

import ogmbench
from ogmbench.calibration import NUSCENES_FRONT, Targets, calibrate, load_targets, measure
from ogmbench.errors import UsageError

from ogmbench.generators.urban import CLASSES

from cli_helpers import assert_usage_error, call


def _rectangle(shape, cy, cx, length, width, angle):
    """Cells whose centres lie in a length x width rectangle turned by ``angle`` (rad)."""
    yy, xx = np.indices(shape) + 0.5
    along = (yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle)
    across = (yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle)
    return (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)


def test_fractions_and_footprints_of_known_rectangles():
    maps = np.zeros((2, 2, 80, 80), np.uint8)  # samples, (vehicle, drivable)
    # Cells of 0.5 m: a 5 x 2 m car, a 7 x 2.5 m truck turned 30 degrees, a 12 x 3 m bus.
    maps[0, 0] |= _rectangle((80, 80), 10, 10, 10, 4, 0.0)
    maps[0, 0] |= _rectangle((80, 80), 40, 40, 14, 5, np.pi / 6)
    maps[1, 0] |= _rectangle((80, 80), 60, 40, 24, 6, np.pi / 2)
    maps[:, 1, :, 60:] = 1
    got = measure(maps, ["vehicle", "drivable"], 0.5)
    assert got["positive"]["drivable"] == 2 * 80 * 20
    assert got["positive"]["vehicle"] == int(maps[:, 0].sum())
    objects = got["objects"]
    assert {k: v["count"] for k, v in objects.items()} == {"car": 1, "truck": 1, "bus": 1}
    # An axis-aligned rectangle of whole cells: exactly its size.
    assert objects["car"]["lengths"] == [pytest.approx(5.0)]
    assert objects["car"]["widths"] == [pytest.approx(2.0)]
    assert objects["bus"]["lengths"] == [pytest.approx(12.0)]
    # A turned one is drawn with ragged edges: within a cell's width.
    assert objects["truck"]["lengths"][0] == pytest.approx(7.0, abs=0.5)
    assert objects["truck"]["widths"][0] == pytest.approx(2.5, abs=0.5)
    assert sum(got["positive"][t] for t in ("car", "truck", "bus")) == got["positive"]["vehicle"]
    # Targets without every vehicle type's footprint cannot sort them: one "vehicle" kind.
    partial = Targets("partial", {"car": 0.02}, {"car": (4.6, 1.9)})
    assert set(measure(maps, ["vehicle", "drivable"], 0.5, partial)["objects"]) == {"vehicle"}
    # Without a resolution, sizes stay in cells and vehicles are not sorted into types.
    cells = measure(maps, ["vehicle", "drivable"], None)
    assert set(cells["objects"]) == {"vehicle"} and cells["objects"]["vehicle"]["count"] == 3
    assert sorted(cells["objects"]["vehicle"]["lengths"])[0] == pytest.approx(10.0)


@pytest.fixture(scope="module")
def urban_store(tmp_path_factory):
    return ogmbench.generate(tmp_path_factory.mktemp("u") / "u.zarr", family="urban",
                             noise="flip", rho=[0.0, 1.0], samples_per_rho=6, size=64)


def test_the_defaults_match_every_target(tmp_path):
    # 240 scenes of 1 ha at rho 1 (every object follows the layout).  The rarest target,
    # buses at 0.5 per hectare, is then about 120 buses: a relative standard error of 9%
    # on its fraction; every other row's is under 5%.  The defaults' expected values lie
    # within 5% of every target (measured over 300 scenes), so ±20% is no coin toss.
    store = ogmbench.generate(tmp_path / "bev.zarr", family="urban", classes=CLASSES,
                              noise="flip", rho=[1.0], samples_per_rho=240, size=200,
                              split=(1.0, 0.0, 0.0))
    report = calibrate(store)
    assert report["resolution"] == 0.5 and report["samples"] == 240
    rows = {r["what"]: r for r in report["rows"]}
    expected = {f"fraction {k}" for k in NUSCENES_FRONT.fractions} | {
        f"{side} {kind} (m)" for kind in ("car", "truck", "bus") for side in ("length", "width")}
    assert set(rows) == expected
    assert all(r["within"] for r in rows.values()), [r for r in rows.values() if not r["within"]]
    # A pedestrian is one to four cells of 0.5 m: its footprint is not measurable there.
    assert report["unresolved"] == ["pedestrian"]
    assert 20 < report["objects"]["car"]["per_sample"] < 26


def test_calibrate_a_store_compares_what_it_can(urban_store):
    report = calibrate(urban_store)
    assert report["rho"] == 1.0 and report["samples"] == 6 and report["resolution"] == 0.5
    rows = {r["what"]: r for r in report["rows"]}
    assert {"fraction vehicle", "fraction drivable", "fraction car"} <= set(rows)
    assert not {"fraction walkway", "fraction pedestrian"} & set(rows)  # not in the store
    clean = urban_store.take("clean", urban_store.indices()[urban_store.rho == 1.0])
    for k, name in enumerate(("vehicle", "drivable")):
        row = rows[f"fraction {name}"]
        assert row["measured"] == pytest.approx(clean[:, k].mean())
        assert row["ratio"] == pytest.approx(row["measured"] / NUSCENES_FRONT.fractions[name])
        assert row["within"] == (abs(row["ratio"] - 1) <= 0.2)
    assert report["objects"]["car"]["per_sample"] > 0
    json.dumps(report)  # JSON-ready
    assert calibrate(urban_store, rho=0.0)["rho"] == 0.0
    with pytest.raises(UsageError, match="not one of the store's rho values"):
        calibrate(urban_store, rho=0.5)
    only = Targets("mine", {"walkway": 0.1})
    with pytest.raises(UsageError, match="none of its classes"):
        calibrate(urban_store, only)


def test_target_files(tmp_path, urban_store):
    good = tmp_path / "mine.toml"
    good.write_text('name = "my-fleet"\n[fractions]\ndrivable = 0.3\n'
                    '[footprints]\ncar = [4.5, 1.9]\n')
    targets = load_targets(good)
    assert targets.name == "my-fleet" and targets.fractions == {"drivable": 0.3}
    assert targets.footprints == {"car": (4.5, 1.9)}
    report = calibrate(urban_store, targets)
    assert [r["what"] for r in report["rows"]] == ["fraction drivable"]
    (tmp_path / "j.json").write_text(json.dumps({"fractions": {"vehicle": 0.05}}))
    assert load_targets(tmp_path / "j.json").fractions == {"vehicle": 0.05}
    for text, words in (("[fractions]\ndrivable = 1.5\n", "fractions.drivable"),
                        ("[fractions]\ndrivable = 5e-324\n", "fractions.drivable"),
                        ("[fractions]\ndrivable = 1" + "0" * 400 + "\n", "fractions.drivable"),
                        ("[fractions]\ndrivable = true\n", "fractions.drivable"),
                        ("[footprints]\ncar = [4.5]\n", "footprints.car"),
                        ("[fractions]\n", "no fractions and no footprints"),
                        ("[colours]\n", "expected the tables"),
                        ("fractions = 3\n", "must be tables"),
                        ("[fractions\n", "not valid")):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(UsageError, match=words.replace("[", r"\[")):
            load_targets(bad)
    with pytest.raises(UsageError, match="absent.toml: No such file"):
        load_targets(tmp_path / "absent.toml")


def test_info_calibration_on_the_command_line(urban_store, tmp_path, capsys):
    code, out, err = call(["info", urban_store.path, "--calibration"], capsys)
    assert code == 0 and err == ""
    assert "fraction drivable" in out and "nuscenes-front" in out and "within ±20%" in out
    code, out, _ = call(["info", urban_store.path, "--calibration", "--json"], capsys)
    assert code == 0 and {"fraction vehicle", "fraction drivable"} <= {
        r["what"] for r in json.loads(out)["rows"]}
    (tmp_path / "t.toml").write_text("[fractions]\nvehicle = 0.05\n")
    code, out, _ = call(["info", urban_store.path, "--calibration", "--targets",
                         tmp_path / "t.toml", "--rho", "0"], capsys)
    assert code == 0 and "rho 0," in out and "fraction drivable" not in out
    for args, words in (([ "--calibration", "--rho", "0.5"], ["not one of the store's"]),
                        (["--calibration", "--targets", tmp_path / "none.toml"], ["--targets"]),
                        (["--targets", tmp_path / "t.toml"], ["--calibration"]),
                        (["--rho", "0"], ["--calibration"])):
        code, out, err = call(["info", urban_store.path, *args], capsys)
        assert_usage_error(code, out, err, *words)
    field = ogmbench.generate(tmp_path / "f.zarr", family="field", rho=[0.0],
                              samples_per_rho=4, size=16)
    code, out, err = call(["info", field.path, "--calibration"], capsys)
    assert_usage_error(code, out, err, "none of its classes")


def test_what_is_measured_as_objects_is_the_familys_declaration():
    from ogmbench.calibration import declared_objects

    # urban declares its objects; field declares none, nor does an unknown family.
    assert declared_objects("urban") == {"vehicle": ("car", "truck", "bus"), "pedestrian": ()}
    assert declared_objects("field") == {} and declared_objects("nope") == {}
    assert declared_objects() == declared_objects("urban")  # every registered family's
    # Any class may be declared an object class with its own types: a 2-cell and a
    # 6-cell blob on 1 m cells are told apart by the types' footprints.
    maps = np.zeros((1, 1, 20, 20), np.uint8)
    maps[0, 0, 2, 2:4] = 1
    maps[0, 0, 10, 4:10] = 1
    targets = Targets("mine", {"small": 0.01}, {"small": (2.0, 1.0), "large": (6.0, 1.0)})
    got = measure(maps, ["blob"], 1.0, targets, objects={"blob": ("small", "large")})
    assert {k: v["count"] for k, v in got["objects"].items()} == {"small": 1, "large": 1}
    assert got["positive"] == {"blob": 8, "small": 2, "large": 6}
    assert measure(maps, ["blob"], 1.0, targets, objects={})["objects"] == {}
