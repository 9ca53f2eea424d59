"""The README's numbers, from the published results: ``python docs/readme_numbers.py [--write]``.

Every published number the README quotes is a *claim* below: a fragment of README text
whose numbers are placeholders naming a cell of a published ``results.csv`` (with the
heading of the section it is in, where the same words occur in several).  Without
``--write`` the script lists every claim whose text is not in the README as the results
give it (and ``tests/test_readme_numbers.py`` fails on it); with ``--write`` it rewrites
those fragments in place, so that a republished leaderboard updates its prose in one
command and nothing is copied by hand.

A placeholder is ``{KIND PROFILE ESTIMATORS METRIC RHO}``:

* PROFILE: ``default``, ``bev-cpu``, ``time-cpu``, ``white-cpu``; ``PROFILE@N`` names a data-scaling
  run with N train samples per rho (no published CPU profile has one now).
* ESTIMATORS: a row label, ``name`` or ``name/control`` (``concat/shuffled``: X2
  shuffled at test); a comma-separated list for ``min``/``max`` kinds.
* METRIC: a column of results.csv's ``metric`` (``gain_mse``, ``gain_info``, ``mse`` ...);
  for ``ratio`` kinds, the reference row instead (MSE of the row over the reference's).
* RHO: ``0``, ``0.3`` ..., ``all`` (pooled), or ``*`` (every rho, for ``min``/``max``).

``sgmin``/``sgmax``: the least/largest, over the training seeds, of the row's MSE gain
in % over the estimator named in the METRIC place, at RHO, each seed against the same
seed, from the folder's ``samples.parquet``; one decimal.

KIND: ``g`` a signed value ± the larger side of its 95% interval, one decimal (``+5.9 ±
1.7``); ``g0`` the same without decimals; ``gv`` the signed value alone; ``pm`` the ±
alone; ``s`` a share, unsigned, no decimals, with its ±; ``u`` a value, unsigned, one
decimal; ``m3``/``m4`` a value to 3/4 decimals; ``r`` a ratio of MSEs, one decimal;
``gmin``/``gmax``, ``pmmin``/``pmmax``, ``m3min``/``m3max``, ``rmin``/``rmax`` the
least/largest over the listed estimators and rho; ``phi`` the row's measured phi, two
decimals.
"""

from __future__ import annotations

import argparse
import re
import sys
from functools import lru_cache
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"default": "leaderboard", "bev-cpu": "leaderboard/bev-cpu",
           "time-cpu": "leaderboard/time-cpu", "white-cpu": "leaderboard/white-cpu"}
MINUS = "\u2212"
_NUMBER = rf"[+{MINUS}-]?\d+(?:\.\d+)?(?: ± \d+(?:\.\d+)?)?"
_PLACEHOLDER = re.compile(r"\{([a-z0-9]+) ([^{}]+)\}")

