"""Awaiting reply at scale: the list and the Overview count on the 1,000,000-email store.

Uses the store `bench/search.py` builds and caches under .bench/ (built if missing, and given
conversations there: each investor's linked emails, four to a thread). Times `awaiting_cases`
(the API's and the page's list) and `awaiting_summary` (the Overview card) just after the
store's last email, with the default policy. `bench/search.py` runs it too.

    python bench/awaiting.py [--runs 30]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from search import default_store, open_store, percentile, timed  # bench/search.py, beside this file

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # just after the store's last email
GOAL_P95_MS = 50.0


def time_awaiting(run: int) -> None:
    """Print `name p50 p95` (ms) for the list and the Overview count, on the open store."""
    from appsrc.store.queries.awaiting import awaiting_cases, awaiting_summary

    first = awaiting_cases(NOW, "UTC")
    summary = awaiting_summary(NOW, "UTC")
    print(
        f"store at {NOW:%Y-%m-%d}: {first['total']:,} conversations waiting on {first['lp_count']:,} LPs "
        f"({summary['cases']:,} / {summary['lps']:,} by the count); the list shows {len(first['items'])}"
    )
    print(f"{'case':28} {'p50 ms':>8} {'p95 ms':>8}")
    for name, fn in (
        ("awaiting list", lambda: awaiting_cases(NOW, "UTC")),
        ("awaiting list (Paris)", lambda: awaiting_cases(NOW, "Europe/Paris")),
        ("overview count", lambda: awaiting_summary(NOW, "UTC")),
    ):
        fn()  # warm the page cache
        times = timed(fn, run)
        p95 = percentile(times, 95)
        verdict = "" if "list" not in name else ("  OK" if p95 <= GOAL_P95_MS else "  over the goal")
        print(f"{name:28} {percentile(times, 50):8.2f} {p95:8.2f}{verdict}")
    print(f"(goal for the list: p95 <= {GOAL_P95_MS:.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case")
    args = parser.parse_args()
    db = open_store(default_store(), 1_000_000, 100_000, 50_000)
    time_awaiting(args.runs)
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
