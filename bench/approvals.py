"""The approvals queue in groups at scale: 100,000 pending proposals on the 1,000,000-email store.

Uses the store `bench/search.py` builds and caches under .bench/ (built if missing, and given
conversations there: each investor's linked emails, four to a thread; the triggers of migration
0020 keep the queue's group tables in step). Times the first page of the grouped views (by
conversation, by investor; everyone, known contacts, new people), a group's preview and the flat
queue's first page with the people filter; prints p50/p95 against the goal. `bench/search.py`
runs it too.

    python bench/approvals.py [--runs 30]
"""

from __future__ import annotations

import argparse
import sys

from search import default_store, open_store, percentile, timed  # bench/search.py, beside this file

GOAL_P95_MS = 20.0


def time_groups(queries, run: int) -> None:
    """Print `name p50 p95 OK/over` (ms) for the grouped views' first pages, a preview and the
    flat queue with the people filter, on the open store (`queries` is `appsrc.store.queries`)."""
    from appsrc.store.queries import approvals

    first = approvals.approval_groups(by="thread")
    biggest = max(first["items"], key=lambda g: g["count"]) if first["items"] else None
    cases = [
        (
            f"groups by {by}, {people}, first page",
            lambda by=by, people=people: approvals.approval_groups(by=by, people=people),
        )
        for by in ("thread", "investor")
        for people in ("all", "known", "new")
    ]
    cases.append(
        ("groups by thread, next page", lambda: approvals.approval_groups(by="thread", cursor=first["next_cursor"]))
    )
    if biggest:
        cases.append(("a conversation's preview", lambda: approvals.approval_group("thread", biggest["key"])))
    cases += [
        ("flat queue, first page", lambda: queries.proposal_queue(status="pending")),
        ("flat queue, new people", lambda: approvals.proposal_queue(status="pending", people="new")),
        ("flat queue, known contacts", lambda: approvals.proposal_queue(status="pending", people="known")),
    ]
    print(f"\n{'approvals read':38} {'p50 ms':>8} {'p95 ms':>8}")
    for name, read in cases:
        read()  # warm
        times = timed(read, run)
        p95 = percentile(times, 95)
        print(f"{name:38} {percentile(times, 50):8.2f} {p95:8.2f}  {'OK' if p95 <= GOAL_P95_MS else 'over'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per case")
    args = parser.parse_args()
    db = open_store(default_store(), 1_000_000, 100_000, 50_000)
    from appsrc.store import queries

    pending = db.execute_sql("SELECT count(*) FROM activity_proposal WHERE status = 'pending'").fetchone()[0]
    print(f"store: {pending:,} pending proposals")
    time_groups(queries, args.runs)
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
