"""Estimator registry: built-ins, entry points, modules, files, and its errors."""

import importlib.metadata
import textwrap

import pytest

from ogmbench import registry
from ogmbench.api import Estimator
from ogmbench.baselines.classical import Median


@pytest.fixture(autouse=True)
def fresh_cache():
    registry.available.cache_clear()
    yield
    registry.available.cache_clear()


def fake_entry_points(monkeypatch, *pairs):
    eps = [importlib.metadata.EntryPoint(name, value, registry.ENTRY_POINT_GROUP)
           for name, value in pairs]
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [ep for ep in eps if ep.group == group])


def test_builtins_resolve_lazily_to_estimators():
    name, cls, source = registry.load("median")
    assert (name, cls, source) == ("median", Median, "built-in")
    assert set(registry.BUILTIN) <= set(registry.available())


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(registry.RegistryError, match=r"unknown estimator 'medain'.*identity.*median"):
        registry.load("medain")


def test_entry_point_estimators_are_found(monkeypatch):
    fake_entry_points(monkeypatch, ("my-median", "ogmbench.baselines.classical:Median"))
    assert registry.available()["my-median"][0] == "ogmbench.baselines.classical:Median"
    assert registry.load("my-median")[1] is Median


def test_duplicate_name_names_both_sources(monkeypatch):
    fake_entry_points(monkeypatch, ("median", "elsewhere:Median"))
    with pytest.raises(registry.RegistryError, match=r"'median' is claimed twice: by built-in.*elsewhere:Median"):
        registry.available()


def test_module_and_file_references(tmp_path):
    assert registry.load("ogmbench.baselines.classical:Median")[1] is Median
    plugin = tmp_path / "plugin.py"
    plugin.write_text(textwrap.dedent("""
        import numpy as np
        from ogmbench.api import Estimator

        class Halver(Estimator):
            name = "halver"
            def predict(self, noisy, target):
                return np.clip(noisy[:, target] / 2, 0, 1).astype(np.float32)

        NOT_AN_ESTIMATOR = 3
    """))
    name, cls, source = registry.load(f"{plugin}:Halver")
    assert name == "halver" and issubclass(cls, Estimator) and source == f"file {plugin}"
    with pytest.raises(registry.RegistryError, match="not an ogmbench.api.Estimator subclass"):
        registry.load(f"{plugin}:NOT_AN_ESTIMATOR")
    with pytest.raises(registry.RegistryError, match="defines no 'Nope'"):
        registry.load(f"{plugin}:Nope")
    with pytest.raises(registry.RegistryError, match="does not exist"):
        registry.load(f"{tmp_path / 'missing.py'}:X")
    with pytest.raises(registry.RegistryError, match="cannot import 'no_such_module'"):
        registry.load("no_such_module:X")


def test_file_plugin_with_a_builtin_name_is_a_duplicate(tmp_path):
    plugin = tmp_path / "dup.py"
    plugin.write_text("from ogmbench.api import Estimator\n"
                      "class M(Estimator):\n    name = 'median'\n")
    with pytest.raises(registry.RegistryError, match="'median' is claimed twice"):
        registry.load(f"{plugin}:M")


def test_broken_plugin_file_is_one_clear_error(tmp_path):
    plugin = tmp_path / "broken.py"
    plugin.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(registry.RegistryError, match="cannot load estimator file .*RuntimeError: boom"):
        registry.load(f"{plugin}:X")
