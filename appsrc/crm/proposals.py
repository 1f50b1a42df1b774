"""Propose → approve: the only way an `Activity` lands on a contact record.

Capture and rematch create pending `ActivityProposal`s (one per email and target: an existing
`contact:<id>` or an unknown `address:<addr>` at an investor's domain). An admin decides:
- approve a `contact:` proposal: the activity is written on that contact;
- approve an `address:` proposal ("approve and create contact"): a contact with that address is
  created under the investor (or found, if someone created it meanwhile), the proposal is
  re-targeted to it, the activity written, and the other pending proposals for that address
  are rematched onto the new contact (`affected_addresses`, right after the decision);
- reject: nothing is written but the decision.
Each decision is one transaction with its audit event. A bulk decision is all-or-nothing: one
proposal that cannot be decided (unknown, already decided) leaves every other one untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from appsrc.crm import audit
from appsrc.crm.rematch import DirectoryLoader, RematchScope, empty_stats, rematch
from appsrc.crm.validation import ValidationError
from appsrc.matching.direction import direction_of
from appsrc.store.db import database
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    Contact,
    ContactEmail,
    Email,
    EmailInvestorLink,
    Investor,
    User,
)
from appsrc.store.queries import MAX_ID, is_row_id
from appsrc.store.queries.common import own_mailbox_addresses

MAX_BULK = 500


class ProposalNotFound(ValidationError):
    pass


class ProposalConflict(ValidationError):
    """The proposal cannot be decided in its current state (e.g. it was already decided)."""


@dataclass
class Decision:
    approved: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    activities: list[int] = field(default_factory=list)
    contacts_created: list[int] = field(default_factory=list)
    affected_addresses: set[str] = field(default_factory=set)  # new contacts' addresses, rematched
    rematched: dict[str, int] = field(default_factory=empty_stats)

    def as_dict(self) -> dict:
        return {
            "approved": self.approved,
            "rejected": self.rejected,
            "activities": self.activities,
            "contacts_created": self.contacts_created,
        }


def _clean_ids(ids) -> list[int]:
    """Integers only: a coerced 1.5, True or "1" would decide proposal 1 nobody chose."""
    given = list(ids) if isinstance(ids, (list, tuple, set)) else None
    if given is None or not all(is_row_id(i) for i in given):
        raise ValidationError(f"ids must be a list of proposal ids (whole numbers from 1 to {MAX_ID})", field="ids")
    cleaned = list(dict.fromkeys(given))
    if not cleaned:
        raise ValidationError("no proposal ids given", field="ids")
    if len(cleaned) > MAX_BULK:
        raise ValidationError(f"at most {MAX_BULK} proposals at once", field="ids")
    return cleaned


def _pending(ids: Sequence[int]) -> list[ActivityProposal]:
    rows = {p.id: p for p in ActivityProposal.select().where(ActivityProposal.id.in_(list(ids)))}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise ProposalNotFound(f"no proposal {', '.join(map(str, missing))}", field="ids")
    decided = [i for i in ids if rows[i].status != "pending"]
    if decided:
        raise ProposalConflict(f"proposal {', '.join(map(str, decided))} was already decided", field="ids")
    return [rows[i] for i in ids]


def approve(
    ids: Sequence[int] | set[int] | int,
    actor: User,
    now: datetime,
    *,
    directory: DirectoryLoader,
    contact_names: dict[int, str] | None = None,
    actor_label: str = "",
) -> Decision:
    """Approve pending proposals; `contact_names` names the contacts created for `address:` ones.
    Other pending proposals for a new contact's address are then rematched onto it."""
    ids = _clean_ids([ids] if isinstance(ids, int) else ids)
    decision = Decision()
    with database.atomic():
        own = own_mailbox_addresses()
        for proposal in _pending(ids):
            _approve_one(proposal, actor, now, own, (contact_names or {}).get(proposal.id), decision, actor_label)
    decision.rematched = rematch(directory, now, RematchScope(set(), decision.affected_addresses))
    return decision


def reject(ids: Sequence[int] | set[int] | int, actor: User, now: datetime, *, actor_label: str = "") -> Decision:
    ids = _clean_ids([ids] if isinstance(ids, int) else ids)
    decision = Decision()
    with database.atomic():
        for proposal in _pending(ids):
            updated = (
                ActivityProposal.update(status="rejected", decided_by=actor, decided_at=now)
                .where((ActivityProposal.id == proposal.id) & (ActivityProposal.status == "pending"))
                .execute()
            )
            if updated != 1:  # decided by someone else between our read and this write
                raise ProposalConflict(f"proposal {proposal.id} was already decided", field="ids")
            audit.record(
                "proposal.reject",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="proposal",
                target_id=proposal.id,
                detail={
                    "email_id": proposal.email_id,
                    "investor_id": proposal.investor_id,
                    "target": proposal.target_key,
                },
            )
            decision.rejected.append(proposal.id)
    return decision