CLAIMS = [
    # Every README line holding a published number; a table row is
    # scoped to its section (a row's label may repeat across tables).
    '  {g default concat gain_mse 0} % at rho 0, {g default concat gain_mse 0.3} % at 0.3, {g default concat gain_mse 0.6} % at 0.6 and **{g default concat gain_mse 0.9} % at rho 0.9**. At rho 0.9',
    '  every training gains (from {sgmin default concat unet 0.9} to {sgmax default concat unet 0.9} %, each seed against the U-Net of the',
    '* Every U-Net beats every classical filter, resolved (MSE over all rho {m3min default unet,concat,concat-shuffled mse all}–{m3max default unet,concat,concat-shuffled mse all} against',
    "  {m3 default tv mse all} for `tv`, the best filter; no filter's interval reaches a U-Net's).",
    "{g bev-cpu concat gain_mse all} % and its blind twin (another sample's X2) {g bev-cpu concat-shuffled gain_mse all} %; against the blind twin,",
    "X2's information is worth {g bev-cpu concat gain_info all} %. Vehicles are small against the drivable area (phi",
    'about {phi bev-cpu unet mse 0.9} at rho 0.9 on these scenes), and the camera noise on X2 hides most of what',
    'measurably. Over all rho `concat` (X2) gains {g time-cpu concat gain_mse all} % over the U-Net and `concat-time`',
    "profile's training): there concat gains {g default concat gain_mse 0} % at rho 0. On a 48x48 `field`",
    ('## What the published numbers say, and how sure they are',
     '| concat over unet | {g default concat gain_mse 0} | {g default concat gain_mse 0.3} | {g default concat gain_mse 0.6} | **{g default concat gain_mse 0.9}** |'),
    ('## What the published numbers say, and how sure they are',
     "| concat over its blind twin (X2's information) | {g default concat gain_info 0} | {g default concat gain_info 0.3} | {g default concat gain_info 0.6} | **{g default concat gain_info 0.9}** |"),
    ('## What the published numbers say, and how sure they are',
     '| blind twin over unet (the architecture) | {g default concat-shuffled gain_mse 0} | {g default concat-shuffled gain_mse 0.3} | {g default concat-shuffled gain_mse 0.6} | {g default concat-shuffled gain_mse 0.9} |'),
    ('## What the published numbers say, and how sure they are',
     '| concat over unet, X2 shuffled at test only | {g default concat/shuffled gain_mse 0} | {g default concat/shuffled gain_mse 0.3} | {g default concat/shuffled gain_mse 0.6} | {g default concat/shuffled gain_mse 0.9} |'),
    "  concat over unet run from {sgmin default concat unet 0.9} to {sgmax default concat unet 0.9} %, and the seeds' part of the interval is",
    '  {m4 default guided mse 0.9} against {m4 default guided/shuffled mse 0.9} with X2 shuffled, at rho 0.9; `mrf` nothing). `bayes-cell`',
    '  gains a lot ({m3 default bayes-cell mse 0.9} against {m3 default bayes-cell/shuffled mse 0.9} shuffled) but has no spatial context and stays far',
    ('### The BEV-scale dataset (`leaderboard/bev-cpu/`, profile `bev-cpu`)',
     '| concat over unet | {g bev-cpu concat gain_mse 0} | {g bev-cpu concat gain_mse 0.3} | {g bev-cpu concat gain_mse 0.6} | {g bev-cpu concat gain_mse 0.9} | {g bev-cpu concat gain_mse all} |'),
    ('### The BEV-scale dataset (`leaderboard/bev-cpu/`, profile `bev-cpu`)',
     "| concat over its blind twin (X2's information) | {g bev-cpu concat gain_info 0} | {g bev-cpu concat gain_info 0.3} | {g bev-cpu concat gain_info 0.6} | {g bev-cpu concat gain_info 0.9} | {g bev-cpu concat gain_info all} |"),
    ('### The BEV-scale dataset (`leaderboard/bev-cpu/`, profile `bev-cpu`)',
     '| blind twin over unet (the architecture) | {g bev-cpu concat-shuffled gain_mse 0} | {g bev-cpu concat-shuffled gain_mse 0.3} | {g bev-cpu concat-shuffled gain_mse 0.6} | {g bev-cpu concat-shuffled gain_mse 0.9} | {g bev-cpu concat-shuffled gain_mse all} |'),
    "  whatever X2 holds. Over all rho concat's gain is resolved ({g bev-cpu concat gain_mse all} %), its",
    '  nothing measurable at any rho ({gmin bev-cpu concat gain_info *} to {gmax bev-cpu concat gain_info *} % against the blind twin).',
    "* **X2 is read.** Shuffling X2 at test raises concat's MSE to {rmin bev-cpu concat/shuffled unet *}–{rmax bev-cpu concat/shuffled unet *} times the",
    ('### The temporal prior (`leaderboard/time-cpu/`, profile `time-cpu`)',
     '| concat (X2) over unet | {g time-cpu concat gain_mse 0} | {g time-cpu concat gain_mse 0.3} | {g time-cpu concat gain_mse 0.6} | {g time-cpu concat gain_mse 0.9} | {g time-cpu concat gain_mse all} |'),
    ('### The temporal prior (`leaderboard/time-cpu/`, profile `time-cpu`)',
     '| concat-time (past) over unet | {g time-cpu concat-time gain_mse 0} | {g time-cpu concat-time gain_mse 0.3} | {g time-cpu concat-time gain_mse 0.6} | {g time-cpu concat-time gain_mse 0.9} | {g time-cpu concat-time gain_mse all} |'),
    ('### The temporal prior (`leaderboard/time-cpu/`, profile `time-cpu`)',
     '| concat-time, past shuffled at test, over unet | {g time-cpu concat-time/past-shuffled gain_mse 0} | {g time-cpu concat-time/past-shuffled gain_mse 0.3} | {g time-cpu concat-time/past-shuffled gain_mse 0.6} | {g time-cpu concat-time/past-shuffled gain_mse 0.9} | {g time-cpu concat-time/past-shuffled gain_mse all} |'),
    ('### The temporal prior (`leaderboard/time-cpu/`, profile `time-cpu`)',
     '| concat, X2 shuffled at test, over unet | {g0 time-cpu concat/shuffled gain_mse 0} | {g0 time-cpu concat/shuffled gain_mse 0.3} | {g0 time-cpu concat/shuffled gain_mse 0.6} | {g0 time-cpu concat/shuffled gain_mse 0.9} | {g0 time-cpu concat/shuffled gain_mse all} |'),
    '* **Neither prior helps measurably.** Over all rho, `concat` gains {g time-cpu concat gain_mse all} % and',
    "  `concat-time` {g time-cpu concat-time gain_mse all} %; concat's trainings differ so much that its interval",
    '  {rmin time-cpu concat/shuffled unet *}-{rmax time-cpu concat/shuffled unet *} times the MSE of `unet`: X2 is leaned on heavily. Shuffling the past',
    '  takes `concat-time` from {gv time-cpu concat-time gain_mse all} to {gv time-cpu concat-time/past-shuffled gain_mse all} %: read a little, for nothing. Whether a',
    '  calibration alone (MSE {m4 time-cpu log-odds mse all} over all rho, against {m4 time-cpu bayes-cell mse all} for `bayes-cell`, which',
    '  also reads X2, and {m4 time-cpu unet mse all} for `unet`).',
    '  {g default concat gain_info 0.9} % at rho 0.9: paired seed by seed, the two trainings share their start and',
    '  {g default concat-shuffled gain_mse 0.9} % over the U-Net there, unresolved; more seeds, not more test samples,',
    '(the past frames) {g time-cpu concat-time gain_mse all} %. Both networks read their prior: with X2 shuffled',
    "at test concat's gain falls to {g0 time-cpu concat/shuffled gain_mse all} %, with the past shuffled concat-time's to {g time-cpu concat-time/past-shuffled gain_mse all} %. The vehicles",
    # The Bayes limit on white fields (white-cpu).
    '{u white-cpu bayes-optimal gain_bayes 0.3}, {u white-cpu bayes-optimal gain_bayes 0.6} and {u white-cpu bayes-optimal gain_bayes 0.9} % of the error at rho 0.3, 0.6 and 0.9, and nothing at rho 0.',
    'Without X2 the U-Net is close to the limit (MSE {m4 white-cpu unet mse all} against {m4 white-cpu bayes-optimal-x1 mse all} over all rho).',
    'With X2, `concat` takes {s white-cpu concat share_bayes 0.3}, {s white-cpu concat share_bayes 0.6} and {s white-cpu concat share_bayes 0.9} % of the attainable reduction at rho 0.3, 0.6',
    'and 0.9, and **gains {g white-cpu concat gain_mse 0} % at rho 0**: it fuses as if every map had the',
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| attainable gain, % (bayes-optimal over bayes-optimal-x1) | {g white-cpu bayes-optimal gain_bayes 0} | {g white-cpu bayes-optimal gain_bayes 0.3} | {g white-cpu bayes-optimal gain_bayes 0.6} | {g white-cpu bayes-optimal gain_bayes 0.9} | {g white-cpu bayes-optimal gain_bayes all} |'),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| concat over unet, % | {g white-cpu concat gain_mse 0} | {g white-cpu concat gain_mse 0.3} | {g white-cpu concat gain_mse 0.6} | {g white-cpu concat gain_mse 0.9} | {g white-cpu concat gain_mse all} |'),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', "| concat's share of the attainable, % | | {s white-cpu concat share_bayes 0.3} | {s white-cpu concat share_bayes 0.6} | {s white-cpu concat share_bayes 0.9} | {s white-cpu concat share_bayes all} |"),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| MSE of bayes-optimal (told rho) | {m4 white-cpu bayes-optimal mse 0} | {m4 white-cpu bayes-optimal mse 0.3} | {m4 white-cpu bayes-optimal mse 0.6} | {m4 white-cpu bayes-optimal mse 0.9} | {m4 white-cpu bayes-optimal mse all} |'),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| MSE of bayes-optimal-unknown-rho | {m4 white-cpu bayes-optimal-unknown-rho mse 0} | {m4 white-cpu bayes-optimal-unknown-rho mse 0.3} | {m4 white-cpu bayes-optimal-unknown-rho mse 0.6} | {m4 white-cpu bayes-optimal-unknown-rho mse 0.9} | {m4 white-cpu bayes-optimal-unknown-rho mse all} |'),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| MSE of concat | {m4 white-cpu concat mse 0} | {m4 white-cpu concat mse 0.3} | {m4 white-cpu concat mse 0.6} | {m4 white-cpu concat mse 0.9} | {m4 white-cpu concat mse all} |'),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| MSE of bayes-cell | {m4 white-cpu bayes-cell mse 0} | {m4 white-cpu bayes-cell mse 0.3} | {m4 white-cpu bayes-cell mse 0.6} | {m4 white-cpu bayes-cell mse 0.9} | {m4 white-cpu bayes-cell mse all} |'),
    ('### The Bayes limit on white fields (`leaderboard/white-cpu/`, profile `white-cpu`)', '| MSE of unet / bayes-optimal-x1 | {m4 white-cpu unet mse 0} / {m4 white-cpu bayes-optimal-x1 mse 0} | {m4 white-cpu unet mse 0.3} / {m4 white-cpu bayes-optimal-x1 mse 0.3} | {m4 white-cpu unet mse 0.6} / {m4 white-cpu bayes-optimal-x1 mse 0.6} | {m4 white-cpu unet mse 0.9} / {m4 white-cpu bayes-optimal-x1 mse 0.9} | {m4 white-cpu unet mse all} / {m4 white-cpu bayes-optimal-x1 mse all} |'),
    '  at 0.9, and pays for it at rho 0.** Its gain at rho 0 ({g white-cpu concat gain_mse 0} %) is what',
    '  shuffling X2 at test costs it at every rho ({gmin white-cpu concat/shuffled gain_mse *} to {gmax white-cpu concat/shuffled gain_mse *} %): at rho 0 it',
    # The Bayes limit on smooth fields (the default profile).
    ('### The Bayes limit on smooth fields (`leaderboard/`, the default profile)', '| attainable gain, % (bayes-optimal over bayes-optimal-x1) | {g default bayes-optimal gain_bayes 0} | {g default bayes-optimal gain_bayes 0.3} | {g default bayes-optimal gain_bayes 0.6} | {g default bayes-optimal gain_bayes 0.9} | {g default bayes-optimal gain_bayes all} |'),
    ('### The Bayes limit on smooth fields (`leaderboard/`, the default profile)', '| concat over unet, % | {g default concat gain_mse 0} | {g default concat gain_mse 0.3} | {g default concat gain_mse 0.6} | {g default concat gain_mse 0.9} | {g default concat gain_mse all} |'),
    ('### The Bayes limit on smooth fields (`leaderboard/`, the default profile)', "| concat's share of the attainable, % | | | {s default concat share_bayes 0.6} | {s default concat share_bayes 0.9} | {s default concat share_bayes all} |"),
    ('### The Bayes limit on smooth fields (`leaderboard/`, the default profile)', '| bayes-optimal-x1 over unet, % (the limit without X2) | {g default bayes-optimal-x1 gain_mse 0} | {g default bayes-optimal-x1 gain_mse 0.3} | {g default bayes-optimal-x1 gain_mse 0.6} | {g default bayes-optimal-x1 gain_mse 0.9} | {g default bayes-optimal-x1 gain_mse all} |'),
    ('### The Bayes limit on smooth fields (`leaderboard/`, the default profile)', '| MSE of bayes-optimal / bayes-optimal-x1 | {m4 default bayes-optimal mse 0} / {m4 default bayes-optimal-x1 mse 0} | {m4 default bayes-optimal mse 0.3} / {m4 default bayes-optimal-x1 mse 0.3} | {m4 default bayes-optimal mse 0.6} / {m4 default bayes-optimal-x1 mse 0.6} | {m4 default bayes-optimal mse 0.9} / {m4 default bayes-optimal-x1 mse 0.9} | {m4 default bayes-optimal mse all} / {m4 default bayes-optimal-x1 mse all} |'),
    ('### The Bayes limit on smooth fields (`leaderboard/`, the default profile)', '| MSE of concat / unet | {m4 default concat mse 0} / {m4 default unet mse 0} | {m4 default concat mse 0.3} / {m4 default unet mse 0.3} | {m4 default concat mse 0.6} / {m4 default unet mse 0.6} | {m4 default concat mse 0.9} / {m4 default unet mse 0.9} | {m4 default concat mse all} / {m4 default unet mse all} |'),
    '  the limit without it.** X2 can remove {u default bayes-optimal gain_bayes 0.6} and {u default bayes-optimal gain_bayes 0.9} % of the error at rho 0.6 and',
    '  0.9 (white fields: {u white-cpu bayes-optimal gain_bayes 0.6} and {u white-cpu bayes-optimal gain_bayes 0.9} %): a smooth X1 map already tells much about each',
    '  of its cells through its neighbours (the Bayes MSE without X2 is {m4 default bayes-optimal-x1 mse all}, against',
    '  {m4 white-cpu bayes-optimal-x1 mse all} on white fields). But the Bayes estimate without X2 is {u default bayes-optimal-x1 gain_mse all} % below the',
    '  reduction is {s default concat share_bayes 0.9} % at rho 0.9 (its own MSE reduction over the U-Net,',
    "  {gv default concat gain_mse 0.9} %, against an attainable {gv default bayes-optimal gain_bayes 0.9} %): the trainings' spread dominates, as for the gain",
    "  defined. With X2 the posterior's MSE is {u default bayes-optimal gain_mse 0.9} % below the U-Net's at rho 0.9,",
    "  concat's {u default concat gain_mse 0.9} %: most of that distance is the spatial inference of the first",
    "  {g default bayes-optimal gain_bayes 0} %: the Monte Carlo error and the test samples' together.",
    "Bayes references' posterior is sampled): X2 can remove {u default bayes-optimal gain_bayes 0.6} and {u default bayes-optimal gain_bayes 0.9} % of the error at rho 0.6",
    "and 0.9, and concat's share of that is not resolved ({s default concat share_bayes 0.9} % at rho 0.9). Without X2 the",
    "Bayes estimate is already {u default bayes-optimal-x1 gain_mse all} % below the U-Net's MSE over all rho: on smooth maps the",
]


