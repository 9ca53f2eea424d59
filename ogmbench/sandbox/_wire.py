"""What crosses from a child to this process: plain data only, never pickle.

A plugin's process may send anything down its socket (it can find the connection among
its own objects), so what this process reads from it must not be able to run code or
take this process's memory: no pickle (whose loader calls functions), a size limit per
frame, and a fixed vocabulary.  A frame is the length of a JSON header, the header,
then the arrays it names, each in NumPy's ``.npy`` format read without pickles::

    {"kind": "replied", "value": {"threshold": 0.5, "estimate": {"__array__": 0}}}

Values are JSON (tuples arrive as lists), NumPy arrays of plain dtypes, and exceptions
as their type's name and message (:func:`rebuild`).  The other direction, from this
process to the child, is this process's own data and stays pickled.
"""

from __future__ import annotations

import builtins
import io
import json
import struct
from typing import Any

import numpy as np

from ..errors import ConfigError, RunFailure, StoreError, UsageError

# One frame at most: a prediction of a whole test chunk fits many times over.
MAX_FRAME = 1 << 30
MAX_MESSAGE = 2000  # characters of an exception's message kept
KINDS = ("message", "ask", "replied", "raised", "returned")


class Malformed(RunFailure):
    """A child sent something that is not a frame of plain data."""


def encode(kind: str, value: Any) -> bytes:
    """The frame of ``(kind, value)`` (in the child).

    Raises
    ------
    TypeError
        For a value that is not plain data (JSON, arrays, exceptions).
    """
    arrays: list[np.ndarray] = []
    header = json.dumps({"kind": kind, "value": _plain(value, arrays)}).encode()
    out = io.BytesIO()
    out.write(struct.pack("<Q", len(header)))
    out.write(header)
    for array in arrays:
        np.lib.format.write_array(out, array, allow_pickle=False)
    return out.getvalue()


def _plain(value, arrays: list):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return _plain(value.item(), arrays)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("an array of Python objects is not plain data")
        arrays.append(np.ascontiguousarray(value))
        return {"__array__": len(arrays) - 1}
    if isinstance(value, (list, tuple)):
        return [_plain(v, arrays) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, arrays) for k, v in value.items()}
    if isinstance(value, BaseException):
        return {"__exception__": [type(value).__module__, type(value).__qualname__,
                                  _message(value), isinstance(value, Exception)]}
    raise TypeError(f"{type(value).__name__} is not plain data (JSON, arrays, exceptions)")


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a __str__ that raises says nothing
        text = ""
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " [...]"


def receive(conn) -> tuple[str, Any]:
    """The next ``(kind, value)`` a child sent.

    Raises
    ------
    EOFError, OSError
        When the child closed its end (or died), or sent a frame over :data:`MAX_FRAME`.
    Malformed
        For bytes that are not a frame of plain data.
    """
    data = conn.recv_bytes(MAX_FRAME)
    try:
        return decode(data)
    except Malformed:
        raise
    except Exception as exc:  # whatever the bytes were, one line
        raise Malformed(f"its process sent a malformed frame ({type(exc).__name__})") from None


def decode(data: bytes) -> tuple[str, Any]:
    """A frame read back: its kind and value, arrays and exceptions rebuilt."""
    stream = io.BytesIO(data)
    (size,) = struct.unpack("<Q", stream.read(8))
    header = json.loads(stream.read(size).decode())
    if not isinstance(header, dict) or header.get("kind") not in KINDS:
        raise Malformed("its process sent a frame of an unknown kind")
    arrays: list[np.ndarray] = []
    while stream.tell() < len(data):
        arrays.append(np.lib.format.read_array(stream, allow_pickle=False))
    return header["kind"], _rebuilt(header.get("value"), arrays)


def _rebuilt(value, arrays):
    if isinstance(value, list):
        return [_rebuilt(v, arrays) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[int(value["__array__"])]
        if set(value) == {"__exception__"}:
            return rebuild(*value["__exception__"])
        return {k: _rebuilt(v, arrays) for k, v in value.items()}
    return value


# ogmbench's exceptions a child may raise, rebuilt as themselves (with their message);
# the rooms that define them add theirs (:func:`returnable`).
_OURS: dict[tuple[str, str], type] = {
    (cls.__module__, cls.__qualname__): cls
    for cls in (ConfigError, RunFailure, StoreError, UsageError)}


def returnable(cls: type) -> type:
    """Let a child's ``cls`` (an ogmbench exception taking one message) come back as
    itself rather than as a :class:`RunFailure` naming it."""
    _OURS[(cls.__module__, cls.__qualname__)] = cls
    return cls


def rebuild(module: str, name: str, message: str, is_exception: bool) -> BaseException:
    """A child's exception as this process raises it: one of ogmbench's or a built-in
    ``Exception`` as itself, anything else a :class:`RunFailure` naming it.  Each is
    marked ``from_child``: a :class:`StoreError` from a plugin is not this run's store."""
    message = str(message)[:MAX_MESSAGE + 6]
    known = getattr(builtins, str(name), None) if module == "builtins" else None
    exc: BaseException
    if not is_exception:  # SystemExit, KeyboardInterrupt...: never this process's
        exc = RunFailure(f"its process raised {name}: {message}")
    elif (module, name) in _OURS:
        exc = _OURS[(module, name)](message)
    elif isinstance(known, type) and issubclass(known, Exception):
        exc = known(message)
    else:
        exc = RunFailure(f"{name}: {message}")
    exc.from_child = True
    return exc
