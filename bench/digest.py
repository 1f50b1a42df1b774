"""Digest benchmark: prints figures and ratios against the digest goals.

(a) build time of one digest — 50 team members, 5,000 emails in the 24 h window, 1,000,000 in
    the store (SQLite, the appliance's schema and indexes), LLM excluded (count-only paragraphs);
                                                                                  goal <= 300 ms
(b) the same digest with the LLM stub answering each call in 1 s: total wall time, build and
    all 50 per-user calls (concurrent, bounded);                                 goal <= 1.5 s

The store is generated once per run with plain executemany (peewee's compiler would dominate)
into a temporary directory; the LLM stub runs in its own process. Usage:
    python bench/digest.py [--store 1000000] [--window 5000] [--users 50] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appsrc.digest.builder import build_digest
from appsrc.llm import LlmConfig, make_chat_fn
from appsrc.store.db import open_database
from appsrc.store.migrations import m0002_activity_search as search
from appsrc.store.migrations import migrate

NOW = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)
TZ = ZoneInfo("America/New_York")
HISTORY_DAYS = 3 * 365
INVESTORS = 300


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def build_store(path: Path, *, store: int, window: int, users: int, seed: int = 1) -> None:
    """A store shaped like the appliance's after years of capture."""
    rng = random.Random(seed)
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    conn = db.connection()
    created = ts(NOW - timedelta(days=HISTORY_DAYS + 1))
    team = [f"member{n:02d}@fund.example" for n in range(users)]
    with db.atomic():
        conn.executemany(
            "INSERT INTO user (id, email, name, is_admin, is_active, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
            [(n + 1, a, f"Member {n:02d}", n < 3, 1, created, created) for n, a in enumerate(team)],
        )
        conn.executemany(
            "INSERT INTO email_account (id, user_id, address, sync_enabled, backfill_state, backfill_listed, "
            "sync_generation, stored_count, skipped_count, failed_count, full_resyncs, created_at) "
            "VALUES (?,?,?,1,'done',0,0,0,0,0,0,?)",
            [(n + 1, n + 1, a, created) for n, a in enumerate(team)],
        )
        conn.executemany(
            "INSERT INTO investor (id, name, graveyard, notes, created_at, updated_at) VALUES (?,?,?,'',?,?)",
            [(i + 1, f"Investor {i:03d} Capital", int(i % 40 == 0), created, created) for i in range(INVESTORS)],
        )
        conn.executemany(
            "INSERT INTO contact (id, investor_id, name, created_at, updated_at) VALUES (?,?,?,?,?)",
            [
                (i * 3 + k + 1, i + 1, f"Contact {i:03d}-{k}", created, created)
                for i in range(INVESTORS)
                for k in range(3)
            ],
        )
    # The full-text trigger costs more than the rows; load without it, then fill the index in
    # one pass (as migration 0002 does) so the file ends up like the appliance's.
    trigger_sql = db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type='trigger' AND name='email_search_insert'"
    ).fetchone()[0]
    db.execute_sql("DROP TRIGGER email_search_insert")
    window_start = NOW - timedelta(hours=24)
    batch_emails, batch_sightings, batch_links = [], [], []
    sighting_id = 0

    def flush():
        conn.executemany(
            "INSERT INTO email (id, dedupe_key, fingerprint, message_id, subject, from_email, from_name, reply_to, "
            '"to", cc, "references", sent_at, snippet, body_text, body_truncated, has_attachments, attachments, '
            "size, is_bulk, captured_at) VALUES (?,?,'',?,?,?,?,'[]',?,'[]','[]',?,?,'',0,0,'[]',0,?,?)",
            batch_emails,
        )
        conn.executemany(
            "INSERT INTO email_account_message (id, account_id, email_id, gmail_id, gmail_thread_id, label_ids, "
            "is_sent, seen_generation, created_at) VALUES (?,?,?,?,'','[]',?,0,?)",
            batch_sightings,
        )
        conn.executemany(
            "INSERT INTO email_investor_link (email_id, investor_id, contact_id, matched_address) VALUES (?,?,?,?)",
            batch_links,
        )
        batch_emails.clear(), batch_sightings.clear(), batch_links.clear()

    with db.atomic():
        for n in range(1, store + 1):
            in_window = n > store - window
            if in_window:
                sent = window_start + timedelta(seconds=rng.uniform(1, 24 * 3600 - 1))
            else:
                sent = window_start - timedelta(seconds=rng.uniform(60, HISTORY_DAYS * 86400))
            investor = rng.randrange(INVESTORS)
            contact = investor * 3 + rng.randrange(3) + 1
            holder = rng.randrange(users)
            outbound = rng.random() < 0.4
            contact_address = f"c{contact}@investor{investor:03d}.example"
            sender, to = (team[holder], contact_address) if outbound else (contact_address, team[holder])
            batch_emails.append(
                (
                    n,
                    f"mid#{n}",
                    f"<{n}@bench>",
                    f"Subject line number {n} about the fund",
                    sender,
                    "",
                    json.dumps([{"email": to, "name": ""}]),
                    ts(sent),
                    f"Snippet of message {n}: quarterly numbers, a call next week and a side letter.",
                    int(rng.random() < 0.05),
                    ts(sent + timedelta(minutes=rng.uniform(0, 6))),
                )
            )
            holders = {holder} | ({rng.randrange(users)} if rng.random() < 0.3 else set())
            for h in holders:
                sighting_id += 1
                batch_sightings.append(
                    (sighting_id, h + 1, n, f"g{sighting_id}", int(outbound and h == holder), ts(sent))
                )
            if rng.random() < 0.7:
                batch_links.append((n, investor + 1, contact, contact_address))
            if len(batch_emails) >= 20_000:
                flush()
        flush()
    db.execute_sql(
        f"INSERT INTO email_search(rowid, {search.COLUMNS}) "
        f"SELECT {search.key_sql('sent_at', 'id')}, {search.COLUMNS} FROM email"
    )
    db.execute_sql(trigger_sql)
    db.execute_sql("ANALYZE")
    db.close()


