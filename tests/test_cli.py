"""The ``ogmbench`` command line: help, happy path, --rho parsing, the error contract.

The error contract (ogmbench/cli/_group.py): an expected problem -- bad input, a foreign,
damaged or incomplete store -- gives exit code 2, exactly one line on stderr that
names the problem, no traceback, and leaves nothing behind.  Exit codes and output are
read through ``ogmbench.cli.main`` (click with ``standalone_mode=False`` plus the
error wrapper the console script runs); ``--help`` goes through ``CliRunner``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zarr
from click.testing import CliRunner

import ogmbench
from ogmbench.cli import cli, main
from cli_helpers import assert_usage_error, bad_stores_in, call, snapshot  # noqa: E402

# Every test states all generation settings, so changing DEFAULTS changes no test.
SETTINGS = ["--family", "field", "--noise", "gaussian:sigma=0.5", "--size", "16",
            "--samples-per-rho", "4", "--rho", "0,0.5", "--split", "0.5,0.25,0.25",
            "--seed", "0"]
SPR, RHOS = 4, [0.0, 0.5]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


def make_store(path: Path, capsys, *extra) -> Path:
    code, out, err = call(["generate", path, *SETTINGS, *extra], capsys)
    assert code == 0, err
    return Path(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small complete store that tests only read."""
    path = tmp_path_factory.mktemp("cli") / "small.zarr"
    main(["generate", str(path), *SETTINGS])
    return path


@pytest.fixture(scope="module")
def bad_stores(tmp_path_factory, store):
    """Paths that info/verify/show must refuse, by kind."""
    return bad_stores_in(tmp_path_factory.mktemp("bad"), store)


# --------------------------------------------------------------------------- --help


COMMAND_OPTIONS = {
    None: ["generate", "info", "verify", "list", "show", "--version"],
    "generate": ["OUT", "--family", "--noise", "--rho", "START:STOP:STEP", "--samples-per-rho",
                 "--size", "--classes", "--seed", "--split", "--workers", "--overwrite",
                 "--resume", "--param"],
    "info": ["STORE", "--json"],
    "verify": ["STORE", "exit 1"],
    "list": ["--json"],
    "show": ["STORE", "-n", "--out"],
}


@pytest.mark.parametrize("command", list(COMMAND_OPTIONS), ids=lambda c: c or "group")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_mentions_key_options(command, flag):
    args = ([command] if command else []) + [flag]
    result = CliRunner().invoke(cli, args, prog_name="ogmbench")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ogmbench" + (f" {command}" if command else ""))
    for word in COMMAND_OPTIONS[command]:
        assert word in result.output, f"{word!r} missing from '{' '.join(args)}'"