@lru_cache(maxsize=None)
def results(profile: str) -> pd.DataFrame:
    """One published results.csv (``PROFILE@N``: its data-scaling rows of N per rho)."""
    name, _, train = profile.partition("@")
    table = pd.read_csv(ROOT / FOLDERS[name] / "results.csv", skiprows=1, dtype={"rho": str})
    if train:
        return table[table["train_size"] == int(train)]
    return table[table["train_size"] == table["train_size"].max()]


def cell(profile: str, row: str, metric: str, rho: str) -> tuple[float, float, float]:
    """(value, lo, hi) of one published cell; a KeyError names a cell that is not there."""
    estimator, _, control = row.partition("/")
    table = results(profile)
    hit = table[(table["estimator"] == estimator) & (table["control"] == (control or "none"))
                & (table["metric"] == metric) & (table["rho"] == rho)]
    if len(hit) != 1:
        raise KeyError(f"{profile}: no single cell {row} {metric} rho {rho} ({len(hit)} rows)")
    value, lo, hi = hit[["value", "lo", "hi"]].iloc[0]
    return float(value), float(lo), float(hi)


@lru_cache(maxsize=None)
def samples(profile: str) -> pd.DataFrame:
    """One published samples.parquet, its rows without a prior control."""
    table = pd.read_parquet(ROOT / FOLDERS[profile] / "samples.parquet")
    return table[table["control"] == "none"]


