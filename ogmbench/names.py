"""Names that become file names: the one rule, so that no name escapes its folder.

Estimator names become ``samples/<name>.parquet`` in a run directory; benchmark and
dataset names become folders of a reproduction.  A name qualifies when it is letters,
digits, ``-``, ``_`` or ``.``, does not start with ``.`` and is at most
:data:`MAX_LENGTH` characters; anything else is a usage error, never rewritten into
something else (two names must not collapse into one file).
"""

from __future__ import annotations

from .errors import ConfigError

__all__ = ["MAX_LENGTH", "is_plain", "file_name", "show"]

MAX_LENGTH = 100


def is_plain(name: object) -> bool:
    """Whether ``name`` can be a file name as it is (see the module docstring)."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_LENGTH and not name.startswith(".")
            and all(c.isalnum() or c in "-_." for c in name))


def file_name(name: object, what: str) -> str:
    """``name`` itself when it can be a file name; else :class:`ConfigError` naming ``what``.

    Examples
    --------
    >>> file_name("bayes-cell", "estimator name")
    'bayes-cell'
    """
    if not is_plain(name):
        raise ConfigError(f"{what} {show(name)} cannot be a file name: use letters, digits, "
                          f"'-', '_' or '.', not starting with '.', at most {MAX_LENGTH} "
                          "characters")
    return name


def show(name: object) -> str:
    """A name as written, or its repr when it holds characters that would break a line."""
    text = str(name)
    return text if text.isprintable() else repr(text)
