"""0014: an approved activity can be corrected.

An admin adds a note to an activity, or corrects its date or its contact; the email itself is
never edited. `edited_at` says when it last was (the audit log holds the before and after).

A decision can be undone, alone or with every other decision of the same action (one bulk
approval): `activity_proposal.decision_id` names the action that decided a proposal.
"""

from __future__ import annotations


def up(db):
    db.execute_sql("ALTER TABLE activity ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    db.execute_sql("ALTER TABLE activity ADD COLUMN edited_at TIMESTAMP")
    db.execute_sql("ALTER TABLE activity_proposal ADD COLUMN decision_id VARCHAR(64)")
    # Partial: capture inserts pending proposals (no decision) by the thousand and skips it.
    db.execute_sql(
        "CREATE INDEX activity_proposal_decision_id ON activity_proposal (decision_id) WHERE decision_id IS NOT NULL"
    )
