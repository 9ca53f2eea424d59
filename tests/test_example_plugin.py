"""The worked example plugin installs, registers by entry point and runs through eval."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ogmbench
from cli_helpers import benchmark_toml

EXAMPLE = Path(__file__).parent.parent / "examples" / "ogmbench-boxfilter"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-install the example into a private folder (the test environment is untouched)."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"pip could not install the example:\n{proc.stderr}")
    return target


def run(args, site, cwd):
    """Run Python with the private install first on the path, as an installed plugin is."""
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, cwd=cwd)


def test_entry_point_plugin_is_registered_checked_and_evaluated(installed, tmp_path):
    store = ogmbench.generate(tmp_path / "s.zarr", rho=[0.0, 0.9], samples_per_rho=10, size=16)
    check = run(["-c", "from ogmbench.registry import load; from ogmbench.testing import "
                       "check_estimator; name, cls, source = load('box'); "
                       "print(name, source, check_estimator(cls))"], installed, tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split()[:4] == ["box", "entry", "point", "of"]
    assert check.stdout.strip().endswith("True")
    out = tmp_path / "run"
    evaluated = run(["-m", "ogmbench", "eval", str(store.path), "--estimator", "box",
                     "--estimator", "identity", "--out", str(out)], installed, tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "box" in evaluated.stdout and (out / "samples" / "box.parquet").is_file()


BENCHMARK = benchmark_toml(name="plugin-check", datasets=(("field", "field", "", ""),),
                           estimators=("identity", "median"), prior_controls=(),
                           reference="identity", samples_per_rho=10, size=16)


def test_plugin_joins_a_benchmark_as_submitting_md_says(installed, tmp_path):
    """``reproduce CONFIG --estimator box --check published``: box gets rows, no drift."""
    config = tmp_path / "bench.toml"
    config.write_text(BENCHMARK)
    published = run(["-m", "ogmbench", "reproduce", str(config), "--out", "published"],
                    installed, tmp_path)
    assert published.returncode == 0, published.stderr
    added = run(["-m", "ogmbench", "reproduce", str(config), "--estimator", "box", "--out",
                 "mine", "--check", "published/results.csv"], installed, tmp_path)
    assert added.returncode == 0, added.stderr
    assert "published cells within the tolerance" in added.stdout
    assert "| box |" in (tmp_path / "mine" / "tables.md").read_text()
    assert "--estimator box" in (tmp_path / "mine" / "README.md").read_text()
