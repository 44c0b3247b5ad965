#!/usr/bin/env python3
"""Semiology query speed: cold start (xlsx and cache) and per-query time, beside the published tool.

Cold starts run in fresh Python processes (imports included), so they are what a user waits for.
Query times are for results not yet cached (a new engine per repetition, first query of a term) and
for repeated queries (in-memory cache). The Semiology Visualisation Tool's ``mega_analysis`` is timed
on the same queries when it is importable (it is not a dependency of this project).

    python benchmarks/semiology_speed.py --database ../shared/data/semio2brain [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"cold start from xlsx": 2.0, "cold start from cache": 0.3, "query": 0.010}
ONE = [("Head Version", "right")]
FIVE = [("Head Version", "right"), ("Tonic", "right"), ("Epigastric", "none"), ("Automatisms - Oral & Manual", "left"),
        ("Dialeptic-LOA-LOC", "none")]  # fmt: skip

COLD_START = """
import sys, time
start = time.perf_counter()
from epilepsy_suite.semiology import SemiologyEngine, SemiologyQuery, Side
engine = SemiologyEngine(sys.argv[1], cache_dir=sys.argv[2], disk_cache=False)
engine.scores([SemiologyQuery("Head Version", Side.RIGHT)], Side.LEFT)
print(time.perf_counter() - start)
"""


def cold_start(database: Path, cache: Path) -> float:
    output = subprocess.run(
        [sys.executable, "-c", COLD_START, str(database), str(cache)], check=True, capture_output=True, text=True
    )
    return float(output.stdout.strip().splitlines()[-1])


def ours(database: Path, cache: Path, repeats: int) -> dict[str, float]:
    from epilepsy_suite.semiology import SemiologyEngine, SemiologyQuery, load_database

    results = {}
    with tempfile.TemporaryDirectory() as fresh:
        results["cold start from xlsx"] = cold_start(database, Path(fresh))
    cold_start(database, cache)  # fills the cache
    results["cold start from cache"] = statistics.median(cold_start(database, cache) for _ in range(3))
    loaded = load_database(database, cache)
    for name, semiologies in (("1 semiology", ONE), ("5 semiologies", FIVE)):
        queries = [SemiologyQuery(term, side) for term, side in semiologies]
        uncached = []
        for _ in range(repeats):
            engine = SemiologyEngine(loaded, cache_dir=cache, disk_cache=False)
            engine.scores([SemiologyQuery("Clonic")], "left")  # builds the row pools, caches another term
            start = time.perf_counter()
            engine.scores(queries, "left")
            uncached.append(time.perf_counter() - start)
        results[f"query, {name}, not cached"] = statistics.median(uncached)
        engine = SemiologyEngine(loaded, cache_dir=cache, disk_cache=False)
        engine.scores(queries, "left")
        start = time.perf_counter()
        for _ in range(repeats):
            engine.scores(queries, "left")
        results[f"query, {name}, cached"] = (time.perf_counter() - start) / repeats
    return results


def published_tool(repeats: int) -> dict[str, float] | None:
    """The Semiology Visualisation Tool on the same queries, with its GUI's effective options."""
    start = time.perf_counter()
    try:
        from mega_analysis.semiology import Laterality, Semiology  # type: ignore[import-not-found]
    except Exception:
        return None
    results = {"cold start from xlsx": time.perf_counter() - start}
    sides = {"left": Laterality.LEFT, "right": Laterality.RIGHT, "none": Laterality.NEUTRAL}
    options = dict(
        granular=True, include_cortical_stimulation=False, include_et_topology_ez=False,
        include_spontaneous_semiology=True, include_paeds_and_adults=True, normalise_to_localising_values=True,
        global_lateralisation=True,
    )  # fmt: skip
    for name, semiologies in (("1 semiology", ONE), ("5 semiologies", FIVE)):
        times = []
        for _ in range(max(1, repeats // 5)):
            start = time.perf_counter()
            for term, side in semiologies:
                Semiology(term, sides[side], Laterality.LEFT, **options).query_lateralisation()
            times.append(time.perf_counter() - start)
        results[f"query, {name}, not cached"] = statistics.median(times)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/semio2brain"
    )
    parser.add_argument("--repeats", type=int, default=20)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        mine = ours(arguments.database, Path(cache), arguments.repeats)
    theirs = published_tool(arguments.repeats)
    print(f"{'measure':40s} {'EpilepsySuite':>14s} {'published tool':>15s} {'ratio':>8s}  goal")
    for name, seconds in mine.items():
        goal = next((limit for key, limit in GOALS.items() if name.startswith(key)), None)
        other = theirs.get(name) if theirs else None
        ratio = f"{other / seconds:7.0f}x" if other else "       -"
        other_text = (
            f"{other * 1000:12.1f} ms" if other else "   not importable" if theirs is None else "             -"
        )
        goal_text = f"< {goal * 1000:.0f} ms {'met' if seconds < goal else 'MISSED'}" if goal else ""
        print(f"{name:40s} {seconds * 1000:11.2f} ms {other_text:>15s} {ratio}  {goal_text}")
    if theirs is None:
        print("(mega_analysis is not importable here: no same-run comparison; install the published tool to add it)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