def _approve_one(
    proposal: ActivityProposal,
    actor: User,
    now: datetime,
    own: frozenset[str],
    contact_name: str | None,
    decision: Decision,
    actor_label: str,
) -> None:
    email = Email.get_by_id(proposal.email_id)
    investor = Investor.get_or_none(Investor.id == proposal.investor_id)
    if investor is None or investor.deleted_at is not None:
        raise ProposalConflict(f"proposal {proposal.id}: the investor was removed", field="ids")
    contact = None
    if proposal.contact_id is not None:
        contact = Contact.get_or_none(Contact.id == proposal.contact_id)
        if contact is None or contact.deleted_at is not None:
            raise ProposalConflict(f"proposal {proposal.id}: the contact was removed", field="ids")
    else:
        contact = _contact_for_address(proposal, email, investor, now, contact_name, decision)
        decision.affected_addresses.add(proposal.address)
        key = f"contact:{contact.id}"
        twin = ActivityProposal.get_or_none(
            (ActivityProposal.email == proposal.email_id) & (ActivityProposal.target_key == key)
        )
        if twin is not None:
            # The contact existed already and a rematch proposed it for this email: the address
            # proposal is stale. Decide the contact's proposal instead, unless it is decided.
            if twin.status != "pending":
                raise ProposalConflict(
                    f"proposal {proposal.id}: this email is already {twin.status} for {contact.name}", field="ids"
                )
            proposal.delete_instance()
            proposal = twin
        else:
            proposal.contact = contact
            proposal.target_key = key
            proposal.save(only=[ActivityProposal.contact, ActivityProposal.target_key])
    updated = (
        ActivityProposal.update(status="approved", decided_by=actor, decided_at=now)
        .where((ActivityProposal.id == proposal.id) & (ActivityProposal.status == "pending"))
        .execute()
    )
    if updated != 1:
        raise ProposalConflict(f"proposal {proposal.id} was already decided", field="ids")
    activity = Activity.create(
        contact=contact,
        investor=investor,
        email=email,
        proposal=proposal,
        kind=proposal.kind or "email",
        direction=direction_of(email.from_email, own),
        summary=(email.subject or "(no subject)")[:500],
        occurred_at=email.sent_at,
        created_by=actor,
        created_at=now,
    )
    audit.record(
        "proposal.approve",
        now,
        actor=actor,
        actor_label=actor_label,
        target_type="proposal",
        target_id=proposal.id,
        detail={"email_id": email.id, "investor_id": investor.id, "contact_id": contact.id, "activity_id": activity.id},
    )
    decision.approved.append(proposal.id)
    decision.activities.append(activity.id)


def _contact_for_address(
    proposal: ActivityProposal, email: Email, investor: Investor, now: datetime, name: str | None, decision: Decision
) -> Contact:
    existing = ContactEmail.get_or_none(ContactEmail.address == proposal.address)
    if existing is not None:
        contact = existing.contact
        if contact.investor_id != investor.id and contact.deleted_at is None:
            raise ProposalConflict(
                f"proposal {proposal.id}: {proposal.address} is already a contact of another investor", field="ids"
            )
        if contact.deleted_at is not None:
            contact.deleted_at = None
            contact.investor = investor
            contact.updated_at = now
            contact.save()
        return contact
    name = (name or "").strip()[:200] or _name_from_email(proposal.address, email)
    contact = Contact.create(investor=investor, name=name, created_at=now, updated_at=now)
    ContactEmail.create(contact=contact, address=proposal.address)
    # The email's link to this investor now names the contact.
    (
        EmailInvestorLink.update(contact=contact)
        .where(
            (EmailInvestorLink.email == email.id)
            & (EmailInvestorLink.investor == investor.id)
            & (EmailInvestorLink.matched_address == proposal.address)
        )
        .execute()
    )
    audit.record(
        "contact.create",
        now,
        actor_label="approval",
        target_type="contact",
        target_id=contact.id,
        detail={"investor_id": investor.id, "address": proposal.address, "proposal_id": proposal.id},
    )
    decision.contacts_created.append(contact.id)
    return contact


def _name_from_email(address: str, email: Email) -> str:
    """The display name the address used, when it sent the email; else its local part."""
    if (email.from_email or "").lower() == address and email.from_name:
        return email.from_name[:200]
    for person in (email.to or []) + (email.cc or []):
        if isinstance(person, dict) and str(person.get("email", "")).lower() == address and person.get("name"):
            return str(person["name"])[:200]
    return address.partition("@")[0]