def test_python_dash_m_help():
    proc = subprocess.run([sys.executable, "-m", "ogmbench", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    assert all(c in proc.stdout for c in ("generate", "info", "verify", "list", "show"))


def test_console_script_runs_and_keeps_the_error_contract(tmp_path):
    exe = Path(sys.executable).with_name("ogmbench")
    exe = str(exe) if exe.exists() else shutil.which("ogmbench")
    if exe is None:
        pytest.skip("ogmbench console script not installed")
    ok = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ogmbench.__version__ in ok.stdout
    # A real process: the wrapper turns a StoreError into exit 2 and one line.
    bad = subprocess.run([exe, "info", str(tmp_path / "nothing.zarr")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"error: no store at {tmp_path / 'nothing.zarr'}"]
    assert bad.stdout == ""


# --------------------------------------------------------------------------- happy path


def test_generate_prints_one_summary_line(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    code, stdout, stderr = call(["generate", out, *SETTINGS], capsys)
    assert code == 0, stderr
    assert stderr == ""  # no progress bar when stderr is not a terminal
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"wrote {out}: {SPR * len(RHOS)} samples (field, gaussian:sigma=0.5")
    store = ogmbench.open_store(out)
    assert store.attrs["complete"] is True and len(store) == SPR * len(RHOS)
    assert store.attrs["digest"][:16] in lines[0]


def test_info_text(store, capsys):
    code, out, err = call(["info", store], capsys)
    assert code == 0 and err == ""
    assert f"store    {store}" in out
    assert "family   field" in out and "noise    gaussian:sigma=0.5" in out
    assert f"samples  {SPR * len(RHOS)}  (train 4, val 2, test 2)" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("0.000", "0.500"))]
    # rho, train, val, test per rho: 4 samples split 0.5/0.25/0.25.
    assert [r[:4] for r in rows] == [["0.000", "2", "1", "1"], ["0.500", "2", "1", "1"]]


def test_info_json_counts_add_up(store, capsys):
    code, out, err = call(["info", store, "--json"], capsys)
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert summary["samples"] == SPR * len(RHOS)
    assert summary["family"] == "field" and summary["seed"] == 0
    assert summary["size"] == [16, 16] and summary["classes"] == ["X1", "X2"]
    assert [row["rho"] for row in summary["rho"]] == RHOS
    for row in summary["rho"]:
        assert sum(row["counts"].values()) == SPR
        assert row["counts"] == {"train": 2, "val": 1, "test": 1}
    per_split = {s: sum(row["counts"][s] for row in summary["rho"]) for s in ("train", "val", "test")}
    assert per_split == summary["split_counts"]
    assert sum(summary["split_counts"].values()) == SPR * len(RHOS)
    assert len(summary["noise_stats"]) == 2
    assert summary["digest"] == ogmbench.open_store(store).attrs["digest"]


def test_verify_intact(store, capsys):
    code, out, err = call(["verify", store], capsys)
    assert code == 0 and err == ""
    assert out.strip() == f"{store}: intact ({SPR * len(RHOS)} samples, 1 shards, digest " \
                          f"{ogmbench.open_store(store).attrs['digest'][:16]})"


NOISE_PARAMS = {
    "gaussian": {"sigma", "kappa"},
    "flip": {"fp", "fn"},
    "clutter": {"rate", "dropout", "size", "kappa"},
    "lidar": {"scans", "beams", "max_range", "p_near", "p_far", "p_false", "range_noise",
              "jitter", "p_occ", "p_free", "clamp", "ego_y", "ego_x", "ground"},
    "camera": {"cameras", "fov", "max_range", "depth_noise", "depth_error", "angular_blur",
               "opacity", "ego_y", "ego_x", "ground"},
    "confusion": {"p"},
}


def test_list_json(capsys):
    code, out, err = call(["list", "--json"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) == {"families", "noise_models", "estimators"}
    from ogmbench.registry import available

    assert set(data["estimators"]) == set(available())
    assert data["estimators"]["median"]["grid"] == {"size": [3, 5, 7]}
    assert data["estimators"]["guided"]["uses_prior"] is True
    assert {"field", "urban"} <= set(data["families"])
    assert set(data["families"]["field"]["params"]) == {"length_scale", "occupancy"}
    assert {"resolution", "lanes", "cars"} <= set(data["families"]["urban"]["params"])
    assert data["families"]["urban"]["classes"][:2] == data["families"]["urban"][
        "default_classes"] == ["vehicle", "drivable"]
    assert "classes" not in data["families"]["field"]
    assert set(data["noise_models"]) == set(NOISE_PARAMS)
    for name, params in NOISE_PARAMS.items():
        entry = data["noise_models"][name]
        assert entry["doc"]
        assert set(entry["params"]) == params, name
        for p in entry["params"].values():
            assert set(p) == {"default", "range", "per_class", "doc"}
    sigma = data["noise_models"]["gaussian"]["params"]["sigma"]
    assert sigma["range"] == "(0, inf)" and sigma["per_class"] is True
    assert data["noise_models"]["gaussian"]["params"]["kappa"]["per_class"] is False
    assert data["noise_models"]["flip"]["params"]["fp"]["range"] == "[0, 1]"


def test_list_text(capsys):
    code, out, err = call(["list"], capsys)
    assert code == 0 and err == ""
    assert "Families:" in out and "Noise models:" in out
    for name in ["field", "urban", *NOISE_PARAMS]:
        assert f"  {name}: " in out, name
    for param in ("sigma", "kappa", "fp", "fn", "dropout", "p_near", "length_scale", "lane_width"):
        assert param in out
    assert "(per class: a/b)" in out
    assert "--noise 'lidar+confusion:p=0.1'" in out


def test_show_writes_png(store, tmp_path, capsys):
    png = tmp_path / "gallery.png"
    code, out, err = call(["show", store, "-n", "2", "--out", png], capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {png} (samples ")
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000


# --------------------------------------------------------------------------- --rho parsing


@pytest.mark.parametrize("rho_args, expected", [
    (["--rho=-0.5,0,0.9"], [-0.5, 0.0, 0.9]),
    (["--rho", "-0.5,0"], [-0.5, 0.0]),
    (["--rho", " 0.9, 0 ,"], [0.9, 0.0]),        # spaces and a trailing comma; order kept
    (["--rho", "0:1:0.5"], [0.0, 0.5, 1.0]),     # STOP on the grid: included
    (["--rho", "0:1:0.4"], [0.0, 0.4, 0.8]),     # STOP off the grid: excluded
    (["--rho", "0:0.3:0.1"], [0.0, 0.1, 0.2, 0.3]),  # 0.3/0.1 = 2.9999999999999996
    (["--rho=-1:1:0.5"], [-1.0, -0.5, 0.0, 0.5, 1.0]),
    (["--rho", "0.5:0.5:0.1"], [0.5]),
])
def test_rho_values_recorded(rho_args, expected, tmp_path, capsys):
    out = tmp_path / "r.zarr"
    code, _, err = call(["generate", out, *SETTINGS, "--samples-per-rho", "1",
                         "--split", "1,0,0", "--size", "8", *rho_args], capsys)
    assert code == 0, err
    store = ogmbench.open_store(out)
    assert store.attrs["rho_values"] == pytest.approx(expected, abs=1e-12)
    assert sorted(set(store.rho.tolist())) == pytest.approx(sorted(expected), abs=1e-6)


# --------------------------------------------------------------------------- bad input


BAD_GENERATE = [
    ("rho-above-1", ["--rho", "1.5"], ["rho", "1.5"]),
    ("rho-below-minus-1", ["--rho=-1.5,0"], ["rho", "-1.5"]),
    ("rho-3-classes", ["--classes", "3", "--rho=-0.6,0"], ["rho", "3 equicorrelated", "-0.6"]),
    ("rho-duplicate", ["--rho", "0,0.5,0"], ["distinct"]),
    ("rho-not-numbers", ["--rho", "a,b"], ["--rho", "'a,b'"]),
    ("rho-range-2-parts", ["--rho", "0:1"], ["--rho", "'0:1'"]),
    ("rho-range-backwards", ["--rho", "1:0:0.5"], ["--rho", "STEP > 0"]),
    ("rho-range-step-0", ["--rho", "0:1:0"], ["--rho", "STEP > 0"]),
    ("rho-empty", ["--rho", ","], ["rho"]),
    ("family", ["--family", "nope"], ["family", "'nope'", "field"]),
    ("noise-model", ["--noise", "nope:x=1"], ["noise model", "'nope'", "gaussian"]),
    ("noise-param", ["--noise", "gaussian:foo=1"], ["'foo'", "gaussian", "sigma"]),
    ("noise-not-key-value", ["--noise", "gaussian:sigma"], ["'sigma'", "key=value"]),
    ("noise-empty", ["--noise", ""], ["noise"]),
    ("noise-twice", ["--noise", "gaussian:sigma=1,sigma=2"], ["'sigma'", "twice"]),
    ("family-param", ["--param", "foo=1"], ["'foo'", "field", "length_scale"]),
    ("family-param-no-value", ["--param", "occupancy"], ["--param", "'occupancy'"]),
    ("family-param-range", ["--param", "occupancy=1"], ["occupancy", "(0, 1)"]),
    ("sigma-0", ["--noise", "gaussian:sigma=0"], ["sigma", "(0, inf)", "got 0"]),
    ("sigma-negative", ["--noise", "gaussian:sigma=-1"], ["sigma", "got -1"]),
    ("sigma-nan", ["--noise", "gaussian:sigma=nan"], ["sigma", "finite"]),
    ("fp-above-1", ["--noise", "flip:fp=1.5"], ["fp", "[0, 1]", "1.5"]),
    ("per-class-count", ["--noise", "gaussian:sigma=1/2/3"], ["sigma", "3 per-class", "2 classes"]),
    ("per-class-not-allowed", ["--noise", "gaussian:kappa=0.1/0.2"], ["kappa", "one value"]),
    ("size-0", ["--size", "0"], ["--size", "'0'"]),
    ("size-negative", ["--size", "-3"], ["--size", "'-3'"]),
    ("size-abc", ["--size", "abc"], ["--size", "'abc'"]),
    ("size-3-parts", ["--size", "8x8x8"], ["--size", "'8x8x8'"]),
    ("size-too-small", ["--size", "2"], ["size", "[4, 4096]", "got 2"]),
    ("size-too-large", ["--size", "100000"], ["size", "[4, 4096]", "got 100000"]),
    ("samples-per-rho-0", ["--samples-per-rho", "0"], ["samples-per-rho", "got 0"]),
    ("samples-per-rho-abc", ["--samples-per-rho", "abc"], ["--samples-per-rho", "'abc'"]),
    ("split-sum", ["--split", "0.5,0.5,0.5"], ["split", "summing to 1"]),
    ("split-negative", ["--split=-0.5,0.5,1"], ["split", "non-negative"]),
    ("split-2-values", ["--split", "0.5,0.5"], ["--split", "'0.5,0.5'"]),
    ("classes-1", ["--classes", "1"], ["classes", ">= 2", "got 1"]),
    ("urban-classes-3", ["--family", "urban", "--classes", "3"], ["urban", "names", "'3'"]),
    ("urban-classes-order", ["--family", "urban", "--classes", "drivable,vehicle"],
     ["write vehicle,drivable"]),
    ("urban-classes-unknown", ["--family", "urban", "--classes", "vehicle,tree"],
     ["no class 'tree'", "walkway"]),
    ("field-classes-names", ["--classes", "vehicle,drivable"], ["'field' numbers", "'vehicle"]),
    ("urban-too-wide", ["--family", "urban", "--size", "4x2049", "--param", "resolution=1"],
     ["at most 2048 m", "2049 cells of 1 m"]),
    ("classes-huge", ["--classes", "99999999999999999999"], ["at most 1000000"]),
    ("field-classes-superscript", ["--classes", "\u00b2"], ["'field' numbers", "'\u00b2'"]),
    ("seed-negative", ["--seed", "-1"], ["seed", "got -1"]),
    ("workers-0", ["--workers", "0"], ["workers", "got 0"]),
    ("overwrite-and-resume", ["--overwrite", "--resume"], ["--overwrite", "--resume"]),
    ("unknown-option", ["--bogus"], ["--bogus"]),
]


@pytest.mark.parametrize("extra, words", [b[1:] for b in BAD_GENERATE],
                         ids=[b[0] for b in BAD_GENERATE])
def test_generate_bad_input(extra, words, tmp_path, capsys):
    out = tmp_path / "out.zarr"
    code, stdout, err = call(["generate", out, *SETTINGS, *extra], capsys)
    assert_usage_error(code, stdout, err, *words)
    assert stdout == ""
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy, on the nan split counts
def test_generate_split_nan(tmp_path, capsys):
    out = tmp_path / "out.zarr"
    code, stdout, err = call(["generate", out, *SETTINGS, "--split", "nan,0.5,0.5"], capsys)
    assert_usage_error(code, stdout, err, "split")
    assert not out.exists()


def test_generate_rho_range_with_absurd_count(tmp_path, capsys):
    # Refused up front: building 1e300 values would exhaust memory.
    out = tmp_path / "out.zarr"
    code, stdout, err = call(["generate", out, *SETTINGS, "--rho", "0:1:1e-300"], capsys)
    assert_usage_error(code, stdout, err, "rho")
    assert not out.exists()


def test_generate_classes_3_with_default_noise(tmp_path, capsys):
    out = tmp_path / "c3.zarr"
    code, _, err = call(["generate", out, "--classes", "3", "--size", "8",
                         "--samples-per-rho", "1", "--rho", "0", "--split", "1,0,0"], capsys)
    assert code == 0, err
    assert ogmbench.open_store(out).classes == 3


def test_generate_out_exists_without_overwrite(store, capsys):
    before = snapshot(store)
    code, out, err = call(["generate", store, *SETTINGS, "--seed", "5"], capsys)
    assert_usage_error(code, out, err, str(store), "already exists", "--overwrite")
    assert snapshot(store) == before
    code, out, _ = call(["verify", store], capsys)
    assert code == 0 and "intact" in out


@pytest.mark.parametrize("overwrite", [False, True])
def test_generate_refuses_a_foreign_directory(overwrite, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious\n")
    before = snapshot(out)
    code, stdout, err = call(["generate", out, *SETTINGS] + (["--overwrite"] if overwrite else []),
                             capsys)
    words = ["not an ogmbench store", "refusing"] if overwrite else ["already exists"]
    assert_usage_error(code, stdout, err, str(out), *words)
    assert snapshot(out) == before


def test_generate_overwrite_refuses_a_plain_file(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_bytes(b"keep me\x00\x01")
    code, stdout, err = call(["generate", out, *SETTINGS, "--overwrite"], capsys)
    assert_usage_error(code, stdout, err, "not an ogmbench store")
    assert out.read_bytes() == b"keep me\x00\x01"


def test_generate_overwrite_replaces_an_ogmbench_store(tmp_path, capsys):
    out = make_store(tmp_path / "s.zarr", capsys)
    old = ogmbench.open_store(out).attrs["digest"]
    code, _, err = call(["generate", out, *SETTINGS, "--seed", "7", "--overwrite"], capsys)
    assert code == 0, err
    new = ogmbench.open_store(out)
    assert new.attrs["seed"] == 7 and new.attrs["digest"] != old


def test_generate_creates_missing_parent_directories(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "out.zarr"
    code, _, err = call(["generate", out, *SETTINGS], capsys)
    assert code == 0, err
    assert ogmbench.open_store(out).attrs["complete"]


def test_generate_below_a_regular_file(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("keep\n")
    out = blocker / "sub" / "out.zarr"
    code, stdout, err = call(["generate", out, *SETTINGS], capsys)
    assert_usage_error(code, stdout, err, "cannot write", str(out))
    assert blocker.read_text() == "keep\n"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_generate_in_read_only_directory(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, stdout, err = call(["generate", locked / "out.zarr", *SETTINGS], capsys)
        assert_usage_error(code, stdout, err, "permission denied", str(locked))
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


# --------------------------------------------------------------------------- bad stores


BAD_STORE_WORDS = {
    "missing": "no store at",
    "plain": "not a zarr v3 store",
    "foreign": "not an ogmbench store",
    "corrupt": "is corrupt",
    "incomplete": "incomplete",
}


@pytest.mark.parametrize("kind", list(BAD_STORE_WORDS))
@pytest.mark.parametrize("command", ["info", "verify", "show"])
def test_commands_refuse_bad_stores(command, kind, bad_stores, tmp_path, capsys):
    path = bad_stores[kind]
    before = snapshot(path)
    png = tmp_path / "g.png"
    argv = [command, path] + (["--out", png] if command == "show" else [])
    code, out, err = call(argv, capsys)
    if command == "verify" and kind == "incomplete":
        # Documented: "exit 1 if the store is damaged or incomplete" -- the report is
        # verify's result, so it goes to stdout.
        assert code == 1 and err == "" and "Traceback" not in out
        assert out.strip() == f"{path} is incomplete: finish it with " \
                              f"'ogmbench generate {path} --resume'"
    else:
        assert_usage_error(code, out, err, str(path), BAD_STORE_WORDS[kind])
        assert out == ""
    if kind == "incomplete" and command != "verify":
        assert "--resume" in err
    assert snapshot(path) == before
    assert not png.exists()


def test_show_bad_count(store, tmp_path, capsys):
    png = tmp_path / "g.png"
    code, out, err = call(["show", store, "-n", "0", "--out", png], capsys)
    assert_usage_error(code, out, err, "-n", "0")
    assert not png.exists()


@pytest.mark.parametrize("name", ["g.xyz", "g.jpg", "g.raw"])
def test_show_unsupported_extension(store, tmp_path, capsys, name):
    # jpg and raw carry no mark: show could never tell its picture from yours again.
    out = tmp_path / name
    code, stdout, err = call(["show", store, "--out", out], capsys)
    assert_usage_error(code, stdout, err, name.split(".")[1], "png")
    assert not out.exists()


def test_verify_bad_provenance(store, tmp_path, capsys):
    path = tmp_path / "attrs.zarr"
    shutil.copytree(store, path)
    zarr.open_group(str(path), mode="r+").attrs.update({"size": "x"})
    code, out, err = call(["info", path], capsys)
    assert_usage_error(code, out, err, "is corrupt")
    code, out, err = call(["verify", path], capsys)
    # verify names the damage of a store of ours, with its own exit code
    assert code == 1 and "DAMAGED" in out and "is corrupt" in out and "Traceback" not in err


def test_missing_array_metadata_gives_one_line(store, tmp_path):
    path = tmp_path / "no_noisy.zarr"
    shutil.copytree(store, path)
    (path / "noisy" / "zarr.json").unlink()
    # A subprocess: pytest would swallow the warning that a user sees.
    proc = subprocess.run([sys.executable, "-m", "ogmbench", "info", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {path} is corrupt: array 'noisy' is missing"]


# --------------------------------------------------------------------------- verify damage


def test_verify_names_the_damaged_shard_file(tmp_path, capsys):
    # 256x256 maps: 12 samples per shard, so 14 samples make shards 0 (0-11) and 1 (12-13).
    out = make_store(tmp_path / "big.zarr", capsys, "--size", "256", "--samples-per-rho", "7",
                     "--split", "1,0,0")
    assert ogmbench.open_store(out).layout.n_shards == 2
    shard_files = {}
    for root, _, files in os.walk(out / "noisy" / "c"):
        for name in files:
            full = Path(root) / name
            shard_files[full.relative_to(out / "noisy" / "c").parts[0]] = full
    assert set(shard_files) == {"0", "1"}
    target = shard_files["1"]
    data = bytearray(target.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
    target.write_bytes(bytes(data))
    code, stdout, err = call(["verify", out], capsys)
    assert code == 1, stdout + err
    assert "Traceback" not in stdout + err
    assert "DAMAGED" in stdout and "1 shard(s)" in stdout
    assert "1 (samples 12-13)" in stdout and "0 (samples" not in stdout


def test_verify_detects_a_valid_but_different_value(tmp_path, capsys):
    out = make_store(tmp_path / "s.zarr", capsys)
    zarr.open_group(str(out), mode="r+")["noisy"][0] = 0
    code, stdout, err = call(["verify", out], capsys)
    assert code == 1 and err == ""
    assert f"{out}: DAMAGED" in stdout and "0 (samples 0-7)" in stdout


# --------------------------------------------------------------------------- --resume


def test_resume_complete_store(store, capsys):
    before = snapshot(store)
    code, out, err = call(["generate", store, "--resume"], capsys)
    assert_usage_error(code, out, err, "already complete")
    assert snapshot(store) == before


@pytest.mark.parametrize("extra, name", [
    (["--seed", "1"], "seed"),
    (["--noise", "gaussian:sigma=0.2"], "noise"),
    (["--size", "24"], "size"),
    (["--rho", "0.5,0"], "rho"),
])
def test_resume_with_differing_setting(extra, name, bad_stores, tmp_path, capsys):
    path = tmp_path / "inc.zarr"
    shutil.copytree(bad_stores["incomplete"], path)
    before = snapshot(path)
    code, out, err = call(["generate", path, "--resume", *extra], capsys)
    assert_usage_error(code, out, err, "settings differ", name)
    assert snapshot(path) == before


def test_resume_finishes_an_incomplete_store(store, bad_stores, tmp_path, capsys):
    path = tmp_path / "inc.zarr"
    shutil.copytree(bad_stores["incomplete"], path)
    code, out, err = call(["generate", path, "--resume", "--seed", "0"], capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {path}: {SPR * len(RHOS)} samples")
    assert ogmbench.open_store(path).attrs["digest"] == ogmbench.open_store(store).attrs["digest"]
    code, out, _ = call(["verify", path], capsys)
    assert code == 0 and "intact" in out


@pytest.mark.parametrize("kind", ["missing", "plain", "foreign"])
def test_resume_refuses_non_stores(kind, bad_stores, capsys):
    path = bad_stores[kind]
    before = snapshot(path)
    code, out, err = call(["generate", path, "--resume"], capsys)
    assert_usage_error(code, out, err, str(path), BAD_STORE_WORDS[kind])
    assert snapshot(path) == before


def test_show_spreads_rows_over_the_rho_values(tmp_path, capsys):
    from ogmbench.show import pick_samples

    out = tmp_path / "five.zarr"
    code, _, err = call(["generate", out, "--size", "16", "--samples-per-rho", "4",
                         "--rho=-1:1:0.5", "--noise", "flip"], capsys)
    assert code == 0, err
    s = ogmbench.open_store(out)
    assert sorted({float(s.rho[i]) for i in pick_samples(s, 3)}) == [-1.0, 0.0, 1.0]
    assert len(pick_samples(s, 7)) == 7
    code, stdout, err = call(["show", out, "-n", "100", "--out", tmp_path / "x.png"], capsys)
    assert_usage_error(code, stdout, err, "-n", "100")
