"""0007: on PostgreSQL, the search splits words at punctuation and spaces only.

0006 replaced every run of non-alphanumeric characters with a space. In a database created with
the C locale (a common default), PostgreSQL's `[:alnum:]` knows only ASCII, so every accented or
non-Latin letter became a separator: "Müller" was indexed as "M ller" and "Привет" vanished.
Splitting at `[:punct:]` and `[:space:]` keeps letters of every script in any locale (its
parser treats non-ASCII as letters under C) and still splits `jane@acme.example` into words.
SQLite: nothing to do.
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

# Frozen here as the index's definition; appsrc.store.queries repeats it for its WHERE clause.
WORDS = (
    "regexp_replace(coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || coalesce(from_name, '') "
    "|| ' ' || coalesce(from_email, ''), '[[:punct:][:space:]]+', ' ', 'g')"
)


def up(db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP INDEX IF EXISTS email_search_words")
        db.execute_sql(f"CREATE INDEX email_search_words ON email USING GIN (to_tsvector('simple', {WORDS}))")
