"""Helpers shared by the CLI tests: run ``ogmbench.cli.main`` as a user would see it."""

import io
import json
import os
import shutil
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from ogmbench.cli import main


def call(argv, capsys=None):
    """Run ``ogmbench.cli.main(argv)``; return (exit code, stdout, stderr).

    An exception escaping ``main`` is what the console script would print as a
    traceback with exit code 1, so it is returned that way for the assertions to see.
    Without ``capsys`` (module fixtures) the streams are redirected here.
    """
    code = 0
    out_buf, err_buf = io.StringIO(), io.StringIO()

    def run():
        nonlocal code
        try:
            main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # noqa: BLE001 - turned into what a user would see
            sys.stderr.write(traceback.format_exc())
            code = 1

    if capsys is None:
        with redirect_stdout(out_buf), redirect_stderr(err_buf):
            run()
        return code, out_buf.getvalue(), err_buf.getvalue()
    run()
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(path: Path):
    """Bytes of a file, or {relative path: bytes} of a directory tree; None if absent."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return None
    if path.is_file():
        return path.read_bytes()
    tree = {}
    for root, dirs, files in os.walk(path):
        for d in dirs:
            tree[os.path.relpath(os.path.join(root, d), path) + "/"] = None
        for f in files:
            full = os.path.join(root, f)
            tree[os.path.relpath(full, path)] = Path(full).read_bytes()
    return tree


def assert_usage_error(code, out, err, *words):
    """Exit 2, one non-empty line on stderr naming the problem, no traceback."""
    assert code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and len(err.strip().splitlines()) == 1, err
    assert lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


def bad_stores_in(root: Path, store: Path) -> dict:
    """Paths no command may accept as a store, by kind: missing, a plain folder, a foreign
    zarr group, corrupt metadata, and a copy of ``store`` marked incomplete."""
    import zarr

    plain = root / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("not a store\n")
    zarr.create_group(str(root / "foreign.zarr"), attributes={"owner": "someone else"})
    corrupt = root / "corrupt.zarr"
    corrupt.mkdir()
    (corrupt / "zarr.json").write_text('{"zarr_format": 3, garbage')
    incomplete = root / "incomplete.zarr"
    shutil.copytree(store, incomplete)
    zarr.open_group(str(incomplete), mode="r+").attrs.update({"complete": False})
    return {"missing": root / "missing.zarr", "plain": plain, "foreign": root / "foreign.zarr",
            "corrupt": corrupt, "incomplete": incomplete}


def benchmark_toml(*, name="tiny", version=1, description="a tiny test benchmark",
                   datasets=(("field-g", "field", "gaussian:sigma=1.0/0.3", ""),),
                   estimators=("identity", "unet"), prior_controls=("shuffled",),
                   reference="unet", rho=(0.0, 0.9), samples_per_rho=20, size=32,
                   training="quick", steps=10, train_seeds=1, device="cpu",
                   rtol=0.05, atol=0.002, train_sizes=(), scaling=()) -> str:
    """A small benchmark file for the reproduce tests (seconds to run on a CPU).

    ``datasets`` holds (name, family, noise or "" for the default, description or "").
    """
    def toml_list(values):
        return "[" + ", ".join(json.dumps(v) for v in values) + "]"

    parts = [f'[benchmark]\nname = "{name}"\nversion = {version}\n'
             f"description = {json.dumps(description)}\n"]
    for ds_name, family, noise, text in datasets:
        parts.append(f'[[dataset]]\nname = "{ds_name}"\nfamily = "{family}"\n'
                     + (f'noise = "{noise}"\n' if noise else "")
                     + (f"description = {json.dumps(text)}\n" if text else ""))
    parts.append(f"[eval]\nestimators = {toml_list(estimators)}\n"
                 f"prior_controls = {toml_list(prior_controls)}\nreference = \"{reference}\"\n"
                 + (f"scaling = {toml_list(scaling)}\n" if scaling else ""))
    parts.append(f"[profile.default]\nrho = {toml_list(rho)}\nsamples_per_rho = {samples_per_rho}\n"
                 f'size = {size}\ntraining = "{training}"\nsteps = {steps}\n'
                 f'train_seeds = {train_seeds}\ndevice = "{device}"\n'
                 + (f"train_sizes = {toml_list(train_sizes)}\n" if train_sizes else ""))
    parts.append(f"[check]\nrtol = {rtol}\natol = {atol}\n")
    return "\n".join(parts)


def estimator_file(path: Path, cls: str, predict: str, header: str = "") -> Path:
    """Write ``path``: an Estimator subclass ``cls`` whose predict returns ``predict``.

    ``predict`` is an expression of ``noisy`` and ``target``; ``header`` goes into the
    class body before it (parameters, __init__).
    """
    Path(path).write_text(
        "import numpy as np\nfrom scipy import ndimage\nfrom ogmbench.api import Estimator\n\n\n"
        f"class {cls}(Estimator):\n{header}"
        f"    def predict(self, noisy, target):\n        return {predict}\n")
    return Path(path)
