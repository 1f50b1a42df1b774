"""Named read queries shared by the JSON API, the dashboard and the CLI; they return plain dicts.

One module per read model, matching the dashboard's pages: `activity` (the email search),
`approvals`, `investors`, `mailboxes`, `email` (one email's page), `conversations` (threads and
documents), `awaiting` (who waits on a reply), `export` (CSV), `charts` and `admin` (status,
users, tokens, audit, digest runs). `common` holds the id checks and cursors, `cache` the
short-lived cache of counts and charts. The names below are the package's interface.

Rules every read model keeps:
- an email is live iff one of its sightings has `deleted_at IS NULL` (soft delete is per mailbox);
- direction is decided per email (`appsrc.matching.direction`);
- graveyard investors are hidden from the picker only; their mail is listed and searchable.
"""

from appsrc.store.queries.activity import COUNT_CAP, FilterArgs, email_activity, email_activity_count
from appsrc.store.queries.admin import (
    appliance_status,
    audit_log,
    digest_runs,
    list_tokens,
    list_users,
    overview,
)
from appsrc.store.queries.approvals import (
    approval_group,
    approval_groups,
    list_proposals,
    pending_proposal_count,
    proposal,
    proposal_investors,
    proposal_queue,
)
from appsrc.store.queries.cache import clear_cache
from appsrc.store.queries.charts import approvals_backlog, weekly_volume
from appsrc.store.queries.common import (
    DIRECTIONS,
    MAX_ID,
    MAX_LIMIT,
    QueryError,
    decode_cursor,
    encode_cursor,
    is_row_id,
)
from appsrc.store.queries.conversations import (
    contact_conversations,
    investor_conversations,
    investor_documents,
)
from appsrc.store.queries.email import email_detail
from appsrc.store.queries.investors import (
    activity_timeline,
    contact_choices,
    contact_detail,
    investor_detail,
    investor_table,
    list_investors,
    recent_emails_of_investor,
)
from appsrc.store.queries.mailboxes import list_mailboxes, mailbox_due_ids, mailboxes_of_user

__all__ = [
    "COUNT_CAP",
    "DIRECTIONS",
    "FilterArgs",
    "MAX_ID",
    "MAX_LIMIT",
    "QueryError",
    "activity_timeline",
    "approval_group",
    "approval_groups",
    "appliance_status",
    "approvals_backlog",
    "audit_log",
    "clear_cache",
    "contact_conversations",
    "contact_choices",
    "contact_detail",
    "decode_cursor",
    "digest_runs",
    "email_activity",
    "email_activity_count",
    "email_detail",
    "encode_cursor",
    "investor_conversations",
    "investor_detail",
    "investor_documents",
    "investor_table",
    "is_row_id",
    "list_investors",
    "list_mailboxes",
    "list_proposals",
    "list_tokens",
    "list_users",
    "mailbox_due_ids",
    "mailboxes_of_user",
    "overview",
    "pending_proposal_count",
    "proposal",
    "proposal_investors",
    "proposal_queue",
    "recent_emails_of_investor",
    "weekly_volume",
]
