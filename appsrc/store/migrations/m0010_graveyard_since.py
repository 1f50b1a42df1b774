"""0010: since when an investor has been in the graveyard.

An LP moved to the graveyard who writes to the team again is surfaced (a proposal marked
"graveyard investor is back", a line in the digest), but only for mail sent after the move:
their old history, captured by a backfill, stays quiet. Investors already in the graveyard count
from their last change (`updated_at`), the closest record there is of the move.
"""

from __future__ import annotations


def up(db):
    db.execute_sql("ALTER TABLE investor ADD COLUMN graveyard_since TIMESTAMP")
    db.execute_sql("UPDATE investor SET graveyard_since = updated_at WHERE graveyard")