def seed_gains(profile: str, row: str, reference: str, rho: str) -> list[float]:
    """The MSE gain in % of ``row`` over ``reference`` at ``rho``, per training seed."""
    table = samples(profile)
    table = table[(table["rho"] - float(rho)).abs() < 1e-6]
    mse = table.groupby(["estimator", "train_seed"])["mse"].mean()
    return [100 * (mse[reference, seed] - mse[row, seed]) / mse[reference, seed]
            for seed in sorted(mse[row].index)]


def _signed(value: float, decimals: int) -> str:
    text = f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return f"+{text}"
    return ("+" if value > 0 else MINUS) + text


def _ratio(profile: str, row: str, reference: str, rho: str) -> float:
    return cell(profile, row, "mse", rho)[0] / cell(profile, reference, "mse", rho)[0]


def _rhos(profile: str, rho: str) -> list[str]:
    if rho != "*":
        return [rho]
    return sorted({r for r in results(profile)["rho"] if r != "all"}, key=float)


def render(kind: str, args: str) -> str:
    """The text of one placeholder."""
    profile, rows, metric, rho = args.split()
    if kind in ("g", "g0", "gv", "pm", "m3", "m4", "s", "u"):
        value, lo, hi = cell(profile, rows, metric, rho)
        half = max(hi - value, value - lo)
        decimals = 0 if kind == "g0" else 1
        return {"g": f"{_signed(value, 1)} ± {half:.1f}",
                "g0": f"{_signed(value, 0)} ± {half:.0f}", "gv": _signed(value, decimals),
                "pm": f"{half:.1f}", "m3": f"{value:.3f}", "m4": f"{value:.4f}",
                "s": f"{value:.0f} ± {half:.0f}", "u": f"{value:.1f}"}[kind]
    if kind == "phi":  # the measured phi of the row's test samples at that rho
        estimator, _, control = rows.partition("/")
        table = results(profile)
        hit = table[(table["estimator"] == estimator) & (table["metric"] == metric)
                    & (table["rho"] == rho) & (table["control"] == (control or "none"))]
        return f"{float(hit['phi_sample_mean'].iloc[0]):.2f}"
    if kind == "r":
        return f"{_ratio(profile, rows, metric, rho):.1f}"
    base, pick = kind[:-3], {"min": min, "max": max}[kind[-3:]]
    if base == "sg":
        return _signed(pick(seed_gains(profile, rows, metric, rho)), 1)
    pairs = [(r, x) for r in rows.split(",") for x in _rhos(profile, rho)]
    if base == "r":
        return f"{pick(_ratio(profile, r, metric, x) for r, x in pairs):.1f}"
    cells = [cell(profile, r, metric, x) for r, x in pairs]
    if base == "g":
        return _signed(pick(value for value, _, _ in cells), 1)
    if base == "pm":
        return f"{pick(max(hi - value, value - lo) for value, lo, hi in cells):.1f}"
    return f"{pick(value for value, _, _ in cells):.3f}"


