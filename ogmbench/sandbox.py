"""Run one call in a child process that ogmbench can always stop: third-party estimators.

In-process, a plugin can defeat a time limit (ignore SIGALRM, loop on ``except
BaseException``), end the whole run with ``os._exit(0)`` or move the working folder
under it.  In a child process none of that reaches the run: the child is killed (with
any processes it started) when the time is up or the user presses Ctrl-C, and a child
that ends without an answer is a failure with its exit status.

The child is a fresh interpreter (``python -m ogmbench.sandbox``), not a fork: a fork
would inherit zarr's I/O thread and torch's OpenMP pool half-initialised.  It gets the
parent's ``sys.path`` and working folder, its own session (the terminal's Ctrl-C goes to
the parent, which stops it), and a socket over which it receives the call and sends
messages (progress) and, last, the answer.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, Callable

from .errors import RunFailure

__all__ = ["ChildDied", "available", "call"]


class ChildDied(RunFailure):
    """The child process ended without an answer (killed, crashed or ``os._exit``)."""


def available() -> bool:
    """Whether calls can run in a child process here (POSIX: fd passing and sessions)."""
    return os.name == "posix"


def call(function: str, payload: Any, on_message: Callable[..., None] | None = None) -> Any:
    """Run ``function(payload, send)`` in a child process and return its result.

    Parameters
    ----------
    function : str
        ``"package.module:name"`` of a module-level function, imported in the child.
    payload : picklable
        Its first argument.
    on_message : callable, optional
        Called in this process with the arguments of every ``send(*args)`` the child
        makes, in order, before the call returns.

    Returns
    -------
    Whatever ``function`` returned (it must pickle).

    Raises
    ------
    Exception
        What ``function`` raised, when it pickles (else a :class:`RunFailure` naming it).
    ChildDied
        When the child ended without an answer.
    BaseException
        Whatever interrupts this process meanwhile (a time limit, Ctrl-C): the child and
        every process it started are killed first.
    """
    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = subprocess.Popen(
            [sys.executable, "-m", "ogmbench.sandbox", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], start_new_session=True,
        )
        theirs.close()
        conn = Connection(os.dup(ours.fileno()))
        try:
            conn.send((list(sys.path), function, payload))
            while True:
                try:
                    kind, value = conn.recv()
                except EOFError:
                    raise ChildDied(_ended(process.wait())) from None
                except Exception as exc:  # an answer that pickled but does not unpickle
                    raise RunFailure(f"its answer cannot be read here ({type(exc).__name__}: "
                                     f"{exc})") from None
                if kind == "message":
                    if on_message is not None:
                        on_message(*value)
                elif kind == "returned":
                    return value
                else:
                    raise value
        finally:
            conn.close()
            if process.poll() is None:
                _kill(process)


def _ended(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"its process was killed by {name} before it answered"
    return f"its process ended with exit status {status} before it answered"


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the child and whatever it started
    except ProcessLookupError:
        pass
    process.wait()


def _serve(fd: int) -> None:
    conn = Connection(fd)
    path, function, payload = conn.recv()
    sys.path[:] = path
    module, _, name = function.partition(":")
    target = getattr(importlib.import_module(module), name)

    def send(*args) -> None:
        conn.send(("message", args))

    try:
        conn.send(("returned", target(payload, send)))
    except BaseException as exc:  # noqa: B036 -- every outcome goes back to the parent
        try:
            conn.send(("raised", exc))
        except Exception:  # it does not pickle: its name and message do
            conn.send(("raised", RunFailure(f"{type(exc).__name__}: {exc}")))
    conn.close()


if __name__ == "__main__":
    # The parent handles the user's Ctrl-C (this child has its own session anyway).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(int(sys.argv[1]))
