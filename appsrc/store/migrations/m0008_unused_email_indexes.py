"""0008: drop the email indexes no query reads.

No query looks an email up by `message_id` (dedupe goes through `dedupe_key`, threading reads the
email row) or by `from_email` (the activity search decides direction per email without an index
walk, see store/queries.py). Both keys are scattered, so each index cost a page write per captured
email at commit (measured in bench/capture.py (b)).
"""

from __future__ import annotations

UNUSED = ("email_message_id", "email_from_email")


def up(db):
    for name in UNUSED:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
