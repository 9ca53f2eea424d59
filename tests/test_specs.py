"""Specs: one key=value rule set for every spec, estimator specs resolved once."""

import pytest

from ogmbench import registry
from ogmbench.baselines.classical import Median
from ogmbench.errors import ConfigError
from ogmbench.specs import (
    EstimatorSpec, default_estimators, default_reference, estimator_label, parse_noise_spec,
    parse_params, resolve, resolve_all,
)


def test_parse_params_reads_pairs_and_items_alike():
    assert parse_params("a=1, b = x,", "w") == {"a": "1", "b": "x"}
    assert parse_params(["a=1", "b=2/3"], "w") == {"a": "1", "b": "2/3"}
    assert parse_params("", "w") == {}


@pytest.mark.parametrize("text, words", [
    ("a", "expected key=value, got 'a'"),
    ("=1", "expected key=value"),
    ("a=", "expected key=value"),
    ("a=1,a=2", "'a' given twice"),
])
def test_parse_params_one_rule_set(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_params(text, "somewhere")


@pytest.mark.parametrize("kind, text", [
    ("noise", "gaussian:sigma=0.1,sigma=0.2"),
    ("estimator", "median:size=3,size=5"),
    ("noise", "flip:fp="),
    ("estimator", "median:size="),
])
def test_every_kind_of_spec_refuses_what_parse_params_refuses(kind, text):
    # Estimator specs used to keep the last of a repeated key silently.
    parse = parse_noise_spec if kind == "noise" else resolve
    with pytest.raises(ConfigError, match="given twice|expected key=value"):
        parse(text)


def test_resolve_reads_values_as_json_where_they_parse():
    spec = resolve("median:size=5")
    assert isinstance(spec, EstimatorSpec)
    assert (spec.name, spec.cls, spec.params, spec.label) == ("median", Median, {"size": 5},
                                                              "median[size=5]")
    assert resolve("unet:profile=quick,augment=false").params == {"profile": "quick",
                                                                  "augment": False}


def test_module_specs_resolve_to_the_registered_name():
    spec = resolve("ogmbench.baselines.classical:Median")
    assert spec.name == "median" and spec.cls is Median and spec.params == {}


def test_resolve_refuses_a_bare_colon_on_a_registered_name():
    with pytest.raises(ConfigError, match="median:key=value"):
        resolve("median:3")


def test_training_settings_go_to_training_estimators_and_the_spec_wins():
    training = {"profile": "quick", "steps": 7}
    assert resolve("median").with_training(training) == ({}, [])
    params, from_run = resolve("unet:steps=3").with_training(training)
    assert params == {"profile": "quick", "steps": 3} and from_run == ["profile"]


def test_resolve_all_checks_parameters_and_names():
    with pytest.raises(ConfigError, match="no parameter 'bogus'"):
        resolve_all(["median:bogus=1"])
    with pytest.raises(ConfigError, match="listed twice"):
        resolve_all(["median", "median:size=5"])
    with pytest.raises(ConfigError, match="listed twice"):
        resolve_all(["median"], taken=["median"])
    spec = resolve("median")
    assert resolve_all([spec]) == [spec]  # resolved specs pass through


def test_labels_hide_the_training_profile():
    assert estimator_label("unet", {"profile": "quick", "steps": 5}) == "unet[steps=5]"
    assert estimator_label("unet", {}) == "unet"


def test_default_reference_prefers_the_no_prior_unet():
    assert default_reference(["identity", "unet", "concat"]) == "unet"
    assert default_reference(["identity", "median"]) == "identity"
    assert default_reference(["median"]) is None


def test_default_estimators_skip_those_whose_module_needs_a_missing_package(monkeypatch, tmp_path):
    # An estimator module importing a package that is not installed, as the learned
    # ones do without torch: skipped by what its import says, not by its module path.
    (tmp_path / "needs_missing.py").write_text(
        "import surely_not_installed_pkg\nfrom ogmbench.api import Estimator\n"
        "class Needy(Estimator):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    available = dict(registry.available())
    available["needy"] = ("needs_missing:Needy", "built-in")
    monkeypatch.setattr(registry, "available", lambda: available)
    messages = []
    names = default_estimators(messages.append)
    assert "needy" not in names and "median" in names
    assert messages == ["surely_not_installed_pkg is not installed: skipping needy "
                        "(pip install surely_not_installed_pkg)"]


def test_a_missing_module_itself_is_not_a_missing_dependency():
    with pytest.raises(registry.RegistryError) as info:
        registry.load("no_such_module_xyz:Thing")
    assert not isinstance(info.value, registry.MissingDependency)


def test_a_plugin_named_like_a_path_is_a_usage_error(tmp_path):
    plugin = tmp_path / "escape.py"
    plugin.write_text("from ogmbench.api import Estimator\n"
                      "class Escape(Estimator):\n    name = '../../escaped'\n")
    with pytest.raises(ConfigError, match="cannot be a file name"):
        resolve(f"{plugin}:Escape")


@pytest.mark.parametrize("name", sorted(registry.BUILTIN))
def test_declared_hyper_parameters_admit_the_defaults_and_the_grid(name):
    _, cls, _ = registry.load(name)
    assert set(cls.hyper) <= set(cls.param_names())
    cls.check_params(cls.default_params())
    for key, values in cls.param_grid.items():
        for value in values:
            cls.check_params({key: value})
    if name not in ("identity",):  # every built-in with parameters declares them all
        assert set(cls.hyper) == set(cls.param_names())


@pytest.mark.parametrize("text", ["median:/=:", "x/y.py:Cls", "no_such_module_xyz:Thing"])
def test_a_plugin_that_cannot_be_read_is_one_config_error(text):
    # Plugins are read in a child process: a path that does not exist, or a module that
    # does not import, is still the one line a built-in's mistake is (found by hypothesis).
    with pytest.raises(ConfigError) as info:
        resolve_all([text])
    assert "\n" not in str(info.value) and "its process" not in str(info.value)


def test_a_plugin_that_exits_at_import_is_one_config_error(tmp_path):
    plugin = tmp_path / "quits.py"
    plugin.write_text("import os\nos._exit(3)\n")
    with pytest.raises(ConfigError, match="cannot read estimator .*quits.py:Quits.*exit status 3"):
        resolve_all([f"{plugin}:Quits"])
