"""Conversations at scale: one investor with many linked emails, in SQLite.

Builds (once, cached under .bench/) a store through the real migrations: 10 team mailboxes, one
big investor whose `--linked` emails form conversations of 1 to 8 messages (a third written by
the team), one of its contacts on a fifth of them, `--others` emails of 50 other investors,
realistic bodies (a few kilobytes, so rows spill onto overflow pages as captured mail does), two
sightings per email with per-mailbox Gmail thread ids, attachments on a fifth of the mail and one
long conversation of `--long-thread` messages. Then times the read models the investor, contact
and email pages and their API call: the first conversation page, a page ten cursors deep, a
contact's conversations, the documents list, and an email page inside the long conversation;
prints p50/p95.

    python bench/conversations.py [--linked 12000] [--others 50000] [--long-thread 400] [--runs 20]
                                  [--rebuild] [--postgres]

`--postgres` also copies the store into a throwaway PostgreSQL cluster (migrated the same way;
Debian's server binaries, as `bench/search.py --postgres`) and times the same cases there.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search import TEAM, insert_team, percentile, timed, ts  # noqa: E402  (bench/search.py, beside this file)

from appsrc.store.db import open_database  # noqa: E402
from appsrc.store.migrations import migrate  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_S = 2 * 365 * 86400
BIG = 1  # the big investor's id
CONTACT = 1  # its contact's id
GOAL_P95_MS = 50.0
FILES = (("report.pdf", "application/pdf"), ("nav.xlsx", "application/vnd.ms-excel"), ("memo.docx", "text/plain"))


def build(path: Path, linked: int, others: int, long_thread: int, seed: int = 11) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    db.close()
    rng = random.Random(seed)
    now = ts(START + timedelta(seconds=SPAN_S))
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    with con:
        insert_team(con, now)
        con.executemany(
            "INSERT INTO investor (id, name, graveyard, notes, created_at, updated_at) VALUES (?, ?, 0, '', ?, ?)",
            [(i + 1, f"Investor {i:03d}", now, now) for i in range(51)],
        )
        con.execute(
            "INSERT INTO contact (id, investor_id, name, created_at, updated_at) VALUES (?, ?, 'Jane', ?, ?)",
            (CONTACT, BIG, now, now),
        )
        con.execute("INSERT INTO contact_email (contact_id, address) VALUES (?, 'jane@inv0.example')", (CONTACT,))
    words = [f"w{n}" for n in range(2000)]
    email_id = sighting_id = 0
    rows: list[tuple] = []
    sightings: list[tuple] = []
    links: list[tuple] = []
    participants: list[tuple] = []

    def thread(investor: int, size: int, with_contact: bool) -> None:
        nonlocal email_id, sighting_id
        root = email_id + 1
        at = START + timedelta(seconds=rng.randrange(SPAN_S))
        boxes = rng.sample(range(1, len(TEAM) + 1), 2)
        outsider = "jane@inv0.example" if with_contact else f"p{rng.randrange(40)}@inv{investor - 1}.example"
        for n in range(size):
            email_id += 1
            at += timedelta(hours=rng.randrange(1, 72))
            ours = rng.random() < 0.35
            sender = TEAM[boxes[0] - 1] if ours else outsider
            body = " ".join(rng.choice(words) for _ in range(rng.randrange(300, 1200)))
            files = (
                [
                    {"filename": f"{i}-{name}", "content_type": kind, "size": rng.randrange(1_000, 5_000_000)}
                    for i, (name, kind) in enumerate(rng.sample(FILES, rng.randint(1, 2)))
                ]
                if rng.random() < 0.2
                else []
            )
            rows.append(
                (
                    email_id,
                    f"mid:<{email_id}@bench>",
                    f"<{email_id}@bench>",
                    f"<{root}@bench>" if n else None,
                    ("Re: " if n else "") + f"Topic {root}",
                    sender,
                    ts(at),
                    body[:200],
                    body,
                    int(bool(files)),
                    json.dumps(files),
                    ts(at),
                    f"mid:<{root}@bench>",
                )
            )
            for box in boxes:
                sighting_id += 1
                sightings.append((sighting_id, box, email_id, f"g{sighting_id}", f"t{root}-{box}", ts(at)))
            links.append((email_id, investor, outsider))
            for role, address in (("from", sender), ("to", outsider if ours else TEAM[boxes[0] - 1])):
                participants.append((email_id, address, address, address.rpartition("@")[2], role))

    made = 0
    while made < linked:
        size = min(rng.randint(1, 8), linked - made)
        thread(BIG, size, rng.random() < 0.2)
        made += size
    thread(BIG, long_thread, True)
    made = 0
    while made < others:
        size = rng.randint(1, 8)
        thread(2 + rng.randrange(50), size, False)
        made += size
    with con:
        con.executemany(
            "INSERT INTO email (id, dedupe_key, fingerprint, message_id, in_reply_to, subject, from_email, "
            'from_name, reply_to, "to", cc, "references", sent_at, snippet, body_text, '
            "body_truncated, has_attachments, attachments, size, is_bulk, captured_at, thread_key) "
            "VALUES (?, ?, '', ?, ?, ?, ?, '', '[]', '[]', '[]', '[]', ?, ?, ?, 0, ?, ?, 0, 0, ?, ?)",
            rows,
        )
        con.executemany(
            "INSERT INTO email_account_message (id, account_id, email_id, gmail_id, "
            "gmail_thread_id, label_ids, is_sent, deleted_at, seen_generation, created_at) "
            "VALUES (?, ?, ?, ?, ?, '[]', 0, NULL, 1, ?)",
            sightings,
        )
        con.executemany(
            "INSERT INTO email_investor_link (email_id, investor_id, matched_address) VALUES (?, ?, ?)", links
        )
        con.executemany(
            "INSERT INTO email_participant (email_id, address, match_key, domain, role) VALUES (?, ?, ?, ?, ?)",
            participants,
        )
        con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"  built {email_id:,} emails, {sighting_id:,} sightings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linked", type=int, default=12_000, help="emails linked to the big investor")
    parser.add_argument("--others", type=int, default=50_000, help="emails of other investors")
    parser.add_argument("--long-thread", type=int, default=400, help="messages in the long conversation")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="also time the cases on PostgreSQL")
    args = parser.parse_args()
    path = ROOT / ".bench" / f"conversations-{args.linked}-{args.others}-{args.long_thread}.sqlite3"
    if args.rebuild or not path.exists():
        print(f"building {path}…")
        build(path, args.linked, args.others, args.long_thread)
    db = open_database(f"sqlite:///{path}")
    migrate(db)
    worst = time_cases("SQLite", db, args.runs)
    db.close()
    if args.postgres:
        from scale import postgres
        from search import copy_to_postgres

        print("PostgreSQL: copying the same store into a throwaway cluster…")
        with postgres() as url_of:
            url = url_of()
            copy_to_postgres(path, url)
            db = open_database(url)
            worst = max(worst, time_cases("PostgreSQL", db, args.runs))
            db.close()
    return 0 if worst < GOAL_P95_MS else 1


def time_cases(name: str, db, runs: int) -> float:
    """Prints p50/p95 of each case on the open database; returns the worst p95."""
    from appsrc.store.queries import conversations
    from appsrc.store.queries.email import email_detail

    deep = None
    page = conversations.investor_conversations(BIG, limit=25)
    for _ in range(10):
        assert page is not None
        deep = page["next_cursor"]
        page = conversations.investor_conversations(BIG, limit=25, cursor=deep)
    long_key = db.execute_sql(
        "SELECT thread_key FROM email GROUP BY thread_key ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    inside = db.execute_sql(
        f"SELECT id FROM email WHERE thread_key = {db.param} ORDER BY sent_at LIMIT 1 OFFSET 100", (long_key,)
    ).fetchone()[0]
    linked = db.execute_sql(
        f"SELECT count(*) FROM email_investor_link WHERE investor_id = {db.param}", (BIG,)
    ).fetchone()[0]
    print(
        f"{name}: investor {BIG} has {linked:,} linked emails; p50 / p95 over {runs} runs (goal p95 < {GOAL_P95_MS} ms)"
    )
    cases = [
        ("investor conversations, first page", lambda: conversations.investor_conversations(BIG, limit=25)),
        ("investor conversations, 11th page", lambda: conversations.investor_conversations(BIG, limit=25, cursor=deep)),
        ("contact conversations, first page", lambda: conversations.contact_conversations(CONTACT, limit=25)),
        ("investor documents, first page", lambda: conversations.investor_documents(BIG, limit=25)),
        ("email page in a long conversation", lambda: email_detail(inside)),
    ]
    worst = 0.0
    for case, fn in cases:
        fn()  # warm the page cache: the figure is the steady state an admin sees
        samples = timed(fn, runs)
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        worst = max(worst, p95)
        print(f"  {case:<40} {p50:7.1f} ms {p95:7.1f} ms")
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
