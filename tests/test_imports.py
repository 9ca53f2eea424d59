"""Import boundaries: a light core, no top-level 'generators'/'baselines' names."""

import subprocess
import sys


def run(code, cwd):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_ogmbench_does_not_import_torch_or_zarr(tmp_path):
    out = run("import sys, ogmbench; print('torch' in sys.modules, 'zarr' in sys.modules, "
              "'pandas' in sys.modules)", tmp_path)
    assert out == "False False False"


def test_subpackages_install_under_ogmbench_only(tmp_path):
    # Run from an empty directory so the checkout itself is not on sys.path.
    out = run("import importlib.util as u, ogmbench.generators, ogmbench.baselines; "
              "print(u.find_spec('generators'), u.find_spec('baselines'))", tmp_path)
    assert out == "None None"


def test_generators_import_neither_zarr_nor_torch(tmp_path):
    out = run("import sys, ogmbench.generators; "
              "print(sorted(m for m in ('zarr', 'torch', 'click', 'pandas') if m in sys.modules))",
              tmp_path)
    assert out == "[]"


def test_a_local_run_imports_no_dask(tmp_path):
    """Dask is imported only when a command asks for a cluster."""
    out = run("import sys, ogmbench\n"
              "from ogmbench.execution import connect\n"
              "s = ogmbench.generate('s.zarr', family='field', size=16, samples_per_rho=4)\n"
              "with connect(None, 1) as ex: pass\n"
              "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))", tmp_path)
    assert out == "[]"
