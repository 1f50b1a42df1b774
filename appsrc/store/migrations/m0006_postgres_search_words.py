"""0006: on PostgreSQL, free text finds every word of a sender's address, as on SQLite.

PostgreSQL's parser keeps `treasury.desk@acme.example` as one token (and `acme.example` as one
host), while the search splits what an admin types into words (`\\w+`, as SQLite's FTS5 does):
searching "treasury", "acme" or even the whole address found nothing there. The indexed text now
has every run of non-alphanumeric characters replaced by a space before `to_tsvector`, so both
databases see the same words. The query applied the same expression so this index served it
(until 0022 stored the words in a column). SQLite: nothing to do (FTS5's unicode61 already
splits there).
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

# Frozen here as the index's definition (replaced by 0007, then by 0022's stored column).
WORDS = (
    "regexp_replace(coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || coalesce(from_name, '') "
    "|| ' ' || coalesce(from_email, ''), '[^[:alnum:]]+', ' ', 'g')"
)


def up(db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP INDEX IF EXISTS email_search_idx")
        db.execute_sql(f"CREATE INDEX email_search_words ON email USING GIN (to_tsvector('simple', {WORDS}))")
