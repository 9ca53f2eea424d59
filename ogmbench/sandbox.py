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

import builtins
import contextlib
import importlib
import io
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable

from .errors import RunFailure

__all__ = ["ChildDied", "available", "call"]


class ChildDied(RunFailure):
    """The child process ended without an answer (killed, crashed or ``os._exit``).

    ``timed_out`` is true when :func:`call` killed it at its ``limit``.
    """

    timed_out = False


def available() -> bool:
    """Whether calls can run in a child process here (POSIX: fd passing and sessions)."""
    return os.name == "posix"


def call(function: str, payload: Any, on_message: Callable[..., None] | None = None,
         limit: float | None = None) -> Any:
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
    limit : float, optional
        Seconds after which the child is killed (a :class:`ChildDied` with
        ``timed_out``).  A timer thread keeps it, so it works in any thread, unlike
        an alarm (Dask runs units in worker threads).

    Returns
    -------
    Whatever ``function`` returned (it must pickle).

    Raises
    ------
    Exception
        What ``function`` raised, when it pickles and is an ``Exception`` (else a
        :class:`RunFailure` naming it: a ``SystemExit`` in the child never ends this
        process).
    ChildDied
        When the child ended without an answer.
    BaseException
        Whatever interrupts this process meanwhile (a time limit, Ctrl-C).

    Whatever happens, the child and every process it started are killed before this
    returns or raises.
    """
    ours, theirs = socket.socketpair()
    process = conn = timer = None
    expired = threading.Event()
    try:
        # No Ctrl-C or alarm between starting the child and being ready to stop it.
        with _signals_held():
            process = subprocess.Popen(
                [sys.executable, "-m", "ogmbench.sandbox", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], start_new_session=True, env=_environment(),
            )
        theirs.close()
        if limit is not None:
            timer = threading.Timer(limit, _expire, (process, expired))
            timer.daemon = True
            timer.start()
        conn = Connection(os.dup(ours.fileno()))
        try:
            conn.send((list(sys.path), function, payload))
        except OSError:  # it died before reading its call
            raise _died(process, expired, limit) from None
        while True:
            try:
                kind, value = _Answers(io.BytesIO(conn.recv_bytes())).load()
            except (EOFError, ConnectionResetError):
                raise _died(process, expired, limit) from None
            except Exception as exc:  # an answer that pickled but does not unpickle
                raise RunFailure(f"its answer cannot be read here ({type(exc).__name__}: "
                                 f"{exc})") from None
            if kind == "message":
                if on_message is not None:
                    on_message(*value)
            elif kind == "returned":
                _wait_briefly(process)  # it flushes its output and exits on its own
                return value
            elif isinstance(value, Exception):
                _wait_briefly(process)
                raise value
            else:  # SystemExit, KeyboardInterrupt...: the child's, never this process's
                raise RunFailure(f"its process raised {type(value).__name__}: {value}")
    finally:
        if timer is not None:
            timer.cancel()
        if conn is not None:
            conn.close()
        ours.close()
        theirs.close()
        if process is not None:
            _kill(process)


class _Answers(pickle.Unpickler):
    """Unpickles what a child sends, building plain data only.

    Unpickling can call any importable function (``sys.exit`` included): what a plugin's
    process sends may hold containers, numbers, strings, numpy arrays and exceptions,
    nothing that runs code here.
    """

    _BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray",
                 "int", "float", "complex", "bool", "slice", "range"}
    _NUMPY = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
              ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
              ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        found = super().find_class(module, name) if self._allowed(module, name) else None
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not accepted from a child process")
        return found

    def _allowed(self, module: str, name: str) -> bool:
        if module == "builtins":
            value = getattr(builtins, name, None)
            return name in self._BUILTINS or (isinstance(value, type)
                                              and issubclass(value, BaseException))
        if (module, name) in self._NUMPY or module == "numpy.dtypes":
            return True
        if module in ("ogmbench.errors", "ogmbench.tuning", "ogmbench.sandbox",
                      "ogmbench.evaluate", "ogmbench.store", "ogmbench.locks"):
            value = getattr(importlib.import_module(module), name, None)
            return isinstance(value, type) and issubclass(value, BaseException)
        return False


@contextlib.contextmanager
def _signals_held():
    mask = {signal.SIGINT, signal.SIGALRM}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, mask)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # pending ones arrive now


def _environment() -> dict[str, str]:
    # The parent's import path from the start, so that the child imports the same
    # ogmbench (and plugins) before it reads its call.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


def _wait_briefly(process: subprocess.Popen) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=2)


def _ended(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"its process was killed by {name} before it answered"
    return f"its process ended with exit status {status} before it answered"


def _expire(process: subprocess.Popen, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _died(process: subprocess.Popen, expired: threading.Event, limit) -> ChildDied:
    status = process.wait()
    if expired.is_set():
        died = ChildDied(f"its process was killed at its time limit of {limit:g} s")
        died.timed_out = True
        return died
    return ChildDied(_ended(status))


def _kill(process: subprocess.Popen) -> None:
    # The whole session: the child and whatever it started, even once the child is gone.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _serve(fd: int) -> None:
    conn = Connection(fd)
    try:
        path, function, payload = conn.recv()
    except EOFError:  # the parent stopped before sending the call
        return
    sys.path[:] = path
    sending = threading.Lock()  # a plugin may report progress from threads of its own

    def post(message) -> None:
        sys.stdout.flush()  # its output before its answer: the parent ends it after that
        sys.stderr.flush()
        with sending:
            conn.send(message)

    def send(*args) -> None:
        post(("message", args))

    try:
        module, _, name = function.partition(":")
        post(("returned", getattr(importlib.import_module(module), name)(payload, send)))
    except BaseException as exc:  # noqa: B036 -- every outcome goes back to the parent
        try:
            post(("raised", exc))
        except Exception:  # it does not pickle: its name and message do
            post(("raised", RunFailure(f"{type(exc).__name__}: {exc}")))
    conn.close()


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the parent dies (SIGTERM, SIGHUP, a
    crash), so that a run stopped from outside leaves no plugin training behind."""
    with contextlib.suppress(Exception):
        import ctypes

        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)


if __name__ == "__main__":
    # The parent handles the user's Ctrl-C (this child has its own session anyway).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held by the parent while it started us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGALRM})
    _die_with_parent()
    _serve(int(sys.argv[1]))
