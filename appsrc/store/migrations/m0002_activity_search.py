"""0002: what the activity search needs to answer in milliseconds on a million emails.

The panel lists mail newest first, one page at a time. A filter on free text or on an investor
must then read its matches in time order and stop after a page, instead of reading and sorting
every match. On SQLite (raw DDL, kept in sync by triggers, invisible to the models like
`email_fts`):
- `email_search`: a contentless FTS5 index of subject, snippet and sender whose rowid is the
  email's time key, `unixepoch(sent_at) * 2^31 + id`, so `ORDER BY rowid DESC` is newest first;
- `email_investor_timeline`: (investor, time key) for every investor link, same order.
Both are filled from existing rows here. On PostgreSQL the planner has statistics and the GIN
index of 0001; only the supporting b-tree indexes are added.

Plain indexes (both databases): live sightings per mailbox, proposals by status and investor,
activities per contact and per investor in time order.
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

KEY_SCALE = 2**31  # ids below 2^31 keep the key unique; seconds fit until 2106


def key_sql(sent_at: str, email_id: str) -> str:
    """The time key of an email as an SQLite expression (seconds clamped to 0 .. 2^32 - 1)."""
    return f"(MIN(MAX(CAST(strftime('%s', {sent_at}) AS INTEGER), 0), 4294967295) * {KEY_SCALE} + {email_id})"


NEW = key_sql("new.sent_at", "new.id")
OLD = key_sql("old.sent_at", "old.id")
COLUMNS = "subject, snippet, from_name, from_email"

SQLITE = (
    f"CREATE VIRTUAL TABLE email_search USING fts5({COLUMNS}, content='', tokenize='unicode61 remove_diacritics 2')",
    f"INSERT INTO email_search(rowid, {COLUMNS}) SELECT {key_sql('sent_at', 'id')}, {COLUMNS} FROM email",
    f"CREATE TRIGGER email_search_insert AFTER INSERT ON email BEGIN "
    f"INSERT INTO email_search(rowid, {COLUMNS}) VALUES ({NEW}, new.subject, new.snippet, new.from_name, "
    f"new.from_email); END",
    # A contentless index forgets a row given its original values ('delete' command).
    f"CREATE TRIGGER email_search_delete AFTER DELETE ON email BEGIN "
    f"INSERT INTO email_search(email_search, rowid, {COLUMNS}) VALUES ('delete', {OLD}, old.subject, "
    f"old.snippet, old.from_name, old.from_email); END",
    f"CREATE TRIGGER email_search_update AFTER UPDATE OF {COLUMNS}, sent_at ON email BEGIN "
    f"INSERT INTO email_search(email_search, rowid, {COLUMNS}) VALUES ('delete', {OLD}, old.subject, "
    f"old.snippet, old.from_name, old.from_email); "
    f"INSERT INTO email_search(rowid, {COLUMNS}) VALUES ({NEW}, new.subject, new.snippet, new.from_name, "
    f"new.from_email); "
    f"UPDATE email_investor_timeline SET key = {NEW} WHERE email_id = new.id; END",
    "CREATE TABLE email_investor_timeline (id INTEGER PRIMARY KEY, investor_id INTEGER NOT NULL, "
    "email_id INTEGER NOT NULL, key INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX email_investor_timeline_link ON email_investor_timeline (investor_id, email_id)",
    "CREATE INDEX email_investor_timeline_order ON email_investor_timeline (investor_id, key)",
    "CREATE INDEX email_investor_timeline_email ON email_investor_timeline (email_id)",
    f"INSERT INTO email_investor_timeline (investor_id, email_id, key) "
    f"SELECT l.investor_id, l.email_id, {key_sql('e.sent_at', 'e.id')} FROM email_investor_link l "
    f"JOIN email e ON e.id = l.email_id",
    f"CREATE TRIGGER email_investor_timeline_insert AFTER INSERT ON email_investor_link BEGIN "
    f"INSERT OR IGNORE INTO email_investor_timeline (investor_id, email_id, key) "
    f"SELECT new.investor_id, e.id, {key_sql('e.sent_at', 'e.id')} FROM email e WHERE e.id = new.email_id; END",
    "CREATE TRIGGER email_investor_timeline_delete AFTER DELETE ON email_investor_link BEGIN "
    "DELETE FROM email_investor_timeline WHERE investor_id = old.investor_id AND email_id = old.email_id; END",
    "CREATE TRIGGER email_investor_timeline_update AFTER UPDATE OF investor_id, email_id ON email_investor_link "
    "BEGIN DELETE FROM email_investor_timeline WHERE investor_id = old.investor_id AND email_id = old.email_id; "
    f"INSERT OR IGNORE INTO email_investor_timeline (investor_id, email_id, key) "
    f"SELECT new.investor_id, e.id, {key_sql('e.sent_at', 'e.id')} FROM email e WHERE e.id = new.email_id; END",
)

INDEXES = (
    "CREATE INDEX email_account_message_live ON email_account_message (account_id, deleted_at, email_id)",
    "CREATE INDEX email_account_message_email_live ON email_account_message (email_id, deleted_at, account_id)",
    "CREATE INDEX activity_proposal_status_investor ON activity_proposal (status, investor_id)",
    "CREATE INDEX activity_contact_time ON activity (contact_id, occurred_at)",
    "CREATE INDEX activity_investor_time ON activity (investor_id, occurred_at)",
)


def up(db):
    statements = INDEXES if isinstance(db, PostgresqlDatabase) else SQLITE + INDEXES
    for statement in statements:
        db.execute_sql(statement)
