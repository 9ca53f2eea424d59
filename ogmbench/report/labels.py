"""The report's words for an estimator's row: its label with a prior control, what it
reads besides the target's last frame, and which twin of another estimator it is."""

from __future__ import annotations

from ..specs import twin_name

__all__ = ["row_label", "estimator_of", "reads_past", "prior_kind", "twin_word", "prior_label"]


def row_label(estimator: str, control: str) -> str:
    """``concat``, ``concat, X2 shuffled``, ``concat-time, past shuffled``."""
    if control == "none":
        return estimator
    if control.startswith("past-"):
        return f"{estimator}, past {control.removeprefix('past-')}"
    return f"{estimator}, X2 {control}"


def estimator_of(label: str) -> str:
    """The estimator of a row label (:func:`row_label`)."""
    return label.split(", X2 ")[0].split(", past ")[0]


def reads_past(row) -> bool:
    """Whether a results row's estimator reads the past (results written before sequences
    have no such column, or an empty cell: it does not)."""
    value = getattr(row, "uses_past", False)
    return value is True or str(value) == "True"


def prior_kind(uses_prior: bool, uses_past: bool) -> str:
    """What an estimator reads besides the target's last frame, in the report's words."""
    return {(True, False): "cross-class (X2)", (False, True): "temporal (past frames)",
            (True, True): "both"}.get((bool(uses_prior), bool(uses_past)), "neither")


# A twin's name ends in its prior source (specs.twin_name); in the report's words.
_TWIN_WORDS = tuple((source, f"{word} twin") for source, word in (
    ("shuffled", "blind"), ("zeros", "zeros"), ("oracle", "oracle"),
    ("past-shuffled", "past-blind"), ("past-zeros", "past-zeros"), ("past-oracle", "past-oracle")))


def twin_word(estimator: str, names) -> str | None:
    """Which twin ``estimator`` is of one of ``names`` (``"blind twin"``, ...), or None."""
    for base in names:
        for source, word in _TWIN_WORDS:
            if base != estimator and twin_name(base, source) == estimator:
                return word
    return None


def prior_label(estimator: str, uses_prior: bool, uses_past: bool, names) -> str:
    """:func:`prior_kind`, with which twin ``estimator`` is of one of ``names``."""
    twin = twin_word(estimator, names)
    return prior_kind(uses_prior, uses_past) + (f", {twin}" if twin else "")
