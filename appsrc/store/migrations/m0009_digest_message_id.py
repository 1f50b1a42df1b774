"""0009: each digest attempt's Message-ID.

Every digest goes out under a Message-ID of its own, chosen before any transport is tried and
the same on every transport. When Gmail leaves a send unanswered, the mailer looks for that
Message-ID in the sender's mailbox to learn whether it went out; an admin can search for it too.
NULL for attempts made before this version.
"""

from __future__ import annotations


def up(db):
    db.execute_sql("ALTER TABLE digest_run ADD COLUMN message_id VARCHAR(255)")
