"""Benchmark files: ``load_benchmark``'s schema and messages, ``config_hash``, and the
checks ``ogmbench reproduce`` makes before any work starts.

A bad benchmark file is refused with one ``BenchmarkError`` line naming the file, the
table and the key; on the command line that is exit 2, one ``error: `` line, no
traceback, and no output directory.  Nothing here generates a store or trains a model:
every ``reproduce`` call is refused by its input validation.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ogmbench.benchmark import Benchmark, BenchmarkError, load_benchmark
from ogmbench.cli import cli
from ogmbench.errors import ConfigError
from ogmbench.results import GENERATED, RESULT_COLUMNS
from ogmbench.specs import KNOWING

from cli_helpers import assert_usage_error, call, snapshot  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1] / "leaderboard" / "benchmark.toml"

# A tiny valid benchmark stating every key; each bad case changes one thing in it.
BASE = {
    "benchmark": {"name": "tiny", "version": 1, "description": "a tiny benchmark"},
    "dataset": [{"name": "fg", "family": "field", "noise": "gaussian:sigma=0.5", "target": 0,
                 "description": "Gaussian fields"}],
    "eval": {"estimators": ["identity", "unet"], "prior_controls": ["shuffled"],
             "reference": "unet", "seed": 0},
    "profile": {"default": {"description": "seconds", "rho": [0.0, 0.5], "samples_per_rho": 10,
                            "size": 16, "split": [0.6, 0.2, 0.2], "seed": 0, "training": "quick",
                            "steps": 5, "train_seeds": 1, "device": "cpu"}},
    "check": {"rtol": 0.05, "atol": 0.002},
}
PROFILE = BASE["profile"]["default"]
DROP = object()  # a change that removes the key


# --------------------------------------------------------------------------- helpers


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {v!r}")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _array_of_tables(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def to_toml(table: dict, prefix: str = "") -> str:
    """A small TOML writer: scalars first, then [tables] and [[arrays of tables]]."""
    lines = []
    scalars = {k: v for k, v in table.items()
               if not isinstance(v, dict) and not _array_of_tables(v)}
    nested = {k: v for k, v in table.items() if k not in scalars}
    if prefix and (scalars or not nested):
        lines.append(f"[{prefix}]")
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for k, v in nested.items():
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict):
            lines.append(to_toml(v, name))
        else:
            for item in v:
                lines.append(f"[[{name}]]")
                lines += [f"{_key(a)} = {_value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


def modified(changes: dict | None = None) -> dict:
    """BASE with ``{path tuple: value or DROP}`` applied."""
    data = copy.deepcopy(BASE)
    for path, value in (changes or {}).items():
        table = data
        for part in path[:-1]:
            table = table[part]
        if value is DROP:
            del table[path[-1]]
        else:
            table[path[-1]] = value
    return data


def write(folder: Path, changes: dict | None = None, name: str = "bench.toml") -> Path:
    path = Path(folder) / name
    path.write_text(to_toml(modified(changes)))
    return path


def made(path: Path, content) -> Path:
    """``path`` with ``content`` (text or bytes) written to it."""
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def refused(path, profile="default") -> str:
    """The one-line message of the BenchmarkError ``load_benchmark`` raises."""
    with pytest.raises(BenchmarkError) as info:
        load_benchmark(path, profile)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def assert_words(message: str, words) -> None:
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def with_profile(**keys) -> dict:
    """A second, valid-unless-told profile (the one not selected)."""
    return {k: v for k, v in {**PROFILE, **keys}.items() if v is not DROP}


# --------------------------------------------------------------------------- bad files

P = ("profile", "default")
D = ("dataset", 0)

BAD = [
    # unknown sections and keys, in every table
    pytest.param({("extras",): {"a": 1}}, ["the top level", "unknown key 'extras'"],
                 id="unknown-section"),
    pytest.param({("title",): "x"}, ["the top level", "unknown key 'title'"], id="unknown-top-key"),
    pytest.param({("benchmark", "author"): "me"}, ["[benchmark]", "unknown key 'author'"],
                 id="unknown-benchmark-key"),
    pytest.param({D + ("colour",): "red"}, ["[[dataset]] fg", "unknown key 'colour'"],
                 id="unknown-dataset-key"),
    pytest.param({("eval", "metric"): "mse"}, ["[eval]", "unknown key 'metric'"],
                 id="unknown-eval-key"),
    pytest.param({P + ("epochs",): 3}, ["[profile.default]", "unknown key 'epochs'"],
                 id="unknown-profile-key"),
    pytest.param({("profile", "paper"): with_profile(epochs=3)},
                 ["[profile.paper]", "unknown key 'epochs'"], id="unknown-key-other-profile"),
    pytest.param({("check", "tol"): 0.1}, ["[check]", "unknown key 'tol'"], id="unknown-check-key"),
    # missing sections
    pytest.param({("benchmark",): DROP}, ["missing [benchmark] section"], id="no-benchmark"),
    pytest.param({("dataset",): DROP}, ["no [[dataset]] tables"], id="no-dataset"),
    pytest.param({("eval",): DROP}, ["missing [eval] section"], id="no-eval"),
    pytest.param({("profile",): DROP}, ["missing [profile] section"], id="no-profile"),
    pytest.param({("profile",): {}}, ["[profile]", "no profiles"], id="empty-profile"),
    pytest.param({("dataset",): []}, ["dataset", "array of tables"], id="empty-dataset"),
    # missing required keys
    pytest.param({("benchmark", "name"): DROP}, ["[benchmark]", "missing key 'name'"],
                 id="missing-name"),
    pytest.param({("benchmark", "version"): DROP}, ["[benchmark]", "missing key 'version'"],
                 id="missing-version"),
    pytest.param({D + ("name",): DROP}, ["[[dataset]] 1", "missing key 'name'"],
                 id="missing-dataset-name"),
    pytest.param({D + ("family",): DROP}, ["[[dataset]] fg", "missing key 'family'"],
                 id="missing-family"),
    pytest.param({("eval", "estimators"): DROP}, ["[eval]", "missing key 'estimators'"],
                 id="missing-estimators"),
    *[pytest.param({P + (key,): DROP}, ["[profile.default]", f"missing key '{key}'"],
                   id=f"missing-{key}")
      for key in ("rho", "samples_per_rho", "size", "training")],
    pytest.param({("profile", "paper"): with_profile(training=DROP)},
                 ["[profile.paper]", "missing key 'training'"], id="missing-key-other-profile"),
    # wrong types (booleans are not integers)
    pytest.param({("benchmark", "version"): "1"},
                 ["[benchmark]", "version must be an integer", "string '1'"], id="version-str"),
    pytest.param({("benchmark", "version"): True},
                 ["[benchmark]", "version must be an integer", "boolean"], id="version-bool"),
    pytest.param({("benchmark", "name"): 3}, ["[benchmark]", "name must be a string"],
                 id="name-int"),
    pytest.param({P + ("samples_per_rho",): "10"},
                 ["[profile.default]", "samples_per_rho must be an integer", "'10'"],
                 id="samples-str"),
    pytest.param({P + ("samples_per_rho",): True},
                 ["[profile.default]", "samples_per_rho must be an integer", "boolean"],
                 id="samples-bool"),
    pytest.param({P + ("samples_per_rho",): 10.0},
                 ["[profile.default]", "samples_per_rho must be an integer", "10.0"],
                 id="samples-float"),
    pytest.param({P + ("size",): "16"}, ["[profile.default]", "size must be", "'16'"],
                 id="size-str"),
    pytest.param({P + ("rho",): 0.5}, ["[profile.default]", "rho must be an array"],
                 id="rho-scalar"),
    pytest.param({P + ("split",): "0.6,0.2,0.2"}, ["[profile.default]", "split must be an array"],
                 id="split-str"),
    pytest.param({P + ("steps",): 1.5}, ["[profile.default]", "steps must be an integer"],
                 id="steps-float"),
    pytest.param({P + ("train_seeds",): True},
                 ["[profile.default]", "train_seeds must be an integer", "boolean"],
                 id="train-seeds-bool"),
    pytest.param({P + ("training",): 1}, ["[profile.default]", "training must be a string"],
                 id="training-int"),
    pytest.param({P + ("device",): True}, ["[profile.default]", "device must be a string"],
                 id="device-bool"),
    pytest.param({P + ("datasets",): "fg"}, ["[profile.default]", "datasets must be an array"],
                 id="datasets-str"),
    pytest.param({P + ("seed",): "0"}, ["[profile.default]", "seed must be an integer"],
                 id="profile-seed-str"),
    pytest.param({("eval", "estimators"): "unet"}, ["[eval]", "estimators must be an array"],
                 id="estimators-str"),
    pytest.param({("eval", "estimators"): ["unet", 3]},
                 ["[eval] estimators", "array of strings"], id="estimators-not-strings"),
    pytest.param({("eval", "reference"): 1}, ["[eval]", "reference must be a string"],
                 id="reference-int"),
    pytest.param({("eval", "seed"): "0"}, ["[eval]", "seed must be an integer"],
                 id="eval-seed-str"),
    pytest.param({("eval", "prior_controls"): "shuffled"},
                 ["[eval]", "prior_controls must be an array"], id="controls-str"),
    pytest.param({D + ("target",): "0"}, ["[[dataset]] fg", "target must be an integer"],
                 id="target-str"),
    pytest.param({D + ("target",): False}, ["[[dataset]] fg", "target must be an integer",
                                            "boolean"], id="target-bool"),
    pytest.param({D + ("params",): "x"}, ["[[dataset]] fg", "params must be a table"],
                 id="params-str"),
    pytest.param({D + ("noise",): 1}, ["[[dataset]] fg", "noise must be a string"],
                 id="noise-int"),
    pytest.param({("check", "rtol"): "x"}, ["[check]", "rtol must be", "number", "'x'"],
                 id="rtol-str"),
    pytest.param({("check", "atol"): True}, ["[check]", "atol must be", "boolean"],
                 id="atol-bool"),
    pytest.param({("benchmark",): 3}, ["[benchmark] must be a table"], id="benchmark-not-table"),
    pytest.param({("eval",): 3}, ["[eval] must be a table"], id="eval-not-table"),
    pytest.param({("check",): 3}, ["[check] must be a table"], id="check-not-table"),
    pytest.param({P: 3}, ["[profile.default] must be a table"], id="profile-not-table"),
    pytest.param({("dataset",): "x"}, ["dataset must be an array of tables"],
                 id="dataset-not-array"),
    pytest.param({("dataset",): [1, 2]}, ["dataset 1 is not a table"], id="dataset-not-tables"),
    # impossible values
    pytest.param({("benchmark", "version"): 0}, ["[benchmark] version", ">= 1", "got 0"],
                 id="version-0"),
    pytest.param({P + ("rho",): [0.0, 1.5]}, ["[profile.default]", "rho", "[-1, 1]", "1.5"],
                 id="rho-above-1"),
    pytest.param({P + ("rho",): [-1.5]}, ["[profile.default]", "rho", "[-1, 1]", "-1.5"],
                 id="rho-below-minus-1"),
    pytest.param({P + ("rho",): []}, ["[profile.default]", "rho", "at least one"], id="rho-empty"),
    pytest.param({P + ("rho",): [0.5, 0.5]}, ["[profile.default]", "rho", "distinct"],
                 id="rho-repeated"),
    pytest.param({P + ("samples_per_rho",): 0}, ["[profile.default]", ">= 1", "got 0"],
                 id="samples-0"),
    pytest.param({P + ("size",): 0}, ["[profile.default]", "size", "[4, 4096]", "got 0"],
                 id="size-0"),
    pytest.param({P + ("size",): 5000}, ["[profile.default]", "size", "got 5000"],
                 id="size-huge"),
    pytest.param({P + ("size",): [16, 2]}, ["[profile.default]", "size", "width", "got 2"],
                 id="size-width-2"),
    pytest.param({P + ("split",): [0.5, 0.5, 0.5]}, ["[profile.default]", "split", "summing to 1"],
                 id="split-sum"),
    pytest.param({P + ("split",): [0.5, 0.5]}, ["[profile.default]", "split", "three"],
                 id="split-two"),
    pytest.param({P + ("split",): [-0.2, 0.6, 0.6]}, ["[profile.default]", "split", "non-negative"],
                 id="split-negative"),
    pytest.param({P + ("split",): [0.0, 0.5, 0.5]}, ["[profile.default]", "split", "no train"],
                 id="split-no-train"),
    pytest.param({P + ("split",): [1.0, 0.0, 0.0]}, ["[profile.default]", "split", "no test"],
                 id="split-no-test"),
    pytest.param({P + ("seed",): -1}, ["[profile.default]", "seed", "from 0 to 2^63 - 1", "-1"],
                 id="profile-seed-negative"),
    pytest.param({D + ("family",): "forest"},
                 ["[[dataset]] fg", "unknown family 'forest'", "field", "urban"],
                 id="unknown-family"),
    pytest.param({D + ("noise",): "bogus"}, ["[[dataset]] fg", "unknown noise model 'bogus'"],
                 id="unknown-noise"),
    pytest.param({D + ("noise",): "gaussian:bogus=1"},
                 ["[[dataset]] fg", "unknown parameter 'bogus'", "gaussian"],
                 id="unknown-noise-param"),
    pytest.param({D + ("noise",): "gaussian:sigma=-1"}, ["[[dataset]] fg", "sigma", "-1"],
                 id="noise-param-range"),
    pytest.param({D + ("params",): {"bogus": 1}},
                 ["[[dataset]] fg", "unknown parameter 'bogus'", "field"],
                 id="unknown-family-param"),
    pytest.param({D + ("target",): 2}, ["[[dataset]] fg", "target", "0..1", "got 2"],
                 id="target-2"),
    pytest.param({D + ("target",): -1}, ["[[dataset]] fg", "target", "0..1", "got -1"],
                 id="target-negative"),
    pytest.param({D + ("name",): "a b"}, ["[[dataset]]", "name must be", "'a b'"],
                 id="dataset-name-space"),
    pytest.param({("dataset",): [BASE["dataset"][0], dict(BASE["dataset"][0], noise="lidar")]},
                 ["two datasets", "'fg'"], id="dataset-name-twice"),
    pytest.param({P + ("training",): "slow"},
                 ["[profile.default]", "training", "quick, default, paper", "'slow'"],
                 id="training-unknown"),
    pytest.param({P + ("steps",): 0}, ["[profile.default]", "steps", ">= 1", "got 0"],
                 id="steps-0"),
    pytest.param({P + ("train_seeds",): 0}, ["[profile.default]", "train_seeds", "[1, 100]",
                                             "got 0"], id="train-seeds-0"),
    pytest.param({P + ("train_seeds",): 101}, ["[profile.default]", "train_seeds", "[1, 100]",
                                               "got 101"], id="train-seeds-101"),
    pytest.param({P + ("device",): "tpu"}, ["[profile.default]", "device", "auto, cpu or cuda",
                                            "'tpu'"], id="device-unknown"),
    pytest.param({("eval", "prior_controls"): ["bogus"]},
                 ["[eval] prior_controls", "unknown control 'bogus'", "shuffled"],
                 id="control-unknown"),
    pytest.param({("eval", "prior_controls"): ["shuffled", "shuffled"]},
                 ["[eval] prior_controls", "twice"], id="control-twice"),
    pytest.param({("eval", "reference"): "median"},
                 ["[eval] reference 'median'", "identity, unet"], id="reference-not-listed"),
    pytest.param({("eval", "reference"): DROP, ("eval", "estimators"): ["identity", "median"]},
                 ["[eval] reference 'unet'", "identity, median"], id="default-reference-missing"),
    pytest.param({("eval", "estimators"): ["identity", "unet", "nope"]},
                 ["[eval] estimators", "unknown estimator 'nope'", "median"],
                 id="estimator-unknown"),
    pytest.param({("eval", "estimators"): ["identity", "unet", "median:bogus=1"]},
                 ["[eval] estimators", "'median'", "no parameter 'bogus'"],
                 id="estimator-param-unknown"),
    pytest.param({("eval", "estimators"): ["identity:steps=3", "unet"]},
                 ["[eval] estimators", "'identity'", "no parameter 'steps'"],
                 id="estimator-param-not-learned"),
    pytest.param({("eval", "estimators"): ["identity", "unet", "median:3"]},
                 ["[eval] estimators", "'median:3'", "key=value"], id="estimator-param-syntax"),
    pytest.param({("eval", "estimators"): []}, ["[eval] estimators is empty"],
                 id="estimators-empty"),
    pytest.param({("eval", "estimators"): ["identity", "unet", "unet"]},
                 ["[eval] estimators", "twice"], id="estimators-twice"),
    pytest.param({("eval", "seed"): -1}, ["[eval] seed", "from 0 to 2^63 - 1", "-1"],
                 id="eval-seed-negative"),
    pytest.param({P + ("datasets",): ["fg", "nope"]},
                 ["[profile.default] datasets", "'nope' is not a dataset (fg)"],
                 id="profile-dataset-unknown"),
    pytest.param({P + ("datasets",): []}, ["[profile.default] datasets is empty"],
                 id="profile-datasets-empty"),
    pytest.param({P + ("datasets",): ["fg", "fg"]}, ["[profile.default] datasets", "twice"],
                 id="profile-datasets-twice"),
    pytest.param({("check", "rtol"): -0.1}, ["[check]", "rtol and atol", ">= 0"],
                 id="rtol-negative"),
]


def test_base_config_loads(tmp_path):
    bench = load_benchmark(write(tmp_path))
    assert isinstance(bench, Benchmark)
    assert (bench.name, bench.version, bench.profile) == ("tiny", 1, "default")
    assert bench.profiles == ("default",)
    assert bench.estimators == ("identity", "unet") and bench.reference == "unet"
    assert bench.prior_controls == ("shuffled",)
    assert bench.training_params == {"profile": "quick", "steps": 5}
    assert (bench.train_seeds, bench.device, bench.rtol, bench.atol) == (1, "cpu", 0.05, 0.002)
    [dataset] = bench.datasets
    assert dataset.name == "fg" and dataset.target == 0 and dataset.target_name == "X1"
    config = dataset.config
    assert config.family == "field" and config.noise.startswith("gaussian:sigma=0.5")
    assert config.rho == (0.0, 0.5) and config.samples_per_rho == 10
    assert config.size == (16, 16) and config.split == (0.6, 0.2, 0.2)


def test_only_required_keys_take_the_defaults(tmp_path):
    path = tmp_path / "minimal.toml"
    path.write_text(to_toml({
        "benchmark": {"name": "min", "version": 2},
        "dataset": [{"name": "f", "family": "field"}],
        "eval": {"estimators": ["identity", "unet"]},
        "profile": {"default": {"rho": [0.0], "samples_per_rho": 10, "size": 16,
                                "training": "quick"}},
        "check": {"rtol": 0.1, "atol": 0.01},
    }))
    bench = load_benchmark(path)
    assert bench.reference == "unet" and bench.prior_controls == () and bench.seed == 0
    assert bench.steps is None and bench.training_params == {"profile": "quick"}
    assert (bench.train_seeds, bench.device, bench.rtol, bench.atol) == (1, "auto", 0.1, 0.01)
    assert bench.description == "" and bench.profile_description == ""
    assert bench.datasets[0].target == 0 and bench.datasets[0].config.split == (0.7, 0.1, 0.2)


def test_profile_datasets_select_and_order(tmp_path):
    second = dict(BASE["dataset"][0], name="fl", noise="flip:fp=0.1,fn=0.1")
    both = [BASE["dataset"][0], second]
    assert [d.name for d in load_benchmark(write(tmp_path, {("dataset",): both})).datasets] \
        == ["fg", "fl"]
    path = write(tmp_path, {("dataset",): both, P + ("datasets",): ["fl"]}, "one.toml")
    assert [d.name for d in load_benchmark(path).datasets] == ["fl"]


def test_benchmark_error_is_a_config_error():
    assert issubclass(BenchmarkError, ConfigError)


@pytest.mark.parametrize("changes, words", BAD)
def test_bad_config_is_refused_in_one_line(tmp_path, changes, words):
    assert_words(refused(write(tmp_path, changes)), words)


def test_unknown_profile_lists_the_profiles(tmp_path):
    path = write(tmp_path, {("profile", "paper"): with_profile()})
    assert load_benchmark(path, "paper").profile == "paper"
    assert_words(refused(path, "gpu"), ["no profile 'gpu'", "profiles: default, paper"])


def test_every_profile_is_checked_not_only_the_selected_one(tmp_path):
    path = write(tmp_path, {("profile", "paper"): with_profile(epochs=3)})
    for profile in ("default", "paper"):
        assert_words(refused(path, profile), ["[profile.paper]", "unknown key 'epochs'"])


@pytest.mark.parametrize("content, words", [
    pytest.param("[benchmark\nname = 'x'\n", ["is not valid TOML", "line 1"], id="bad-header"),
    pytest.param("x = \n", ["is not valid TOML"], id="no-value"),
    pytest.param(to_toml(BASE) + "\n[benchmark]\nname = 'again'\n", ["is not valid TOML"],
                 id="table-twice"),
    pytest.param(b"\x89PNG\r\n\x1a\n\xff\xfe\x00", ["is not a text (TOML) file"], id="binary"),
])
def test_unreadable_file_is_refused(tmp_path, content, words):
    path = tmp_path / "bench.toml"
    assert_words(refused(made(path, content)), words)


def test_missing_file_and_directory_are_refused(tmp_path):
    assert_words(refused(tmp_path / "nothing.toml"), ["does not exist"])
    assert_words(refused(tmp_path), ["is a directory"])


# --------------------------------------------------------------------------- key names

# List values are checked before make_config, whose messages would use the CLI's
# spelling (samples-per-rho) or not name the key at all (float('a')).
UNNAMED_KEY = [
    pytest.param({P + ("rho",): ["a"]}, "rho", id="rho-strings"),
    pytest.param({P + ("split",): ["a", "b", "c"]}, "split", id="split-strings"),
    pytest.param({P + ("size",): [16]}, "size", id="size-one-value"),
    pytest.param({P + ("size",): [16, 16, 16]}, "size", id="size-three-values"),
    pytest.param({P + ("samples_per_rho",): 0}, "samples_per_rho", id="samples-0-cli-spelling"),
]


@pytest.mark.parametrize("changes, key", UNNAMED_KEY)
def test_bad_list_value_names_its_key(tmp_path, changes, key):
    assert_words(refused(write(tmp_path, changes)), [key])


def test_boolean_rho_is_refused(tmp_path):
    assert_words(refused(write(tmp_path, {P + ("rho",): [0.0, True]})), ["rho"])


@pytest.mark.parametrize("changes", [
    pytest.param({D + ("name",): "f\ng"}, id="dataset-name"),
    pytest.param({("profile", "x\ny"): with_profile(epochs=3)}, id="profile-name"),
    pytest.param({("eval", "estimators"): ["identity", "u\nnet"]}, id="estimator-list"),
])
def test_newline_in_a_name_keeps_the_message_on_one_line(tmp_path, changes):
    refused(write(tmp_path, changes))


# --------------------------------------------------------------------------- reference file


def test_reference_benchmark_loads_both_profiles():
    default = load_benchmark(REFERENCE)
    paper = load_benchmark(REFERENCE, "paper")
    assert default.name == paper.name == "ogmbench-reference"
    assert default.version == paper.version >= 1
    assert set(default.profiles) == {"default", "bev-cpu", "time-cpu", "white-cpu", "paper"}
    assert default.profile == "default"
    assert paper.profile == "paper"
    assert default.reference in default.estimators and "identity" in default.estimators
    assert set(default.estimators) <= set(paper.estimators)
    # Issue 28: the default profile trains unet, concat and concat's blind twin three
    # times each; the oracle twin and the data-scaling sweep are the paper profile's.
    names = {s.name for s in default.specs}
    assert {"unet", "concat", "concat-shuffled"} <= names and "concat-oracle" not in names
    assert {"film", "xattn", "concat-oracle"} <= {s.name for s in paper.specs}
    assert not default.train_sizes and paper.train_sizes
    assert [s.name for s in paper.scaling_specs] == ["unet", "concat"]
    for profile in ("default", "bev-cpu", "time-cpu", "white-cpu", "paper"):
        assert load_benchmark(REFERENCE, profile).train_seeds >= 3
    # Issue 29: the Bayes-optimal references run where the true model is readable, the
    # white fields of white-cpu (and of the paper profile), and nowhere else.
    white = load_benchmark(REFERENCE, "white-cpu")
    assert [d.name for d in white.datasets] == ["field-white"]
    for profile in (white, paper):
        runs = {d.name: {s.name for s in profile.specs if d.runs(s)} for d in profile.datasets}
        assert {n for n, names in runs.items() if "bayes-optimal" in names} == {"field-white"}
        assert all("bayes-optimal-x1" in names for n, names in runs.items() if n == "field-white")
    assert [d.name for d in default.datasets] == ["field-gaussian"]
    # The default profile's smooth fields at 32x32: the sampled references run there.
    [smooth] = default.datasets
    assert {"bayes-optimal", "bayes-optimal-x1"} <= {s.name for s in default.specs
                                                     if smooth.runs(s)}
    assert {d.name for d in default.datasets} <= {d.name for d in paper.datasets}
    assert default.training == "default" and paper.training == "paper"
    by_name = {d.name: d for d in paper.datasets}
    for small in default.datasets:
        big = by_name[small.name]
        assert big.config.size[0] > small.config.size[0]
        assert big.config.size[1] > small.config.size[1]
        assert big.config.samples_per_rho > small.config.samples_per_rho
        assert len(big.config.rho) >= len(small.config.rho)
        assert small.target == big.target
        assert default.config_hash(small) != paper.config_hash(big)
    # Issue 13: the BEV-scale dataset at 100 m x 100 m on 0.5 m cells in the paper profile,
    # and its CPU variant, the same scenes at 32 m x 32 m on 1 m cells, in its own profile.
    cpu = load_benchmark(REFERENCE, "bev-cpu")
    [small] = cpu.datasets
    big = by_name["urban-bev"]
    assert big.config.size == (200, 200) and big.config.family_params["resolution"] == 0.5
    assert small.config.size == (32, 32) and small.config.family_params["resolution"] == 1.0
    for dataset in (small, big):
        assert dataset.config.class_names == ["vehicle", "drivable", "walkway"]
        assert dataset.target_name == "vehicle" and dataset.config.noise.startswith("camera")
    # bev-cpu runs the default profile's estimators but the references that know a
    # model, which no urban store has.
    assert cpu.estimators == tuple(e for e in default.estimators if e not in KNOWING)
    assert not cpu.train_sizes
    # Issue 14: the temporal prior, urban sequences of 4-8 frames in the paper profile and
    # on a CPU; the past-reading estimators run on those datasets only.
    time = load_benchmark(REFERENCE, "time-cpu")
    [seq] = time.datasets
    assert seq.config.frames == 4 and by_name["urban-time"].config.frames in range(4, 9)
    assert {"unet", "concat", "concat-time", "log-odds"} <= set(time.estimators)
    # Three trainings of the blind twins and concat-both did not fit its budget (issue 28):
    # the paper profile has them; on the CPU the controls at test ask whether it reads.
    assert not {"concat-shuffled", "concat-time-past-shuffled", "concat-both"} & {
        s.name for s in time.specs}
    assert seq.controls(time.prior_controls) == ("shuffled", "past-shuffled")
    assert time.reference == "unet"
    assert {"concat-time", "concat-both", "concat-time-past-shuffled"} <= {s.name for s in paper.specs}
    runs = {d.name: {s.name for s in paper.specs if d.runs(s)} for d in paper.datasets}
    assert "concat-time" in runs["urban-time"] and "concat-time" not in runs["urban-bev"]
    for bench in (default, cpu, time, paper):
        for dataset in bench.datasets:
            counts = dataset.config.counts
            assert counts[0] > 0 and counts[2] > 0


# --------------------------------------------------------------------------- config_hash


def _hash(folder: Path, changes=None, dataset="fg") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    bench = load_benchmark(write(folder, changes))
    [d] = [d for d in bench.datasets if d.name == dataset]
    return bench.config_hash(d)


def test_config_hash_is_stable(tmp_path):
    path = write(tmp_path)
    first, again = load_benchmark(path), load_benchmark(path)
    h = first.config_hash(first.datasets[0])
    assert re.fullmatch(r"[0-9a-f]{12}", h)
    assert again.config_hash(again.datasets[0]) == h
    assert again.config_hash() == first.config_hash()
    # Another path, the same content: the same hash.
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(path, other / "renamed.toml")
    copied = load_benchmark(other / "renamed.toml")
    assert copied.config_hash(copied.datasets[0]) == h


def test_config_hash_ignores_key_order_and_formatting(tmp_path):
    h = _hash(tmp_path / "a")

    def reverse(table):
        return {k: reverse(v) if isinstance(v, dict) else v for k, v in reversed(table.items())}

    path = tmp_path / "b.toml"
    data = reverse(copy.deepcopy(BASE))
    data["dataset"] = [dict(reversed(d.items())) for d in data["dataset"]]
    path.write_text("# comment\n\n" + to_toml(data).replace(" = ", "    =   "))
    bench = load_benchmark(path)
    assert bench.config_hash(bench.datasets[0]) == h


@pytest.mark.parametrize("changes", [
    pytest.param({("benchmark", "description"): "another text"}, id="benchmark-description"),
    pytest.param({("benchmark", "description"): DROP}, id="no-benchmark-description"),
    pytest.param({D + ("description",): "other words"}, id="dataset-description"),
    pytest.param({P + ("description",): "minutes"}, id="profile-description"),
    pytest.param({D + ("noise",): "gaussian:sigma=0.50,kappa=0"}, id="same-noise-spelt-out"),
    pytest.param({("check", "rtol"): 0.5}, id="check-tolerance"),
])
def test_config_hash_ignores_what_does_not_change_results(tmp_path, changes):
    assert _hash(tmp_path / "changed", changes) == _hash(tmp_path / "base")


@pytest.mark.parametrize("changes", [
    pytest.param({P + ("samples_per_rho",): 12}, id="samples_per_rho"),
    pytest.param({D + ("noise",): "gaussian:sigma=0.6"}, id="noise-sigma"),
    pytest.param({D + ("noise",): "flip:fp=0.1,fn=0.1"}, id="noise-model"),
    pytest.param({P + ("steps",): 6}, id="steps"),
    pytest.param({P + ("steps",): DROP}, id="no-steps"),
    pytest.param({P + ("training",): "default"}, id="training"),
    pytest.param({P + ("rho",): [0.0, 0.6]}, id="rho"),
    pytest.param({P + ("size",): 20}, id="size"),
    pytest.param({P + ("split",): [0.5, 0.25, 0.25]}, id="split"),
    pytest.param({P + ("seed",): 1}, id="profile-seed"),
    pytest.param({("eval", "seed"): 1}, id="eval-seed"),
    pytest.param({D + ("target",): 1}, id="target"),
    pytest.param({D + ("params",): {"length_scale": 3.0}}, id="family-params"),
    pytest.param({("eval", "estimators"): ["identity", "unet", "median"]}, id="estimators"),
    pytest.param({("eval", "prior_controls"): []}, id="prior-controls"),
    pytest.param({("eval", "reference"): "identity"}, id="reference"),
    pytest.param({P + ("train_seeds",): 2}, id="train_seeds"),
])
def test_config_hash_changes_with_a_result_setting(tmp_path, changes):
    assert _hash(tmp_path / "changed", changes) != _hash(tmp_path / "base")


def test_config_hash_of_a_dataset_ignores_the_other_datasets(tmp_path):
    second = dict(BASE["dataset"][0], name="fl", noise="flip:fp=0.1,fn=0.1")
    changed = dict(second, noise="flip:fp=0.2,fn=0.1")
    before = load_benchmark(write(tmp_path, {("dataset",): [BASE["dataset"][0], second]}))
    after = load_benchmark(write(tmp_path, {("dataset",): [BASE["dataset"][0], changed]},
                                 "after.toml"))
    fg, fl = before.datasets
    assert before.config_hash(fg) != before.config_hash(fl)
    assert after.config_hash(after.datasets[0]) == before.config_hash(fg)
    assert after.config_hash(after.datasets[1]) != before.config_hash(fl)
    assert after.config_hash() != before.config_hash()


def test_past_controls_apply_to_the_datasets_of_sequences_only(tmp_path):
    # A past- control replaces past frames: a dataset of single maps runs without it,
    # and its results (and their hash) are those of a file that never named it.
    seq = dict(BASE["dataset"][0], name="fs", frames=3)
    both = {("dataset",): [BASE["dataset"][0], seq]}
    plain = load_benchmark(write(tmp_path, both))
    past = load_benchmark(write(tmp_path, {**both, ("eval", "prior_controls"):
                                           ["shuffled", "past-shuffled"]}, "past.toml"))
    (fg, fs), (pfg, pfs) = plain.datasets, past.datasets
    assert pfg.controls(past.prior_controls) == ("shuffled",)
    assert pfs.controls(past.prior_controls) == ("shuffled", "past-shuffled")
    assert past.config_hash(pfg) == plain.config_hash(fg)
    assert past.config_hash(pfs) != plain.config_hash(fs)


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Work in tmp_path, so that a default ``runs/`` folder would be seen."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def reproduce_refused(capsys, config, out, *args, words=()):
    """``ogmbench reproduce`` exits 2 in one line naming ``words``, creating nothing."""
    code, stdout, stderr = call(["reproduce", config, "--out", out, *args], capsys)
    assert_usage_error(code, stdout, stderr, *words)
    assert stdout == ""
    return stderr


def test_reproduce_help_names_its_options():
    result = CliRunner().invoke(cli, ["reproduce", "--help"], prog_name="ogmbench")
    assert result.exit_code == 0, result.output
    for word in ("CONFIG", "--profile", "--out", "--check", "--estimator", "--work", "--workers"):
        assert word in result.output, word


@pytest.mark.parametrize("changes, words", BAD)
def test_reproduce_refuses_a_bad_config(here, capsys, changes, words):
    config = write(here, changes)
    reproduce_refused(capsys, config, here / "out", words=[str(config), *words])
    assert not (here / "out").exists() and not (here / "runs").exists()


@pytest.mark.parametrize("make, args, words", [
    pytest.param(lambda d: d / "nothing.toml", [], ["nothing.toml", "does not exist"],
                 id="missing-file"),
    pytest.param(lambda d: d, [], ["is a directory"], id="directory"),
    pytest.param(lambda d: made(d / "bad.toml", "[eval\n"), [],
                 ["bad.toml", "is not valid TOML"], id="invalid-toml"),
    pytest.param(lambda d: write(d), ["--profile", "gpu"], ["no profile 'gpu'", "default"],
                 id="unknown-profile"),
    pytest.param(lambda d: write(d), ["--workers", "0"], ["workers", "got 0"], id="workers-0"),
])
def test_reproduce_refuses_bad_input(here, capsys, make, args, words):
    reproduce_refused(capsys, make(here), here / "out", *args, words=words)
    assert not (here / "out").exists() and not (here / "runs").exists()


def test_reproduce_refuses_the_reference_file_with_an_unknown_profile(here, capsys):
    reproduce_refused(capsys, REFERENCE, here / "out", "--profile", "gpu",
                      words=["no profile 'gpu'", "default, bev-cpu, time-cpu, white-cpu, paper"])
    assert not (here / "out").exists()


@pytest.mark.parametrize("spec, words", [
    pytest.param("unet", ["--estimator unet", "'unet' is already in the benchmark"],
                 id="already-in"),
    pytest.param("unet:steps=3", ["'unet' is already in the benchmark"], id="already-in-params"),
    pytest.param("identity", ["'identity' is already in the benchmark"], id="already-in-identity"),
    pytest.param("nope", ["--estimator", "unknown estimator 'nope'"], id="unknown"),
    pytest.param("median:bogus=1", ["--estimator", "'median'", "no parameter 'bogus'"],
                 id="unknown-param"),
])
def test_reproduce_refuses_a_bad_extra_estimator(here, capsys, spec, words):
    reproduce_refused(capsys, write(here), here / "out", "--estimator", spec, words=words)
    assert not (here / "out").exists()


def _results_csv(path: Path, rows, header="# " + GENERATED) -> Path:
    frame = pd.DataFrame([{**{c: 0 for c in RESULT_COLUMNS},
                           "benchmark": "tiny", "benchmark_version": 1, "profile": "default",
                           "metric": "mse", "value": 0.5, **row} for row in rows],
                         columns=list(RESULT_COLUMNS))
    path.write_text((header + "\n" if header else "") + frame.to_csv(index=False))
    return path


@pytest.mark.parametrize("column, value", [
    ("benchmark", "another-benchmark"),
    ("benchmark_version", 2),
    ("profile", "paper"),
])
def test_check_refuses_results_of_another_benchmark(here, capsys, column, value):
    results = _results_csv(here / "results.csv", [{column: value}])
    reproduce_refused(capsys, write(here), here / "out", "--check", results,
                      words=["--check", str(results), f"{column} {value}",
                             "this is tiny v1 profile default"])
    assert not (here / "out").exists()


def test_check_refuses_results_mixing_benchmarks(here, capsys):
    results = _results_csv(here / "results.csv", [{}, {"benchmark": "other"}], header="")
    reproduce_refused(capsys, write(here), here / "out", "--check", results,
                      words=["benchmark other, tiny"])
    assert not (here / "out").exists()


@pytest.mark.parametrize("make, words", [
    pytest.param(lambda d: d / "missing.csv", ["missing.csv does not exist"], id="missing"),
    pytest.param(lambda d: d, ["is not a results.csv"], id="directory"),
    pytest.param(lambda d: made(d / "x.png", b"\x89PNG\r\n\x1a\n\xff\x00"),
                 ["x.png is not a results.csv"], id="binary"),
    pytest.param(lambda d: made(d / "e.csv", ""),
                 ["e.csv is not a results.csv"], id="empty"),
    pytest.param(lambda d: made(d / "n.txt", "hello world\n1,2\n"),
                 ["n.txt is not an ogmbench results.csv", "missing columns: benchmark"],
                 id="no-result-columns"),
    pytest.param(lambda d: made(d / "p.csv", "# x\n" + ",".join(RESULT_COLUMNS[:-1]) + "\n"),
                 ["p.csv is not an ogmbench results.csv", "missing columns: device"],
                 id="one-column-missing"),
    pytest.param(lambda d: made(d / "h.csv", "# x\n" + ",".join(RESULT_COLUMNS) + "\n"),
                 ["h.csv has no results"], id="header-only"),
    pytest.param(lambda d: _results_csv(d / "v.csv", [{"value": "high"}]),
                 ["v.csv", "value column is not numeric"], id="value-not-numeric"),
])
def test_check_refuses_a_file_that_is_not_results(here, capsys, make, words):
    results = make(here)
    reproduce_refused(capsys, write(here), here / "out", "--check", results,
                      words=["--check", *words])
    assert not (here / "out").exists()


def test_out_that_is_a_file_is_refused(here, capsys):
    out = here / "out"
    out.write_text("a file\n")
    reproduce_refused(capsys, write(here), out, words=[f"--out {out}", "not a directory"])
    assert out.read_text() == "a file\n"


def test_out_under_a_file_is_refused(here, capsys):
    (here / "file").write_text("a file\n")
    reproduce_refused(capsys, write(here), here / "file" / "out",
                      words=["cannot create --out", "file"])
    assert (here / "file").read_text() == "a file\n"


@pytest.mark.parametrize("name", ["README.md", "results.csv", "index.html"])
def test_out_holding_foreign_files_is_refused_and_left_alone(here, capsys, name):
    out = here / "out"
    out.mkdir()
    (out / name).write_text("# My own notes\nnot written by a tool\n")
    before = snapshot(out)
    reproduce_refused(capsys, write(here), out,
                      words=[f"--out {out}", f"{name} exists", "not written by ogmbench"])
    assert snapshot(out) == before


# --------------------------------------------------------------------------- check tolerance

ATOL = {"mse": 0.002, "iou": 0.01, "iou_val_t": 0.01, "psnr": 0.2, "ece": 0.005,
        "gain_mse": 1.5, "d_iou": 0.01, "gain_info": 1.5, "gain_oracle": 1.5,
        "gain_info_past": 1.5, "gain_oracle_past": 1.5, "gain_bayes": 1.5, "share_bayes": 10.0}


def test_atol_may_be_given_per_metric(tmp_path):
    bench = load_benchmark(write(tmp_path, {("check", "atol"): ATOL}))
    assert bench.tolerance("gain_mse") == (1.5, 0.05)
    assert bench.tolerance("mse") == (0.002, 0.05)
    plain = load_benchmark(write(tmp_path, {}, name="plain.toml"))
    assert plain.tolerance("gain_mse") == plain.tolerance("mse") == (0.002, 0.05)


@pytest.mark.parametrize("atol, words", [
    ({k: v for k, v in ATOL.items() if k != "ece"}, ["atol", "no value for 'ece'"]),
    ({**ATOL, "f1": 0.1}, ["atol", "unknown metric 'f1'"]),
    ({**ATOL, "mse": "x"}, ["atol.mse must be a number"]),
    ({**ATOL, "mse": -1.0}, ["rtol and atol must be >= 0"]),
])
def test_bad_per_metric_atol_is_refused(tmp_path, atol, words):
    assert_words(refused(write(tmp_path, {("check", "atol"): atol})), words)


def test_reference_file_states_a_tolerance_for_every_metric():
    from ogmbench.results import RESULT_METRICS

    bench = load_benchmark(REFERENCE)
    assert set(bench.atol_metric) == set(RESULT_METRICS)


@pytest.mark.parametrize("changes, words", [
    ({("eval", "estimators"): ["identity", "guided", "unet"], ("eval", "reference"): "guided"},
     ["reference 'guided' reads the prior"]),
    ({("benchmark", "name"): "../../evil"}, ["[benchmark] name must be", "../../evil"]),
    ({("benchmark", "name"): ".hidden"}, ["not start with '.'"]),
    ({P + ("samples_per_rho",): 5}, ["only 1 test sample per rho"]),
    ({("check",): DROP}, ["missing [check] section"]),
    ({("check", "atol"): DROP}, ["[check]", "missing key 'atol'"]),
    # A dataset's own classes and size.
    ({D + ("classes",): ["vehicle", 3]}, ["[[dataset]] fg", "classes must be a number or"]),
    ({D + ("classes",): "vehicle,drivable"}, ["[[dataset]] fg", "classes must be an integer or "
                                              "an array"]),
    ({D + ("classes",): ["vehicle", "drivable"]}, ["[[dataset]] fg", "'field' numbers its"]),
    ({D + ("family",): "urban", D + ("classes",): ["drivable", "vehicle"]},
     ["[[dataset]] fg", "write vehicle,drivable"]),
    ({D + ("size",): [8, 8, 8]}, ["[[dataset]] fg", "size must be an integer or [height, width]"]),
    ({D + ("size",): 2}, ["[[dataset]] fg", "size", "[4, 4096]"]),
    ({D + ("family",): "urban", D + ("size",): 4096, D + ("params",): {"resolution": 1.0}},
     ["[[dataset]] fg", "at most 2048 m"]),
])
def test_more_bad_configs(tmp_path, changes, words):
    assert_words(refused(write(tmp_path, changes)), words)


@pytest.mark.parametrize("value, ok", [(600, True), (0.5, True), (0, False), (-3, False),
                                       ("ten", False), (True, False)])
def test_eval_timeout_is_validated_and_not_a_result_setting(here, value, ok):
    path = write(here, {("eval", "timeout"): value})
    if not ok:
        with pytest.raises(BenchmarkError, match=r"\[eval\]"):
            load_benchmark(path)
        return
    bench = load_benchmark(path)
    assert bench.timeout == value
    assert bench.config_hash() == load_benchmark(write(here, {})).config_hash()


# --------------------------------------------------------------------------- issue 11


def test_a_profile_may_run_a_subset_of_the_estimators(tmp_path):
    path = write(tmp_path, {("eval", "estimators"): ["identity", "median", "unet"],
                            P + ("estimators",): ["unet", "identity"]})
    bench = load_benchmark(path)
    assert [s.name for s in bench.specs] == ["identity", "unet"]   # [eval]'s order
    assert bench.estimators == ("identity", "unet")
    everything = load_benchmark(write(tmp_path, {("eval", "estimators"): ["identity", "median",
                                                                          "unet"]}, "all.toml"))
    assert [s.name for s in everything.specs] == ["identity", "median", "unet"]
    assert bench.config_hash() != everything.config_hash()


@pytest.mark.parametrize("changes, words", [
    ({P + ("estimators",): ["identity", "wiener"]}, ["[profile.default] estimators",
                                                     "'wiener' is not one of [eval] estimators"]),
    ({P + ("estimators",): ["identity"]}, ["reference 'unet' is not one of the estimators of "
                                           "[profile.default]"]),
    ({P + ("estimators",): []}, ["estimators is empty"]),
    ({P + ("train_sizes",): [2, 6]}, ["train_sizes: 6 is not in [1, 5]", "split's 6"]),
    ({P + ("train_sizes",): [0]}, ["train_sizes: 0 is not in [1, 5]"]),
    ({P + ("train_sizes",): [2, 2]}, ["train_sizes lists a size twice"]),
    ({P + ("train_sizes",): [2.5]}, ["train_sizes must be an array of integers"]),
    ({("eval", "scaling"): ["unet"]}, ["[eval] scaling: 'unet' is not one of the estimators",
                                       "other than the reference"]),
    ({("eval", "scaling"): ["concat"]}, ["[eval] scaling: 'concat' is not one of"]),
])
def test_bad_profile_estimators_and_sweeps_are_refused(tmp_path, changes, words):
    assert_words(refused(write(tmp_path, changes)), words)


def test_the_sweep_is_a_result_setting_and_trains_the_reference_and_the_scaling_ones(tmp_path):
    estimators = ["identity", "unet", "concat", "film"]
    base = {("eval", "estimators"): estimators, ("eval", "scaling"): ["concat"]}
    plain = load_benchmark(write(tmp_path, base))
    assert plain.train_sizes == () and plain.scaling_specs == ()
    swept = load_benchmark(write(tmp_path, {**base, P + ("train_sizes",): [4, 2]}, "s.toml"))
    assert swept.train_sizes == (2, 4)
    assert [s.name for s in swept.scaling_specs] == ["unet", "concat"]
    assert swept.config_hash() != plain.config_hash()


def test_a_dataset_may_choose_its_classes_and_its_own_size(tmp_path):
    bev = {"name": "bev", "family": "urban", "noise": "camera", "target": 0,
           "classes": ["vehicle", "drivable", "walkway"], "size": 24,
           "params": {"resolution": 1.0}}
    three = dict(BASE["dataset"][0], name="f3", classes=3, target=2)
    bench = load_benchmark(write(tmp_path, {("dataset",): [BASE["dataset"][0], bev, three]}))
    fg, urban, field3 = bench.datasets
    assert fg.config.size == (16, 16)  # the profile's
    assert urban.config.size == (24, 24) and urban.config.class_names == [
        "vehicle", "drivable", "walkway"]
    assert urban.target_name == "vehicle" and urban.config.family_params["resolution"] == 1.0
    assert field3.config.classes == 3 and field3.target_name == "X3"
    # Both are result settings.
    other = load_benchmark(write(tmp_path, {("dataset",): [dict(bev, size=32)]}, "b.toml"))
    assert other.config_hash(other.datasets[0]) != bench.config_hash(urban)
