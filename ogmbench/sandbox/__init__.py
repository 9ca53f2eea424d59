"""Run third-party code (plugins' fit and predict) in a child process ogmbench can always
stop, and, where the platform allows, cannot see past (:mod:`._jail`).

In-process, a plugin can defeat a time limit (ignore SIGALRM, loop on ``except
BaseException``), end the whole run with ``os._exit(0)`` or move the working folder
under it.  In a child process none of that reaches the run: the child is killed (with
any processes it started) when the time is up or the user presses Ctrl-C, and a child
that ends without an answer is a failure with its exit status.  In the jail it also
sees no other process (it cannot signal the run) and no store or run directory.

The child is a fresh interpreter (``python -m ogmbench.sandbox``), not a fork: a fork
would inherit zarr's I/O thread and torch's OpenMP pool half-initialised.  It gets the
parent's ``sys.path`` and working folder, its own session (the terminal's Ctrl-C goes to
the parent, which stops it), and a socket over which it receives the call and sends
messages (progress) and, last, the answer.  :func:`call` runs one function;
a :class:`Session` keeps the child for a conversation: this process sends requests
(``fit``, ``predict``) and the child answers each, asking this process for what it may
read meanwhile (``channel.ask``).  What a child sends is read as plain data only
(:class:`._wire.Answers`).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable

from ..errors import RunFailure
from . import _jail, _process
from ._wire import Malformed, receive, returnable

__all__ = ["ChildDied", "Malformed", "Session", "available", "call", "jail_status", "returnable"]


class ChildDied(RunFailure):
    """The child process ended without an answer (killed, crashed or ``os._exit``).

    ``timed_out`` is true when it was killed at its ``limit``.
    """

    timed_out = False


def _called(function, args, what: str):
    """``function(*args)`` for what a child sent; its malformed arguments one line."""
    if not isinstance(args, list):
        raise Malformed(f"its process sent {what} that is not a list of arguments")
    try:
        return function(*args)
    except TypeError as exc:
        raise Malformed(f"its process sent {what} of the wrong shape ({exc})") from None


def available() -> bool:
    """Whether calls can run in a child process here (POSIX: fd passing and sessions)."""
    return os.name == "posix"


def jail_status() -> str:
    """One line: how a plugin's process is confined on this machine."""
    return _jail.status()


def call(function: str, payload: Any, on_message: Callable[..., None] | None = None,
         limit: float | None = None, jail: dict | None = None) -> Any:
    """Run ``function(payload, channel)`` in a child process and return its result.

    Parameters
    ----------
    function : str
        ``"package.module:name"`` of a module-level function, imported in the child.
    payload : picklable
        Its first argument.
    on_message : callable, optional
        Called in this process with the arguments of every ``channel(*args)`` the child
        makes, in order, before the call returns.
    limit : float, optional
        Seconds after which the child is killed (a :class:`ChildDied` with
        ``timed_out``).  A timer thread keeps it, so it works in any thread, unlike
        an alarm (Dask runs units in worker threads).
    jail : dict, optional
        Run in the jail where there is one: ``hidden``, ``writable`` and ``network`` as
        :func:`._jail.command` takes them.

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
    with Session(function, payload, on_message=on_message, limit=limit, jail=jail) as child:
        return child.returned()


class Session:
    """A child process kept for a conversation (see the module notes).

    Parameters
    ----------
    function, payload, on_message, limit, jail
        As :func:`call`; ``function(payload, channel)`` serves ``channel.requests()``
        with ``channel.reply`` and returns when the session is finished.
    on_ask : callable, optional
        ``on_ask(*args)`` answers the child's ``channel.ask(*args)``; without it the
        child is refused.
    """

    def __init__(self, function: str, payload: Any, *, on_message=None, on_ask=None,
                 limit: float | None = None, jail: dict | None = None):
        self._on_message, self._on_ask, self._limit = on_message, on_ask, limit
        self._process = self._conn = self._timer = None
        self._expired = threading.Event()
        ours, theirs = socket.socketpair()
        try:
            self._process = _process.start(theirs.fileno(), jail)
            theirs.close()
            if limit is not None:
                self._timer = threading.Timer(limit, _process.expire,
                                              (self._process, self._expired))
                self._timer.daemon = True
                self._timer.start()
            self._conn = Connection(os.dup(ours.fileno()))
            self._send((list(sys.path), function, payload))
        except BaseException:
            self.close()
            raise
        finally:
            ours.close()
            theirs.close()

    def request(self, *args) -> Any:
        """The child's reply to ``args`` (what it raised, raised here)."""
        self._send(("request", args))
        return self._until("replied")

    def finish(self) -> Any:
        """End the requests and return what the child's function returned."""
        self._send(("close", None))
        return self.returned()

    def returned(self) -> Any:
        value = self._until("returned")
        _process.wait_briefly(self._process)  # it flushes its output and exits on its own
        return value

    def close(self) -> None:
        """Kill the child and every process it started (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            _process.kill(self._process)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, frame) -> None:
        try:
            self._conn.send(frame)
        except OSError:  # it died before reading
            raise self._died() from None

    def _until(self, wanted: str) -> Any:
        while True:
            try:
                kind, value = receive(self._conn)
            except (EOFError, OSError):  # gone, or a frame over the limit
                raise self._died() from None
            if kind == wanted:
                return value
            if kind == "message":
                if self._on_message is not None:
                    _called(self._on_message, value, "a message")
            elif kind == "ask":
                self._send(("answer", _called(self._on_ask, value, "a question")
                            if self._on_ask is not None else None))
            elif kind == "raised" and isinstance(value, BaseException):
                if wanted == "returned":
                    _process.wait_briefly(self._process)
                raise value
            else:
                raise Malformed(f"its process sent {kind!r} out of turn")

    def _died(self) -> ChildDied:
        # A child that closed its socket but lives on would never be waited out: a
        # moment to end on its own (and say how), then it is killed.
        _process.wait_briefly(self._process)
        _process.kill(self._process)
        if self._expired.is_set():
            died = ChildDied(f"its process was killed at its time limit of {self._limit:g} s")
            died.timed_out = True
            return died
        return ChildDied(_process.ended(self._process.returncode))
