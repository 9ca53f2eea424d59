"""The worked example of docs/SUBMITTING.md passes check_estimator."""

import re
from pathlib import Path

from ogmbench.testing import check_estimator

DOC = Path(__file__).parent.parent / "docs" / "SUBMITTING.md"


def test_documented_example_conforms():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert check_estimator(namespace["BoxFilter"])


def test_histogram_regressor_script_runs(tmp_path, capsys):
    import importlib.util

    import ogmbench

    store = ogmbench.generate(tmp_path / "s.zarr", rho=[0.0, 0.9], samples_per_rho=10, size=16)
    path = Path(__file__).parent.parent / "docs" / "histogram_regressor.py"
    spec = importlib.util.spec_from_file_location("histogram_regressor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(store.path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["sigma", "rho"] and len(lines) == 1 + 3 * 2


def test_the_torch_example_conforms_and_runs_as_a_sealed_plugin(tmp_path, capsys):
    import importlib.util
    import json

    import pytest

    pytest.importorskip("torch")
    import ogmbench
    from cli_helpers import call

    path = Path(__file__).parent.parent / "docs" / "torch_estimator.py"
    spec = importlib.util.spec_from_file_location("torch_estimator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert check_estimator(module.TinyCNN, params={"steps": 40}, verbose=False)

    store = ogmbench.generate(tmp_path / "s.zarr", rho=[0.0, 0.9], samples_per_rho=10, size=16)
    code, out, err = call(["eval", store.path, "--out", tmp_path / "run", "--estimator",
                           f"{path}:TinyCNN:steps=40", "--estimator", "identity"], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "run" / "run.json").read_text())["estimators"]["tinycnn"]
    assert record["status"] == "ok" and record["describe"]["curve"]
    # Its checkpoint lies in the one folder it may write.
    saved = list((tmp_path / "run" / "checkpoints" / "plugin-tinycnn").glob("tinycnn-*.pt"))
    assert len(saved) == 1