def _llm_process(conn, delay_s: float) -> None:
    from appsrc.simulator import LlmStub

    stub = LlmStub(mode="slow", slow_delay_s=delay_s).start()
    conn.send(stub.url)
    conn.recv()
    stub.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--llm-delay", type=float, default=1.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        path = Path(tmp) / "crm.sqlite3"
        started = time.perf_counter()
        build_store(path, store=args.store, window=args.window, users=args.users)
        print(
            f"store: {args.store:,} emails ({args.window:,} in the window), {args.users} team members, "
            f"generated in {time.perf_counter() - started:.0f} s"
        )
        db = open_database(f"sqlite:///{path}")
        since, until = NOW - timedelta(hours=24), NOW

        build_digest(db, since, until, tz=TZ)  # warm the page cache once, as a running appliance has it
        times, cpu, digest = [], [], None
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            digest = build_digest(db, since, until, tz=TZ)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        median = statistics.median(times)
        print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
        print(
            f"(a) build, LLM excluded: median {median * 1000:.0f} ms wall, {statistics.median(cpu) * 1000:.0f} ms "
            f"CPU (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) for {digest['email_count']:,} "
            f"emails, {digest['user_count']} users, "
            f"{digest['investor_count']} investors; html {len(digest['html'].encode()) / 1024:.0f} KiB"
            f"   goal <= 300 ms: ratio {median / 0.300:.2f}"
        )

        parent, child = mp.Pipe()
        process = mp.Process(target=_llm_process, args=(child, args.llm_delay), daemon=True)
        process.start()
        url = parent.recv()
        try:
            chat = make_chat_fn(LlmConfig(url, "bench", timeout_s=args.llm_delay + 5))
            t0 = time.perf_counter()
            digest = build_digest(db, since, until, chat, tz=TZ)
            total = time.perf_counter() - t0
        finally:
            parent.send("stop")
            process.join(10)
        print(
            f"(b) build with the LLM stub answering in {args.llm_delay:g} s: {total:.2f} s wall for "
            f"{digest['llm']['calls']} calls ({digest['llm']['fallbacks']} fell back)"
            f"   goal <= 1.5 s: ratio {total / 1.5:.2f} (sequential would be "
            f"{digest['llm']['calls'] * args.llm_delay:.0f} s)"
        )
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
