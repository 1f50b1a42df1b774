"""0008: drop the indexes no query reads.

- `email.message_id`: no query looks an email up by it (dedupe goes through `dedupe_key`,
  threading reads the email row);
- `email.from_email`: the activity search decides direction per email without an index walk
  (see `appsrc.store.queries.activity`);
- `email_participant.domain`: the rematch asks for a domain *or its subdomains*, and a suffix
  LIKE cannot use a B-tree, so both databases scan the table whatever the index;
- `contact_id` of `email_investor_link` and `activity_proposal`: no query looks either up by
  contact, and their only other use, the ON DELETE SET NULL action, never runs: contacts are
  soft-deleted (`deleted_at`).

Every captured email wrote each of them, at scattered keys: a page write per email or per
contact at each commit (bench/capture.py (b) measures what dropping them saved).
"""

from __future__ import annotations

UNUSED = (
    "email_message_id",
    "email_from_email",
    "email_participant_domain",
    "email_investor_link_contact_id",
    "activity_proposal_contact_id",
)


def up(db):
    for name in UNUSED:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
