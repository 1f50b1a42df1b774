"""0021: a snooze, like "handled", covers a conversation only through its newest inbound message.

An investor who writes again ends a snooze, as in Gmail: the case waits again from the new
message. So both marks now record the newest inbound message they cover: the column
`handled_through` becomes `covers_through`. A snooze set before this covers through the email it
was set on, which was the newest open message then; when that email has since been deleted,
through the moment the snooze was set (nothing sent later was covered by it anyway).
"""

from __future__ import annotations


def up(db):
    db.execute_sql("ALTER TABLE awaiting_mark RENAME COLUMN handled_through TO covers_through")
    db.execute_sql(
        "UPDATE awaiting_mark SET covers_through = COALESCE("
        "(SELECT e.sent_at FROM email e WHERE e.id = awaiting_mark.email_id), created_at) "
        "WHERE covers_through IS NULL"
    )
