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


def test_the_clean_clone_path_puts_a_new_estimator_beside_the_published_rows(tmp_path, capsys,
                                                                           monkeypatch):
    """SUBMITTING's first commands, as written, on the published default folder."""
    import shlex

    import pandas as pd

    from cli_helpers import call

    text = DOC.read_text()
    section = text.split("## From a clean clone to the published board", 1)[1]
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    command = next(line for line in bash.splitlines() if "ogmbench reproduce" in line)
    argv = shlex.split(command)[1:]
    assert argv[:2] == ["reproduce", "leaderboard/benchmark.toml"]
    # box.py is the protocol's class saved as a file; the report goes to tmp_path.
    box = re.search(r"## The protocol.*?```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "box.py").write_text(box)
    # The documented relative paths, from a copy of the checkout's published folder.
    import shutil

    root = DOC.parent.parent
    shutil.copytree(root / "leaderboard", tmp_path / "leaderboard",
                    ignore=shutil.ignore_patterns("work"))
    monkeypatch.chdir(tmp_path)
    code, out, err = call(argv, capsys)
    assert code == 0, err
    mine = pd.read_csv(tmp_path / "runs" / "box-beside" / "results.csv", skiprows=1,
                       dtype={"rho": str})
    published = pd.read_csv(DOC.parent.parent / "leaderboard" / "results.csv", skiprows=1,
                            dtype={"rho": str})
    assert "box" in set(mine["estimator"])
    # The published rows come out as published: the same values and intervals.
    columns = ["dataset", "train_size", "estimator", "control", "rho", "metric", "value", "lo",
               "hi"]
    key = columns[:6]
    theirs = published[published["train_size"] == published["train_size"].max()][columns]
    ours = mine[mine["estimator"] != "box"][columns]
    merged = theirs.merge(ours, on=key, suffixes=("", "_new"))
    assert len(merged) == len(theirs)
    for column in ("value", "lo", "hi"):
        assert (merged[column] - merged[f"{column}_new"]).abs().max() < 1e-9
    assert "box" in (tmp_path / "runs" / "box-beside" / "README.md").read_text()
    # A torch estimator the same way (its checkpoint goes to its own folder under the
    # relative --out).
    torch_argv = [("docs/torch_estimator.py:TinyCNN:steps=40" if a == "box.py:BoxFilter"
                   else "runs/tiny-beside" if a == "runs/box-beside" else a) for a in argv]
    shutil.copytree(root / "docs", tmp_path / "docs")
    code, out, err = call(torch_argv, capsys)
    assert code == 0, err
    assert list((tmp_path / "runs" / "tiny-beside").rglob("plugin-tinycnn/tinycnn-*.pt"))
