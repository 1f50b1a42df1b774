"""Investors and contacts as the investor pages and the picker show them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from peewee import JOIN, fn

from appsrc.store.models import (
    Activity,
    ActivityProposal,
    Contact,
    ContactEmail,
    Email,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
    User,
)
from appsrc.store.queries.activity import decode_time_cursor, email_activity
from appsrc.store.queries.cache import cached
from appsrc.store.queries.common import MAX_LIMIT, check_ids, encode_cursor, is_row_id, iso


def list_investors(*, include_graveyard: bool = False, also: Iterable[int] = ()) -> list[dict[str, Any]]:
    """The investor picker: graveyard investors only when asked for, or named in `also` (a
    filter already applied must stay visible)."""
    query = Investor.select().where(Investor.deleted_at.is_null()).order_by(Investor.name)
    if not include_graveyard:
        also = [i for i in also if is_row_id(i)]
        query = query.where(~Investor.graveyard | Investor.id.in_(also)) if also else query.where(~Investor.graveyard)
    investors = list(query)
    domains: dict[int, list[str]] = {}
    for investor_id, domain in (
        InvestorDomain.select(InvestorDomain.investor, InvestorDomain.domain).order_by(InvestorDomain.domain).tuples()
    ):
        domains.setdefault(investor_id, []).append(domain)
    return [{"id": i.id, "name": i.name, "graveyard": i.graveyard, "domains": domains.get(i.id, [])} for i in investors]


# -- investors and contacts -------------------------------------------------------------------------------
@cached(30)
def _link_counts() -> dict[int, int]:
    return dict(
        EmailInvestorLink.select(EmailInvestorLink.investor, fn.COUNT(EmailInvestorLink.id))
        .group_by(EmailInvestorLink.investor)
        .tuples()
    )


def investor_table(*, include_graveyard: bool = True, q: str | None = None) -> list[dict[str, Any]]:
    """The investors page: each investor with domains, contacts, linked mail and pending proposals."""
    base = list_investors(include_graveyard=include_graveyard)
    contacts = dict(
        Contact.select(Contact.investor, fn.COUNT(Contact.id))
        .where(Contact.deleted_at.is_null())
        .group_by(Contact.investor)
        .tuples()
    )
    pending = dict(
        ActivityProposal.select(ActivityProposal.investor, fn.COUNT(ActivityProposal.id))
        .where(ActivityProposal.status == "pending")
        .group_by(ActivityProposal.investor)
        .tuples()
    )
    last = dict(Activity.select(Activity.investor, fn.MAX(Activity.occurred_at)).group_by(Activity.investor).tuples())
    links = _link_counts()
    needle = (q or "").strip().lower()
    rows = []
    for inv in base:
        if needle and needle not in inv["name"].lower() and not any(needle in d for d in inv["domains"]):
            continue
        last_at = last.get(inv["id"])
        if isinstance(last_at, str):
            last_at = datetime.fromisoformat(last_at)
        rows.append(
            {
                **inv,
                "contacts": contacts.get(inv["id"], 0),
                "emails": links.get(inv["id"], 0),
                "pending": pending.get(inv["id"], 0),
                "last_activity_at": iso(last_at) if last_at else None,
            }
        )
    return rows


def investor_detail(investor_id: int) -> dict[str, Any] | None:
    if not is_row_id(investor_id):
        return None
    investor = Investor.get_or_none((Investor.id == investor_id) & Investor.deleted_at.is_null())
    if investor is None:
        return None
    contacts = []
    addresses: dict[int, list[str]] = {}
    for contact_id, address in (
        ContactEmail.select(ContactEmail.contact, ContactEmail.address)
        .join(Contact)
        .where(Contact.investor == investor_id)
        .order_by(ContactEmail.address)
        .tuples()
    ):
        addresses.setdefault(contact_id, []).append(address)
    counts = dict(
        Activity.select(Activity.contact, fn.COUNT(Activity.id))
        .where(Activity.investor == investor_id)
        .group_by(Activity.contact)
        .tuples()
    )
    for c in (
        Contact.select().where((Contact.investor == investor_id) & Contact.deleted_at.is_null()).order_by(Contact.name)
    ):
        contacts.append(
            {"id": c.id, "name": c.name, "addresses": addresses.get(c.id, []), "activities": counts.get(c.id, 0)}
        )
    return {
        "id": investor.id,
        "name": investor.name,
        "graveyard": investor.graveyard,
        "notes": investor.notes,
        "domains": [d.domain for d in investor.domain_rows.order_by(InvestorDomain.domain)],
        "contacts": contacts,
        "emails": _link_counts().get(investor.id, 0),
        "pending": ActivityProposal.select()
        .where((ActivityProposal.investor == investor_id) & (ActivityProposal.status == "pending"))
        .count(),
    }


def contact_choices(*, exclude: int | None = None) -> list[dict[str, Any]]:
    """Every live contact of every live investor (graveyard included), with the investor's name
    and the contact's addresses, by contact name: the contact pickers. Two reads, however many
    investors there are."""
    rows = list(
        Contact.select(Contact.id, Contact.name, Investor.id, Investor.name)
        .join(Investor)
        .where(Contact.deleted_at.is_null() & Investor.deleted_at.is_null())
        .order_by(Contact.name, Contact.id)
        .tuples()
    )
    addresses: dict[int, list[str]] = {}
    for contact_id, address in (
        ContactEmail.select(ContactEmail.contact, ContactEmail.address)
        .join(Contact)
        .where(Contact.deleted_at.is_null())
        .order_by(ContactEmail.address)
        .tuples()
    ):
        addresses.setdefault(contact_id, []).append(address)
    return [
        {
            "id": contact_id,
            "name": name,
            "investor_id": investor_id,
            "investor_name": investor_name,
            "addresses": addresses.get(contact_id, []),
        }
        for contact_id, name, investor_id, investor_name in rows
        if contact_id != exclude
    ]


def contact_detail(contact_id: int) -> dict[str, Any] | None:
    if not is_row_id(contact_id):
        return None
    row = (
        Contact.select(Contact, Investor.name.alias("investor_name"), Investor.graveyard.alias("graveyard"))
        .join(Investor)
        .where((Contact.id == contact_id) & Contact.deleted_at.is_null())
        .dicts()
        .first()
    )
    if row is None:
        return None
    return {
        "id": row["id"],
        "name": row["name"],
        "investor_id": row["investor"],
        "investor_name": row["investor_name"],
        "graveyard": bool(row["graveyard"]),
        "addresses": [
            a
            for (a,) in ContactEmail.select(ContactEmail.address)
            .where(ContactEmail.contact == contact_id)
            .order_by(ContactEmail.address)
            .tuples()
        ],
    }


def activity_timeline(
    *, investor_id: int | None = None, contact_id: int | None = None, limit: int = 100, cursor: str | None = None
) -> dict[str, Any]:
    """Approved activities, newest first: a contact's or an investor's CRM record."""
    check_ids(investor_id=investor_id, contact_id=contact_id)
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = (
        Activity.select(
            Activity,
            Contact.name.alias("contact_name"),
            Investor.name.alias("investor_name"),
            User.email.alias("created_by_email"),
            Email.from_email,
            Email.snippet,
        )
        .join(Contact, on=(Activity.contact == Contact.id))
        .switch(Activity)
        .join(Investor, on=(Activity.investor == Investor.id))
        .switch(Activity)
        .join(User, join_type=JOIN.LEFT_OUTER, on=(Activity.created_by == User.id))
        .switch(Activity)
        .join(Email, join_type=JOIN.LEFT_OUTER, on=(Activity.email == Email.id))
    )
    if investor_id is not None:
        query = query.where(Activity.investor == investor_id)
    if contact_id is not None:
        query = query.where(Activity.contact == contact_id)
    if cursor:
        occurred, last_id = decode_time_cursor(cursor)
        query = query.where(
            (Activity.occurred_at < occurred) | ((Activity.occurred_at == occurred) & (Activity.id < last_id))
        )
    rows = list(query.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "direction": r["direction"],
            "summary": r["summary"],
            "occurred_at": iso(r["occurred_at"]),
            "email_id": r["email"],
            "contact_id": r["contact"],
            "contact_name": r["contact_name"],
            "investor_id": r["investor"],
            "investor_name": r["investor_name"],
            "from_email": r["from_email"],
            "snippet": r["snippet"],
            "created_by": r["created_by_email"],
            "created_at": iso(r["created_at"]),
            "note": r["note"],
            "edited_at": iso(r["edited_at"]),
            "proposal_id": r["proposal"],
        }
        for r in rows
    ]
    return {
        "items": items,
        "next_cursor": encode_cursor(rows[-1]["occurred_at"].isoformat(), rows[-1]["id"]) if more else None,
    }


def recent_emails_of_investor(investor_id: int, limit: int = 10) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = email_activity(investor_id=investor_id, limit=limit)["items"]
    return items
