"""One email as its page shows it: content, sightings (each with its "Open in Gmail" link),
investor links, proposals, drafts, and the conversation it belongs to (`conversations`)."""

from __future__ import annotations

from typing import Any

from peewee import JOIN

from appsrc.matching.direction import direction_of
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    Contact,
    Draft,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
    User,
)
from appsrc.store.queries.approvals import proposal_query, proposal_row
from appsrc.store.queries.common import is_row_id, iso, own_mailbox_addresses
from appsrc.store.queries.conversations import email_thread
from appsrc.store.queries.gmail_links import gmail_thread_url


# -- email detail -------------------------------------------------------------------------------------
def email_detail(email_id: int) -> dict[str, Any] | None:
    """Everything the detail view shows about one email, or None."""
    if not is_row_id(email_id):
        return None
    email = Email.get_or_none(Email.id == email_id)
    if email is None:
        return None
    own = own_mailbox_addresses()
    sightings = [
        {
            "account_id": account_id,
            "address": address,
            "gmail_id": gmail_id,
            "thread_id": thread_id,
            "labels": labels or [],
            "is_sent": bool(is_sent),
            "deleted_at": iso(deleted_at),
            "live": deleted_at is None,
            "gmail_url": gmail_thread_url(address, thread_id) if deleted_at is None else None,
        }
        for account_id, address, gmail_id, thread_id, labels, is_sent, deleted_at in (
            EmailAccountMessage.select(
                EmailAccount.id,
                EmailAccount.address,
                EmailAccountMessage.gmail_id,
                EmailAccountMessage.gmail_thread_id,
                EmailAccountMessage.label_ids,
                EmailAccountMessage.is_sent,
                EmailAccountMessage.deleted_at,
            )
            .join(EmailAccount)
            .where(EmailAccountMessage.email == email_id)
            .order_by(EmailAccount.address)
            .tuples()
        )
    ]
    links = [
        {
            "investor_id": inv_id,
            "investor_name": inv_name,
            "graveyard": bool(graveyard),
            "contact_id": contact_id,
            "contact_name": contact_name,
            "matched_address": matched,
        }
        for inv_id, inv_name, graveyard, contact_id, contact_name, matched in (
            EmailInvestorLink.select(
                Investor.id,
                Investor.name,
                Investor.graveyard,
                Contact.id,
                Contact.name,
                EmailInvestorLink.matched_address,
            )
            .join(Investor)
            .switch(EmailInvestorLink)
            .join(Contact, join_type=JOIN.LEFT_OUTER, on=(EmailInvestorLink.contact == Contact.id))
            .where(EmailInvestorLink.email == email_id)
            .order_by(Investor.name)
            .tuples()
        )
    ]
    proposals = [
        proposal_row(r)
        for r in proposal_query().where(ActivityProposal.email == email_id).order_by(ActivityProposal.id).dicts()
    ]
    drafts = [
        {
            "id": d.id,
            "mailbox": d.account.address,
            "gmail_draft_id": d.gmail_draft_id,
            "to": d.to or [],
            "cc": d.cc or [],
            "subject": d.subject,
            "body_source": d.body_source,
            "created_by": d.created_by.email if d.created_by_id else None,
            "created_at": iso(d.created_at),
        }
        for d in Draft.select(Draft, EmailAccount).join(EmailAccount).where(Draft.email == email_id).order_by(Draft.id)
    ]
    activities = [
        {
            "id": a["id"],
            "contact_id": a["contact"],
            "contact_name": a["contact_name"],
            "investor_id": a["investor"],
            "direction": a["direction"],
            "created_at": iso(a["created_at"]),
            "created_by": a["created_by_email"],
        }
        for a in (
            Activity.select(Activity, Contact.name.alias("contact_name"), User.email.alias("created_by_email"))
            .join(Contact, on=(Activity.contact == Contact.id))
            .switch(Activity)
            .join(User, join_type=JOIN.LEFT_OUTER, on=(Activity.created_by == User.id))
            .where(Activity.email == email_id)
            .dicts()
        )
    ]
    gmail_links = [{"address": s["address"], "gmail_url": s["gmail_url"]} for s in sightings if s["live"]]
    return {
        "email_id": email.id,
        "message_id": email.message_id,
        "subject": email.subject,
        "from_email": email.from_email,
        "from_name": email.from_name,
        "reply_to": email.reply_to or [],
        "to": email.to or [],
        "cc": email.cc or [],
        "in_reply_to": email.in_reply_to,
        "sent_at": iso(email.sent_at),
        "snippet": email.snippet,
        "body_text": email.body_text,
        "body_truncated": email.body_truncated,
        "attachments": email.attachments or [],
        "size": email.size,
        "is_bulk": email.is_bulk,
        "bulk_reason": email.bulk_reason,
        "direction": direction_of(email.from_email, own),
        "live": any(s["live"] for s in sightings),
        "mailboxes": [s["address"] for s in sightings if s["live"]],
        # The conversation key (`email.thread_key`), and its link in the first live mailbox.
        "thread_id": email.thread_key,
        "gmail_url": gmail_links[0]["gmail_url"] if gmail_links else None,
        "gmail_links": gmail_links,
        "sightings": sightings,
        "investors": links,
        "proposals": proposals,
        "drafts": drafts,
        "activities": activities,
        **email_thread(email.id, email.thread_key, own),
    }
