"""Sealed evaluation: a test split from a secret seed, committed before and revealed after."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ogmbench import make_config, open_store, reproduce
from ogmbench.generate import generate, make_sample
from ogmbench.sealing import (PENDING, SEALED, SealError, check_record, commitment, draw,
                              record)

from cli_helpers import assert_usage_error, benchmark_toml, call

pytest.importorskip("torch")

TINY = benchmark_toml(estimators=("identity", "median", "unet"), prior_controls=(),
                      samples_per_rho=12, steps=5)


def _bench(folder: Path, test_seed: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = TINY if test_seed is None else TINY.replace(
        "[profile.default]\n", f"[profile.default]\ntest_seed = {test_seed}\n")
    path = folder / "bench.toml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- the seal


def test_the_commitment_is_the_sha256_of_nonce_and_seed_and_hides_the_seed():
    seal = draw()
    text = f"ogmbench-sealed-test-seed:{seal.nonce}:{seal.test_seed}"
    assert seal.commitment == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert str(seal.test_seed) not in seal.commitment
    # Drawn from the OS: two draws differ; the seed fits a TOML integer.
    other = draw()
    assert (other.test_seed, other.nonce) != (seal.test_seed, seal.nonce)
    assert 0 <= seal.test_seed < 2 ** 63


def test_a_revealed_record_is_checked_against_its_commitment():
    seal = draw()
    data = json.loads(json.dumps(record(seal)))
    assert check_record(data, "x")["test_seed"] == seal.test_seed
    for key, value in (("test_seed", seal.test_seed + 1), ("nonce", "00" * 16),
                       ("commitment", commitment("ab", 1))):
        with pytest.raises(SealError, match="do not hash to the commitment"):
            check_record({**data, key: value}, "x")
    with pytest.raises(SealError, match="not a seal record"):
        check_record({"sealed": True}, "x")


# --------------------------------------------------------------------------- the stores


def test_the_test_seed_draws_only_the_test_split(tmp_path):
    settings = dict(rho=[0.0, 0.9], samples_per_rho=10, size=16)
    public = make_config(**settings)
    sealed = make_config(**settings, test_seed=12345)
    assert "test_seed" not in public.to_json()  # stores made before it are unchanged
    assert sealed.to_json()["test_seed"] == 12345
    for index in range(public.n_samples):
        split = public.locate(index)[0]
        same = all(np.array_equal(a, b) for a, b in zip(make_sample(public, index),
                                                        make_sample(sealed, index)))
        assert same == (split != 2), (index, split)
    store = generate(tmp_path / "s.zarr", sealed)
    assert open_store(tmp_path / "s.zarr").attrs["config"]["test_seed"] == 12345
    assert store.attrs["digest"] != generate(tmp_path / "p.zarr", public).attrs["digest"]


def test_generate_takes_a_test_seed_and_info_shows_it(tmp_path, capsys):
    path = tmp_path / "s.zarr"
    code, out, err = call(["generate", str(path), "--samples-per-rho", "10", "--size", "16",
                           "--test-seed", "77"], capsys)
    assert code == 0, err
    code, out, err = call(["info", str(path)], capsys)
    assert code == 0 and "seed 0 (test 77)" in out
    code, out, err = call(["generate", str(tmp_path / "t.zarr"), "--test-seed", "-1"], capsys)
    assert_usage_error(code, out, err, "test seed")


# --------------------------------------------------------------------------- reproduce


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sealed")
    messages = []
    out, _ = reproduce(_bench(root), out=root / "out", sealed=True, log=messages.append)
    return {"root": root, "out": out, "log": messages}


def test_a_sealed_reproduction_commits_first_and_reveals_in_the_report(sealed_run):
    out, messages = sealed_run["out"], sealed_run["log"]
    seal = json.loads((out / SEALED).read_text())
    check_record(seal, "sealed.json")
    assert seal["sealed"] is True
    # The commitment is told before any store is made.
    first = next(i for i, m in enumerate(messages) if m.startswith("sealed:"))
    made = next(i for i, m in enumerate(messages) if "generating" in m)
    assert first < made and seal["commitment"] in messages[first]
    assert str(seal["test_seed"]) not in messages[first]
    assert not (out / PENDING).exists()
    store = open_store(out / "work" / "stores" / "field-g.zarr")
    assert store.attrs["config"]["test_seed"] == seal["test_seed"]
    readme = (out / "README.md").read_text()
    assert "sealed: every test split was drawn from a secret seed" in readme
    assert f"The profile's `test_seed = {seal['test_seed']}` regenerates them." in readme
    assert seal["commitment"] in readme and seal["commitment"] in (out / "index.html").read_text()


def test_the_revealed_seed_regenerates_the_sealed_results(sealed_run, tmp_path):
    seal = json.loads((sealed_run["out"] / SEALED).read_text())
    again, _ = reproduce(_bench(tmp_path, seal["test_seed"]), out=tmp_path / "again")
    assert ((again / "results.csv").read_bytes()
            == (sealed_run["out"] / "results.csv").read_bytes())
    mine = json.loads((again / SEALED).read_text())
    assert mine["sealed"] is False and mine["test_seed"] == seal["test_seed"]
    assert "not sealed: the test splits come from the profile's test seed" in (
        again / "README.md").read_text()


def test_an_unsealed_reproduction_says_so_and_replaces_an_old_seal(sealed_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(sealed_run["out"], out)
    reproduce(_bench(tmp_path), out=out)
    assert json.loads((out / SEALED).read_text()) == {
        "mark": "written by ogmbench reproduce; do not edit by hand", "format": 1,
        "sealed": False, "test_seed": None}
    assert "not sealed: the test splits come from the profile's public seed" in (
        out / "README.md").read_text()


def test_an_interrupted_sealed_reproduction_resumes_its_seal(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    seal = draw()
    (out / PENDING).write_text(json.dumps({
        "mark": "written by ogmbench reproduce; do not edit by hand",
        "commitment": seal.commitment, "drawn": seal.drawn, "test_seed": seal.test_seed,
        "nonce": seal.nonce, "revealed": None}))
    messages = []
    reproduce(_bench(tmp_path), out=out, sealed=True, log=messages.append)
    assert any(m.startswith("sealed: resuming") and seal.commitment in m for m in messages)
    assert json.loads((out / SEALED).read_text())["test_seed"] == seal.test_seed


def test_an_edited_pending_seal_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    seal = draw()
    (out / PENDING).write_text(json.dumps({
        "mark": "written by ogmbench reproduce; do not edit by hand",
        "commitment": seal.commitment, "drawn": seal.drawn, "test_seed": seal.test_seed + 1,
        "nonce": seal.nonce, "revealed": None}))
    code, stdout, err = call(["reproduce", str(_bench(tmp_path)), "--out", str(out),
                              "--sealed"], capsys)
    assert_usage_error(code, stdout, err, "does not hash to its commitment")
    assert not (out / "work").exists()


@pytest.mark.parametrize("flag", ["--check", "--beside"])
def test_sealed_is_not_compared_with_published_samples(tmp_path, capsys, flag):
    code, out, err = call(["reproduce", str(_bench(tmp_path)), "--out", str(tmp_path / "o"),
                           "--sealed", flag, str(tmp_path / "published"),
                           "--estimator", "gaussian"], capsys)
    assert_usage_error(code, out, err, "--sealed", flag)
    assert not (tmp_path / "o").exists()


def test_a_foreign_sealed_json_in_the_report_folder_is_kept(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / SEALED).write_text('{"mine": true}')
    code, stdout, err = call(["reproduce", str(_bench(tmp_path)), "--out", str(out)], capsys)
    assert_usage_error(code, stdout, err, "sealed.json")
    assert (out / SEALED).read_text() == '{"mine": true}'


def test_beside_a_sealed_folder_needs_its_revealed_test_seed(sealed_run, tmp_path, capsys):
    code, out, err = call(["reproduce", str(_bench(tmp_path)), "--out", str(tmp_path / "o"),
                           "--beside", str(sealed_run["out"]), "--estimator", "gaussian"],
                          capsys)
    seed = json.loads((sealed_run["out"] / SEALED).read_text())["test_seed"]
    assert_usage_error(code, out, err, f"set test_seed = {seed}")


def test_a_seal_already_revealed_is_never_resumed(sealed_run, tmp_path):
    """Stopped between publishing the report and removing the secret: the next sealed
    reproduction draws a new seed (the old one is public)."""
    out = tmp_path / "out"
    shutil.copytree(sealed_run["out"], out)
    old = json.loads((out / SEALED).read_text())
    (out / PENDING).write_text(json.dumps({**old, "revealed": None}))
    messages = []
    reproduce(_bench(tmp_path), out=out, sealed=True, log=messages.append)
    new = json.loads((out / SEALED).read_text())
    assert new["sealed"] and new["commitment"] != old["commitment"]
    assert not any("resuming" in m for m in messages)


def test_beside_the_folder_of_another_profile_names_the_folder_to_give(sealed_run, tmp_path,
                                                                       capsys):
    text = TINY.replace('name = "field-g"', 'name = "other-data"')
    path = tmp_path / "b.toml"
    path.write_text(text)
    code, out, err = call(["reproduce", str(path), "--out", str(tmp_path / "o"), "--beside",
                           str(sealed_run["out"]), "--estimator", "gaussian"], capsys)
    assert_usage_error(code, out, err, "holds the rows of dataset field-g, not of other-data",
                       "give the folder published for profile default")
