"""What crosses between this process and a child: frames, and a reader that builds plain
data only from what a child sends."""

from __future__ import annotations

import builtins
import importlib
import io
import pickle
from typing import Any

from ..errors import RunFailure


class Answers(pickle.Unpickler):
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
    # Exceptions of these rooms may come back (a failure described by the child).
    _ROOMS = ("ogmbench.errors", "ogmbench.tuning", "ogmbench.sandbox", "ogmbench.eval_config",
              "ogmbench.locks", "ogmbench.runs._run")

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
        if module in self._ROOMS:
            value = getattr(importlib.import_module(module), name, None)
            return isinstance(value, type) and issubclass(value, BaseException)
        return False


def receive(conn) -> tuple[str, Any]:
    """The next ``(kind, value)`` frame a child sent; EOFError when it is gone.

    Raises
    ------
    EOFError, ConnectionResetError
        When the child closed its end (or died).
    RunFailure
        For a frame that pickled but is not plain data.
    """
    data = conn.recv_bytes()
    try:
        return Answers(io.BytesIO(data)).load()
    except Exception as exc:  # an answer that pickled but does not unpickle
        raise RunFailure(f"its answer cannot be read here ({type(exc).__name__}: {exc})") from None
