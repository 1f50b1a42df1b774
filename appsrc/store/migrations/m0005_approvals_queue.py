"""0005: the approvals queue and the mailboxes page at scale (bench/search.py measures both).

The queue lists pending proposals newest email first. With 100,000 pending, sorting them by
their email's date on every visit was far too slow on SQLite (every pending proposal joined to its
email, then sorted). On SQLite (raw DDL kept in sync by triggers, invisible to the models like
0002's tables):
- `pending_proposal`: every pending proposal with its investor and a time key,
  `unixepoch(email.sent_at) * 2^31 + proposal id`, so a page is an index walk newest first that
  stops after the page, for the whole queue or one investor. Proposals leave it when decided or
  deleted (cascades included) and follow their email's date;
- `pending_proposal_count`: pending proposals per investor, kept by `pending_proposal`'s own
  triggers, for the queue's investor filter and the pending badge (otherwise every visit counts
  the whole index).
On PostgreSQL the plain join stays (its planner sorts with statistics and a top-N heap).

Both databases: the Mailboxes page (polled every 5 s) counts skipped messages per mailbox and
reason; an index on (account_id, reason) answers that from the index alone.
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

KEY_SCALE = 2**31  # proposal ids below 2^31 keep the key unique; seconds fit until 2106


def key_sql(sent_at: str, proposal_id: str) -> str:
    """The time key of a proposal as an SQLite expression (seconds clamped to 0 .. 2^32 - 1)."""
    return f"(MIN(MAX(CAST(strftime('%s', {sent_at}) AS INTEGER), 0), 4294967295) * {KEY_SCALE} + {proposal_id})"


SQLITE = (
    "CREATE TABLE pending_proposal (proposal_id INTEGER PRIMARY KEY, investor_id INTEGER NOT NULL, "
    "key INTEGER NOT NULL)",
    "CREATE INDEX pending_proposal_order ON pending_proposal (key)",
    "CREATE INDEX pending_proposal_investor_order ON pending_proposal (investor_id, key)",
    f"INSERT INTO pending_proposal (proposal_id, investor_id, key) "
    f"SELECT p.id, p.investor_id, {key_sql('e.sent_at', 'p.id')} FROM activity_proposal p "
    f"JOIN email e ON e.id = p.email_id WHERE p.status = 'pending'",
    "CREATE TABLE pending_proposal_count (investor_id INTEGER PRIMARY KEY, pending INTEGER NOT NULL)",
    "INSERT INTO pending_proposal_count (investor_id, pending) "
    "SELECT investor_id, count(*) FROM pending_proposal GROUP BY investor_id",
    "CREATE TRIGGER pending_proposal_count_add AFTER INSERT ON pending_proposal BEGIN "
    "INSERT INTO pending_proposal_count (investor_id, pending) VALUES (new.investor_id, 1) "
    "ON CONFLICT (investor_id) DO UPDATE SET pending = pending + 1; END",
    "CREATE TRIGGER pending_proposal_count_remove AFTER DELETE ON pending_proposal BEGIN "
    "UPDATE pending_proposal_count SET pending = pending - 1 WHERE investor_id = old.investor_id; END",
    # Plain DELETE then INSERT, never INSERT OR REPLACE: a REPLACE would skip the count's trigger.
    f"CREATE TRIGGER pending_proposal_insert AFTER INSERT ON activity_proposal WHEN new.status = 'pending' BEGIN "
    f"DELETE FROM pending_proposal WHERE proposal_id = new.id; "
    f"INSERT INTO pending_proposal (proposal_id, investor_id, key) "
    f"SELECT new.id, new.investor_id, {key_sql('e.sent_at', 'new.id')} FROM email e WHERE e.id = new.email_id; END",
    f"CREATE TRIGGER pending_proposal_update AFTER UPDATE OF status, investor_id, email_id ON activity_proposal "
    f"BEGIN DELETE FROM pending_proposal WHERE proposal_id = old.id; "
    f"INSERT INTO pending_proposal (proposal_id, investor_id, key) "
    f"SELECT new.id, new.investor_id, {key_sql('e.sent_at', 'new.id')} FROM email e "
    f"WHERE e.id = new.email_id AND new.status = 'pending'; END",
    "CREATE TRIGGER pending_proposal_delete AFTER DELETE ON activity_proposal BEGIN "
    "DELETE FROM pending_proposal WHERE proposal_id = old.id; END",
    f"CREATE TRIGGER pending_proposal_email_time AFTER UPDATE OF sent_at ON email BEGIN "
    f"UPDATE pending_proposal SET key = {key_sql('new.sent_at', 'proposal_id')} "
    f"WHERE proposal_id IN (SELECT id FROM activity_proposal WHERE email_id = new.id); END",
)

INDEXES = ("CREATE INDEX skipped_message_account_reason ON skipped_message (account_id, reason)",)


def up(db):
    statements = INDEXES if isinstance(db, PostgresqlDatabase) else SQLITE + INDEXES
    for statement in statements:
        db.execute_sql(statement)
