"""The ``ogmbench`` command line: each command parses, calls one library function, prints.

Expected problems (bad input, a foreign or damaged store) print one line on stderr
and exit 2; a failed run exits 1; an interrupted run exits 130 and says how to resume.

One click group (:mod:`._group`, with :func:`main`, the error contract); the commands
join it from their modules: :mod:`._data` (generate, info, verify, show, list),
:mod:`._eval` (eval, leaderboard), :mod:`._reproduce` (reproduce); :mod:`._options`
holds the option types they share, :mod:`._progress` the progress bars.
"""

from . import _data, _eval, _reproduce  # noqa: F401  (importing a module adds its commands)
from ._group import cli, main

__all__ = ["cli", "main"]
