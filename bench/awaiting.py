"""Awaiting reply at scale: the list and the Overview count on the 1,000,000-email store.

Uses the store `bench/search.py` builds and caches under .bench/ (built here if missing). Raw-built
rows make every email its own conversation, so the store is first given conversations, once:
each investor's linked emails, in time order, four to a thread
(`thread_key = 'bench:' || investor id || ':' || (row number within investor / 4)`), skipped
when any `bench:` key is already there (another bench may have done it the same way). Then times
`awaiting_cases` (the API's and the page's list) and `awaiting_summary` (the Overview card) at
the end of the store's three years, with the default policy (2 business days, a 30-day lookback).

    python bench/awaiting.py [--runs 30]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appsrc.store.db import open_database  # noqa: E402
from appsrc.store.migrations import migrate  # noqa: E402

STORE = ROOT / ".bench" / "search-1000000-p100000-s50000.sqlite3"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # just after the store's last email
GOAL_P95_MS = 50.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ensure_store() -> None:
    if STORE.exists():
        return
    import search  # bench/search.py, beside this file

    print(f"building {STORE}…")
    search.build(STORE, 1_000_000, 100_000, 50_000)


def give_conversations(path: Path) -> None:
    """Group each investor's linked emails into threads of four, in time order (idempotent)."""
    con = sqlite3.connect(path)
    try:
        if con.execute("SELECT 1 FROM email WHERE thread_key LIKE 'bench:%' LIMIT 1").fetchone():
            return
        started = time.monotonic()
        with con:
            con.execute(
                "WITH numbered AS (SELECT l.email_id, l.investor_id, ROW_NUMBER() OVER "
                "(PARTITION BY l.investor_id ORDER BY e.sent_at, e.id) AS rn "
                "FROM email_investor_link l JOIN email e ON e.id = l.email_id) "
                "UPDATE email SET thread_key = 'bench:' || n.investor_id || ':' || (n.rn / 4) "
                "FROM numbered n WHERE n.email_id = email.id"
            )
            con.execute("ANALYZE")
        print(f"gave the store conversations in {time.monotonic() - started:.0f} s")
    finally:
        con.close()


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def time_awaiting(run: int) -> None:
    """Print `name p50 p95` (ms) for the list and the Overview count."""
    ensure_store()
    db = open_database(f"sqlite:///{STORE}")
    migrate(db)  # a store cached by an older checkout follows the current schema
    if not db.table_exists("awaiting_mark"):  # cached while 0019 was still an empty placeholder
        from appsrc.store.migrations import m0019_awaiting_reply

        db.execute_sql("DROP INDEX IF EXISTS email_awaiting")
        m0019_awaiting_reply.up(db)
    give_conversations(STORE)
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
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case")
    time_awaiting(parser.parse_args().runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
