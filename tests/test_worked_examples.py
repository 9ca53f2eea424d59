"""The worked examples of docs/ARCHITECTURE.md run: a new noise model, metric and family,
each one module plus its test.

Each example's module block is loaded as the module it names (so its relative imports
work), registered for the length of the test as its one registration line would
register it, and its test block is run, test by test.  What they register is gone
afterwards.
"""

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

from ogmbench.generators import FAMILIES, NOISE_MODELS
from ogmbench.metrics import METRICS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = {"ogmbench/": "ogmbench.", "generators/": "ogmbench.generators.",
            "baselines/": "ogmbench.baselines."}


def blocks() -> dict[str, str]:
    """The doc's Python blocks by the path their first line names."""
    found = re.findall(r"```python\n# (\S+)\n(.*?)```", DOC.read_text(), flags=re.S)
    return {path: code for path, code in found}


def load(path: str, monkeypatch) -> types.ModuleType:
    """The block of ``path`` as the module it would be once written there."""
    prefix = next(p for p in PACKAGES if path.startswith(p))
    name = PACKAGES[prefix] + path[len(prefix):].removesuffix(".py").replace("/", ".")
    module = types.ModuleType(name)
    module.__package__ = name.rpartition(".")[0]
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(blocks()[path], path, "exec"), module.__dict__)
    return module


def run_tests(path: str, tmp_path: Path) -> list[str]:
    namespace: dict = {"__name__": path}
    exec(compile(blocks()[path], path, "exec"), namespace)
    ran = []
    for name, test in namespace.items():
        if name.startswith("test_") and callable(test):
            wanted = inspect.signature(test).parameters
            test(**({"tmp_path": tmp_path / name} if "tmp_path" in wanted else {}))
            ran.append(name)
    return ran


def test_the_doc_has_the_three_examples_and_their_tests():
    assert set(blocks()) == {
        "generators/noise/dropout.py", "tests/test_noise_dropout.py",
        "ogmbench/metrics/_mae.py", "tests/test_metric_mae.py",
        "generators/blocks.py", "tests/test_blocks.py"}


def test_a_new_noise_model(monkeypatch, tmp_path):
    module = load("generators/noise/dropout.py", monkeypatch)
    monkeypatch.setitem(NOISE_MODELS, module.MODEL.name, module.MODEL)
    assert len(run_tests("tests/test_noise_dropout.py", tmp_path)) == 3


def test_a_new_metric(monkeypatch, tmp_path):
    module = load("ogmbench/metrics/_mae.py", monkeypatch)
    with METRICS.registered(module.MAE()):
        assert len(run_tests("tests/test_metric_mae.py", tmp_path)) == 1
    assert "mae" not in METRICS


def test_a_new_family(monkeypatch, tmp_path):
    module = load("generators/blocks.py", monkeypatch)
    monkeypatch.setitem(FAMILIES, module.MODEL.name, module.MODEL)
    assert len(run_tests("tests/test_blocks.py", tmp_path)) == 2


@pytest.mark.parametrize("path", ["generators/noise/dropout.py", "ogmbench/metrics/_mae.py",
                                  "generators/blocks.py"])
def test_the_examples_are_not_shipped(path):
    # They are examples: the registries above must not already hold them.
    assert not (ROOT / path).exists()


def test_a_metric_registered_after_a_run_is_scored_on_resume(monkeypatch, tmp_path):
    import ogmbench
    from ogmbench.leaderboard import LeaderboardError, load_runs

    module = load("ogmbench/metrics/_mae.py", monkeypatch)
    store = ogmbench.generate(tmp_path / "s.zarr", family="field", size=16, samples_per_rho=6)
    run_dir, _ = ogmbench.run_eval(store.path, ["identity"],
                                   ogmbench.EvalConfig(out=tmp_path / "run"))
    with METRICS.registered(module.MAE()):
        with pytest.raises(LeaderboardError, match="no mae column.*eval --resume"):
            load_runs([run_dir])
        _, outcomes = ogmbench.run_eval(store.path, ["identity"],
                                        ogmbench.EvalConfig(out=run_dir, resume=True))
        assert outcomes[0].status == "ok"  # scored again, not kept
        assert load_runs([run_dir])["mae"].notna().all()
        _, again = ogmbench.run_eval(store.path, ["identity"],
                                     ogmbench.EvalConfig(out=run_dir, resume=True))
        assert again[0].status == "skipped"
