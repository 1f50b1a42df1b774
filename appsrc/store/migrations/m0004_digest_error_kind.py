"""0004: why a digest attempt failed, not only that it did.

`error_kind` is `transient` (retry later helps), `permanent` (an admin must change something: the
scheduler then waits the longest back-off instead of retrying every few minutes) or `ambiguous`
(the transport lost the connection after handing the mail over, so whether it was delivered is
unknown: such a run is `unconfirmed` and never resent). NULL for runs that did not fail.
"""

from __future__ import annotations


def up(db):
    db.execute_sql("ALTER TABLE digest_run ADD COLUMN error_kind VARCHAR(16)")
