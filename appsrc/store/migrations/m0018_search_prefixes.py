"""0018: search as people type; a contact's mail found by index.

SQLite: a word of three letters or more now matches the start of a word. FTS5 answers a prefix
query it has no prefix index for by merging the posting list of every word that starts with
it, in full, before the first row: over a second for a common three-letter start on a million
emails. `email_search` (migration 0002) gets prefix indexes of 3, 4 and 5 characters; longer
words are looked up by their first five (`queries.activity.PREFIX_INDEXED`). A contentless FTS5
table cannot be altered, so it is dropped, created again with the same columns, tokenizer and
time-key rowid, and refilled from `email` in id chunks. The triggers of 0002 name the table, not
its definition, and keep it up to date unchanged. PostgreSQL: prefix queries (`word:*`) use the
GIN index of 0007 as they are.

Both databases: `email_investor_link.contact_id` gets a partial index (links with a contact
only), so the search's contact filter reads a contact's mail instead of every link.
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

KEY_SCALE = 2**31
COLUMNS = "subject, snippet, from_name, from_email"
CHUNK = 20_000
CONTACT_INDEX = (
    "CREATE INDEX email_investor_link_contact ON email_investor_link (contact_id) WHERE contact_id IS NOT NULL"
)


def key_sql(sent_at: str, email_id: str) -> str:
    """The time key of 0002, as an SQLite expression (seconds clamped to 0 .. 2^32 - 1)."""
    return f"(MIN(MAX(CAST(strftime('%s', {sent_at}) AS INTEGER), 0), 4294967295) * {KEY_SCALE} + {email_id})"


def up(db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql(CONTACT_INDEX)
        return
    db.execute_sql("DROP TABLE email_search")
    db.execute_sql(
        f"CREATE VIRTUAL TABLE email_search USING fts5({COLUMNS}, content='', "
        "tokenize='unicode61 remove_diacritics 2', prefix='3 4 5')"
    )
    last = 0
    while True:
        row = db.execute_sql(
            "SELECT max(id) FROM (SELECT id FROM email WHERE id > ? ORDER BY id LIMIT ?)", (last, CHUNK)
        ).fetchone()
        if row[0] is None:
            break
        db.execute_sql(
            f"INSERT INTO email_search(rowid, {COLUMNS}) SELECT {key_sql('sent_at', 'id')}, {COLUMNS} FROM email "
            "WHERE id > ? AND id <= ?",
            (last, row[0]),
        )
        last = row[0]
    db.execute_sql(CONTACT_INDEX)
