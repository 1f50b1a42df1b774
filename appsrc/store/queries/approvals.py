"""The approvals queue: pending and decided proposals, with their investors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peewee import JOIN, ModelSelect, fn

from appsrc.store.db import database, is_sqlite
from appsrc.store.models import (
    ActivityProposal,
    Contact,
    Email,
    Investor,
    User,
)
from appsrc.store.queries.activity import decode_time_cursor, live_mailboxes_of, time_key
from appsrc.store.queries.common import MAX_LIMIT, QueryError, check_ids, encode_cursor, is_row_id, iso


def list_proposals(*, status: str | None = "pending", limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Proposals for `GET /api/proposals` (see `proposal_queue`)."""
    return proposal_queue(status=status, limit=limit, cursor=cursor)


def pending_proposal_count() -> int:
    """The nav badge's figure, polled by every open admin page."""
    count: int
    if is_sqlite():
        count = database.execute_sql("SELECT count(*) FROM pending_proposal").fetchone()[0]
    else:
        count = ActivityProposal.select().where(ActivityProposal.status == "pending").count()
    return count


# -- proposals ------------------------------------------------------------------------------------------
def proposal_query() -> ModelSelect:
    return (
        ActivityProposal.select(
            ActivityProposal,
            Email.message_id,
            Email.subject,
            Email.sent_at,
            Email.from_email,
            Email.from_name,
            Email.snippet,
            Investor.name.alias("investor_name"),
            Investor.graveyard.alias("investor_graveyard"),
            Contact.name.alias("contact_name"),
            User.email.alias("decided_by_email"),
        )
        .join(Email)
        .switch(ActivityProposal)
        .join(Investor)
        .switch(ActivityProposal)
        .join(Contact, join_type=JOIN.LEFT_OUTER, on=(ActivityProposal.contact == Contact.id))
        .switch(ActivityProposal)
        .join(User, join_type=JOIN.LEFT_OUTER, on=(ActivityProposal.decided_by == User.id))
    )


def proposal_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "email_id": r["email"],
        "message_id": r["message_id"],
        "subject": r["subject"],
        "snippet": r["snippet"],
        "sent_at": iso(r["sent_at"]),
        "from_email": r["from_email"],
        "from_name": r["from_name"],
        "investor_id": r["investor"],
        "investor_name": r["investor_name"],
        "contact_id": r["contact"],
        "contact_name": r["contact_name"],
        "contact_email": r["address"],
        "new_contact": r["contact"] is None,
        # A graveyard investor who wrote to the team again ("graveyard-return"), else "email".
        "kind": r["kind"],
        "status": r["status"],
        "created_at": iso(r["created_at"]),
        "decided_at": iso(r["decided_at"]),
        "decided_by": r["decided_by_email"],
    }


def _pending_page(investor_id: int | None, after: tuple[datetime, int] | None, limit: int) -> list[dict[str, Any]]:
    """SQLite: a page of the pending queue read from migration 0005's `pending_proposal`, newest
    email first, stopping after the page (not every pending proposal joined and sorted)."""
    sql, params = "SELECT proposal_id FROM pending_proposal WHERE 1", []
    if investor_id is not None:
        sql += " AND investor_id = ?"
        params.append(investor_id)
    if after:
        sql += " AND key < ?"
        params.append(time_key(*after))
    ordered = [i for (i,) in database.execute_sql(f"{sql} ORDER BY key DESC LIMIT ?", (*params, limit)).fetchall()]
    found = {r["id"]: r for r in proposal_query().where(ActivityProposal.id.in_(ordered)).dicts()}
    return [found[i] for i in ordered if i in found]


def proposal_queue(
    *, status: str | None = "pending", investor_id: int | None = None, limit: int = 50, cursor: str | None = None
) -> dict[str, Any]:
    """Proposals newest email first, with the mailboxes that saw each email (keyset paging).
    On SQLite the pending queue orders emails of the same second by proposal id."""
    if status not in (None, "", "pending", "approved", "rejected"):
        raise QueryError("status must be pending, approved or rejected", "status")
    check_ids(investor_id=investor_id)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    if status == "pending" and is_sqlite():
        rows = _pending_page(investor_id, after, limit + 1)
    else:
        query = proposal_query()
        if status:
            query = query.where(ActivityProposal.status == status)
        if investor_id is not None:
            query = query.where(ActivityProposal.investor == investor_id)
        if after:
            sent_at, last_id = after
            query = query.where(
                (Email.sent_at < sent_at) | ((Email.sent_at == sent_at) & (ActivityProposal.id < last_id))
            )
        rows = list(query.order_by(Email.sent_at.desc(), ActivityProposal.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    mailboxes = live_mailboxes_of(list({r["email"] for r in rows}))
    items = []
    for r in rows:
        item = proposal_row(r)
        item["mailboxes"] = mailboxes.get(r["email"], [])
        items.append(item)
    return {
        "items": items,
        "next_cursor": encode_cursor(rows[-1]["sent_at"].isoformat(), rows[-1]["id"]) if more else None,
    }


def proposal(proposal_id: int) -> dict[str, Any] | None:
    if not is_row_id(proposal_id):
        return None
    row = proposal_query().where(ActivityProposal.id == proposal_id).dicts().first()
    if row is None:
        return None
    item = proposal_row(row)
    item["mailboxes"] = live_mailboxes_of([row["email"]]).get(row["email"], [])
    return item


def proposal_investors() -> list[dict[str, Any]]:
    """Investors with pending proposals and how many: the approval queue's filter (on SQLite
    from migration 0005's per-investor counts, not a count of every pending proposal)."""
    if is_sqlite():
        counts = dict(
            database.execute_sql("SELECT investor_id, pending FROM pending_proposal_count WHERE pending > 0").fetchall()
        )
        rows = (
            (
                Investor.select(Investor.id, Investor.name)
                .where(Investor.id.in_(list(counts)))
                .order_by(Investor.name)
                .tuples()
            )
            if counts
            else []
        )
        return [{"id": i, "name": n, "pending": counts[i]} for i, n in rows]
    rows = (
        ActivityProposal.select(Investor.id, Investor.name, fn.COUNT(ActivityProposal.id))
        .join(Investor)
        .where(ActivityProposal.status == "pending")
        .group_by(Investor.id, Investor.name)
        .order_by(Investor.name)
        .tuples()
    )
    return [{"id": i, "name": n, "pending": c} for i, n, c in rows]
