"""The child's side: read the call, run it, answer; serve a session's requests."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, Iterator

from ._wire import encode


class Channel:
    """What a function run in a child is handed: ``channel(*args)`` sends a message
    (progress); :meth:`ask` asks the parent for data; :meth:`requests` and :meth:`reply`
    serve a :class:`~ogmbench.sandbox.Session`."""

    def __init__(self, conn: Connection):
        self._conn = conn
        self._sending = threading.Lock()  # a plugin may report progress from its threads

    def post(self, frame) -> None:
        data = encode(*frame)  # plain data only (the parent reads no pickle)
        sys.stdout.flush()  # its output before its answer: the parent ends it after that
        sys.stderr.flush()
        with self._sending:
            self._conn.send_bytes(data)

    def __call__(self, *args) -> None:
        self.post(("message", args))

    def ask(self, *args) -> Any:
        """The parent's answer to ``args`` (its data: the child has no other)."""
        data = encode("ask", args)
        with self._sending:
            self._conn.send_bytes(data)
            kind, value = self._conn.recv()
        return value

    def requests(self) -> Iterator[tuple]:
        """The parent's requests, until it closes the session."""
        while True:
            kind, value = self._conn.recv()
            if kind == "close":
                return
            yield value

    def reply(self, value) -> None:
        self.post(("replied", value))

    def fail(self, exc: BaseException) -> None:
        self.post(("raised", exc))


def serve(fd: int) -> None:
    """Run the call the parent sends on ``fd`` and send back what it returned or raised."""
    conn = Connection(fd)
    try:
        path, function, payload = conn.recv()
    except EOFError:  # the parent stopped before sending the call
        return
    sys.path[:] = path
    channel = Channel(conn)
    try:
        module, _, name = function.partition(":")
        channel.post(("returned", getattr(importlib.import_module(module), name)(payload, channel)))
    except BaseException as exc:  # noqa: B036 -- every outcome goes back to the parent
        with contextlib.suppress(Exception):
            channel.fail(exc)
    conn.close()


def die_with_parent() -> None:
    """Linux: the kernel kills this process when the parent dies (SIGTERM, SIGHUP, a
    crash), so that a run stopped from outside leaves no plugin training behind."""
    with contextlib.suppress(Exception):
        import ctypes

        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)


def main(argv: list[str]) -> None:
    """``python -m ogmbench.sandbox FD``."""
    # The parent handles the user's Ctrl-C (this child has its own session anyway).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held by the parent while it started us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGALRM})
    die_with_parent()
    serve(int(argv[1]))
