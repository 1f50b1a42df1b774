"""0003: cheaper writes on the capture path.

Every captured email writes rows into several tables, and each index is written too. These
indexes are prefixes of others (the composite index answers the same lookups), and `email_fts`
was replaced by 0002's time-keyed `email_search`, so both only cost insert time
(bench/capture.py shows the store writing faster without them; docs/performance.md).
"""

from __future__ import annotations

from peewee import PostgresqlDatabase

REDUNDANT_INDEXES = (
    "activity_proposal_email_id",  # (email_id, target_key) unique
    "activity_proposal_status",  # (status, investor_id)
    "email_account_message_account_id",  # (account_id, gmail_id) unique
    "email_account_message_email_id",  # (email_id, deleted_at, account_id)
    "email_investor_link_email_id",  # (email_id, investor_id) unique
    "email_investor_link_investor_id",  # (investor_id, email_id)
    "email_participant_email_id",  # (email_id, address, role) unique
    "skipped_message_account_id",  # (account_id, gmail_id) unique
)

SQLITE_FTS = (
    "DROP TRIGGER IF EXISTS email_fts_insert",
    "DROP TRIGGER IF EXISTS email_fts_delete",
    "DROP TRIGGER IF EXISTS email_fts_update",
    "DROP TABLE IF EXISTS email_fts",
)


def up(db):
    for name in REDUNDANT_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
    if not isinstance(db, PostgresqlDatabase):
        for statement in SQLITE_FTS:
            db.execute_sql(statement)
