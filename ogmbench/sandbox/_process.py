"""Starting, watching and killing a child process (with its whole process group)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

from . import _jail


# What a jailed child keeps of the environment: how Python, its libraries and devices
# run; not the user's credentials (cloud keys, tokens) unless it has the network.
_KEPT = ("PATH", "HOME", "LANG", "LC_", "TZ", "TMPDIR", "PYTHON", "OMP_", "MKL_", "OPENBLAS_",
         "KMP_", "CUDA", "NVIDIA", "TORCH", "OGMBENCH_")


def environment(jail: dict | None = None) -> dict[str, str]:
    """The child's environment: the parent's import path from the start, so that it
    imports the same ogmbench (and plugins) before it reads its call; in the jail
    without the network, only what Python and its libraries read."""
    env = dict(os.environ)
    if jail is not None and not jail.get("network", False) and _jail.bwrap() is not None:
        env = {k: v for k, v in env.items() if k.startswith(_KEPT)}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


@contextlib.contextmanager
def signals_held():
    """No Ctrl-C or alarm between starting a child and being ready to stop it."""
    mask = {signal.SIGINT, signal.SIGALRM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, mask)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # pending ones arrive now


def start(fd: int, jail: dict | None) -> subprocess.Popen:
    """The child, in its own session (and in the jail with ``jail``'s settings)."""
    argv = [sys.executable, "-m", "ogmbench.sandbox", str(fd)]
    if jail is not None:
        argv = _jail.command(argv, **jail)
    with signals_held():
        return subprocess.Popen(argv, pass_fds=[fd], start_new_session=True,
                                env=environment(jail))


def wait_briefly(process: subprocess.Popen) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=2)


def ended(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"its process was killed by {name} before it answered"
    return f"its process ended with exit status {status} before it answered"


def expire(process: subprocess.Popen, expired: threading.Event) -> None:
    expired.set()
    kill(process, wait=False)


def kill(process: subprocess.Popen, wait: bool = True) -> None:
    # The whole session: the child and whatever it started, even once the child is gone
    # (in the jail, its PID namespace dies with it).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if wait:
        process.wait()