def filled(claim: str) -> str:
    """A claim with every placeholder replaced by the published number."""
    return _PLACEHOLDER.sub(lambda m: render(m.group(1), m.group(2)), claim)


def pattern(claim: str) -> re.Pattern:
    """The claim's text with any numbers where its placeholders are."""
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(claim):
        parts += [re.escape(claim[last:match.start()]), _NUMBER]
        last = match.end()
    return re.compile("".join(parts + [re.escape(claim[last:])]))


def _scoped(entry) -> tuple[str | None, str]:
    """(section heading or None for the whole text, claim) of a CLAIMS entry."""
    return entry if isinstance(entry, tuple) else (None, entry)


def _section(text: str, heading: str | None) -> tuple[int, int]:
    """The span of ``text`` under ``heading`` (up to the next heading of any level)."""
    if heading is None:
        return 0, len(text)
    start = text.index(heading + "\n")
    following = re.compile(r"^#{1,6} ", re.M).search(text, start + len(heading))
    return start, following.start() if following else len(text)


def problems(text: str) -> list[str]:
    """Every claim that is not in ``text`` once, with the published numbers."""
    out = []
    for entry in CLAIMS:
        heading, claim = _scoped(entry)
        start, stop = _section(text, heading)
        part = text[start:stop]
        found = len(pattern(claim).findall(part))
        if found != 1:
            out.append(f"found {found} times (expected once): {claim!r}")
        elif filled(claim) not in part:
            out.append(f"stale: {pattern(claim).search(part).group(0)!r} -> {filled(claim)!r}")
    return out


def rewrite(text: str) -> str:
    """``text`` with every claim's numbers replaced by the published ones."""
    for entry in CLAIMS:
        heading, claim = _scoped(entry)
        start, stop = _section(text, heading)
        part = pattern(claim).sub(lambda _: filled(claim), text[start:stop], count=1)
        text = text[:start] + part + text[stop:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's numbers")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    if args.write:
        args.readme.write_text(rewrite(text), encoding="utf-8")
        text = args.readme.read_text(encoding="utf-8")
    found = problems(text)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
