"""What ``run.json`` holds: plain JSON (numpy values converted, NaN and inf as null),
UTC time stamps and the versions of the libraries a run used."""

from __future__ import annotations

import json
import platform
import sys
import time

import numpy as np

from .._version import __version__
from ..places import Place, write_atomic


def now() -> str:
    """UTC time stamp as recorded in run.json."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def versions() -> dict[str, str]:
    """Versions of python, ogmbench and the libraries this process has imported."""
    import scipy

    out = {"ogmbench": __version__, "python": platform.python_version(),
           "numpy": np.__version__, "scipy": scipy.__version__}
    for module in ("zarr", "pandas", "pyarrow", "skimage", "torch"):
        if module in sys.modules:
            out[module] = getattr(sys.modules[module], "__version__", "?")
    return out


def write_json(data: dict, path: Place) -> None:
    """Write ``data`` as strict JSON at ``path``, whole (:func:`~ogmbench.places.write_atomic`)."""
    write_atomic(path, (json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n").encode())


def jsonable(value):
    """Plain JSON types, with NaN and inf as null (strict JSON has neither)."""
    value = json.loads(json.dumps(value, default=json_default))

    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return clean(value)


def json_default(value):
    """``json.dumps`` default for numpy values (and str() for anything else)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
