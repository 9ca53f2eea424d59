"""Helpers shared by the CLI tests: run ``ogmbench.cli.main`` as a user would see it."""

import io
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
