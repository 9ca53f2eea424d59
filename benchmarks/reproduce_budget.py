"""Time ``ogmbench reproduce`` from nothing against the profile's budget, by phase.

The default profile of ``leaderboard/benchmark.toml`` promises to run end to end on 2
CPU cores in at most 25 minutes.  This script runs it into a fresh temporary folder and
prints the wall time of each phase (generation, each estimator's fit and test pass, the
report) from the run records, and the ratio of the total to the budget (<= 1 is met).

    python benchmarks/reproduce_budget.py [CONFIG] [--profile default] [--budget-min 25]
                                          [--out DIR] [--dask local:2] [--threads N]
                                          [--sealed]

``--out`` keeps the report (and its ``work/``) there instead of a temporary folder: the
published ``leaderboard/`` is timed this way as it is made.  A folder with earlier work
reuses it, and then the time is not "from nothing".
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ogmbench import reproduce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="leaderboard/benchmark.toml")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--budget-min", type=float, default=25.0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--dask", default=None, help="as reproduce --dask")
    parser.add_argument("--threads", type=int, default=None, help="as reproduce --threads")
    parser.add_argument("--sealed", action="store_true",
                        help="as reproduce --sealed (how a published folder is made)")
    args = parser.parse_args()

    stamps: list[tuple[float, str]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "out"
        reproduce(args.config, profile=args.profile, out=out, dask=args.dask,
                  threads=args.threads, sealed=args.sealed,
                  log=lambda m: stamps.append((time.perf_counter() - start, m)))
        total = time.perf_counter() - start
        generation = _phase(stamps, "generating", "evaluating")
        report = total - next(t for t, m in stamps if m == "aggregating")
        print(f"{'phase':<34}{'seconds':>9}")
        print(f"{'generation (all stores)':<34}{generation:9.1f}")
        # The main runs, then the data-scaling sweep's (scaling/DATASET/trainN).
        runs = sorted((out / "work" / "runs").glob("*/run.json"))
        runs += sorted((out / "work" / "scaling").glob("*/*/run.json"))
        for run_json in runs:
            run = json.loads(run_json.read_text())
            where = run_json.parent.name
            if "train_size" in run:
                where = f"{run_json.parent.parent.name} {where}"
            for name, record in run["estimators"].items():
                t = record.get("timings", {})
                steps = (record.get("describe") or {}).get("trained_steps")
                print(f"{where + ' ' + name:<34}{t.get('fit_s', 0.0) + t.get('test_s', 0.0):9.1f}"
                      + (f"  ({steps} steps)" if steps else ""))
        print(f"{'aggregation, tables, figures':<34}{report:9.1f}")
        print(f"{'total':<34}{total:9.1f}")
        print(f"budget {args.budget_min:g} min: ratio {total / (60 * args.budget_min):.2f} "
              "(<= 1 is met)")


def _phase(stamps, begin: str, end: str) -> float:
    """Seconds between each log line containing ``begin`` and the next containing ``end``."""
    total, opened = 0.0, None
    for t, message in stamps:
        if begin in message and opened is None:
            opened = t
        elif end in message and opened is not None:
            total, opened = total + t - opened, None
    return total


if __name__ == "__main__":
    main()
