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

Groups (`decide_groups`): an admin decides whole conversations or investors at once after seeing
exactly which proposals each covers (`store.queries.approvals.approval_group`). The decision
names those member ids; if any group's members changed since (a proposal decided elsewhere, a
new one captured), nothing is decided and `GroupsChanged` carries the groups as they are now.
Several groups decided together are one action: one `decision_id` (so `undo(whole_action=True)`
takes it all back) and one `proposal.group_decision` audit event listing the groups and members.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from appsrc.crm import audit
from appsrc.crm.rematch import DirectoryLoader, RematchScope, empty_stats, relink, rematch
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
from appsrc.store.queries.approvals import MAX_GROUP, approval_group
from appsrc.store.queries.common import QueryError, own_mailbox_addresses

MAX_BULK = 500
MAX_GROUPS = 100  # groups in one decision (their members together at most MAX_GROUP)
DECISIONS = ("approve", "reject")


class ProposalNotFound(ValidationError):
    pass


class ProposalConflict(ValidationError):
    """The proposal cannot be decided in its current state (e.g. it was already decided)."""


class GroupsChanged(ProposalConflict):
    """A group's members are not the ones the admin saw; `previews` are the groups as they are now."""

    def __init__(self, message: str, previews: list[dict]):
        super().__init__(message, field="groups")
        self.previews = previews


@dataclass
class Decision:
    approved: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    activities: list[int] = field(default_factory=list)
    contacts_created: list[int] = field(default_factory=list)
    affected_addresses: set[str] = field(default_factory=set)  # new contacts' addresses, rematched
    rematched: dict[str, int] = field(default_factory=empty_stats)
    decision_id: str | None = None  # names the action, for undo(whole_action=True)

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
        _approve_all(ids, actor, now, contact_names or {}, decision, actor_label)
    decision.rematched = rematch(directory, now, RematchScope(set(), decision.affected_addresses))
    return decision


def _approve_all(
    ids: list[int], actor: User, now: datetime, names: dict[int, str], decision: Decision, actor_label: str
) -> None:
    own = own_mailbox_addresses()
    for proposal in _pending(ids):
        _approve_one(proposal, actor, now, own, names.get(proposal.id), decision, actor_label)
    decision.decision_id = _stamp(decision.approved)


def reject(ids: Sequence[int] | set[int] | int, actor: User, now: datetime, *, actor_label: str = "") -> Decision:
    ids = _clean_ids([ids] if isinstance(ids, int) else ids)
    decision = Decision()
    with database.atomic():
        _reject_all(ids, actor, now, decision, actor_label)
    return decision


def _reject_all(ids: list[int], actor: User, now: datetime, decision: Decision, actor_label: str) -> None:
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
    decision.decision_id = _stamp(decision.rejected)


def decide_groups(
    decision: object,
    groups: object,
    actor: User,
    now: datetime,
    *,
    directory: DirectoryLoader,
    actor_label: str = "",
) -> tuple[Decision, list[dict]]:
    """Approve or reject every member of the given groups as one action, exactly the members the
    admin saw: each group is `{"by", "key", "people", "member_ids"}` as `approval_group` showed
    it. Returns the decision and the groups it covered. Raises `GroupsChanged` (nothing decided)
    when any group's members differ now; new contacts are named as "Approve all" names them."""
    if decision not in DECISIONS:
        raise ValidationError("decision must be approve or reject", field="decision")
    wanted = _clean_groups(groups)
    result = Decision()
    with database.atomic():
        try:
            previews = [approval_group(g["by"], g["key"], g["people"]) for g in wanted]
        except QueryError as exc:
            raise ValidationError(str(exc), field="groups") from None
        if any(p["too_large"] for p in previews):
            raise ValidationError(
                f"a group has more than {MAX_GROUP} proposals: decide it in smaller groups", field="groups"
            )
        changed = [p for p, g in zip(previews, wanted, strict=True) if set(p["member_ids"]) != g["ids"]]
        if changed:
            raise GroupsChanged(
                f"{len(changed)} of the groups changed since they were shown: nothing was decided", previews
            )
        ids = list(dict.fromkeys(i for p in previews for i in p["member_ids"]))
        if not ids:
            raise ValidationError("the groups have no pending proposals", field="groups")
        if len(ids) > MAX_GROUP:
            raise ValidationError(f"at most {MAX_GROUP} proposals in one decision", field="groups")
        if decision == "approve":
            _approve_all(ids, actor, now, {}, result, actor_label)
        else:
            _reject_all(ids, actor, now, result, actor_label)
        covered = [
            {"by": p["by"], "key": p["key"], "people": p["people"], "label": p["label"], "member_ids": p["member_ids"]}
            for p in previews
        ]
        audit.record(
            "proposal.group_decision",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="decision",
            target_id=result.decision_id or "",
            detail={
                "decision": decision,
                "groups": covered,
                "approved": result.approved,
                "rejected": result.rejected,
                "contacts_created": result.contacts_created,
            },
        )
    if decision == "approve":
        result.rematched = rematch(directory, now, RematchScope(set(), result.affected_addresses))
    return result, covered


def _clean_groups(groups: object) -> list[dict]:
    """Each group as {"by", "key", "people", "ids"}; ValidationError naming `groups` otherwise."""
    if not isinstance(groups, list) or not groups:
        raise ValidationError("groups must be a non-empty list of groups", field="groups")
    if len(groups) > MAX_GROUPS:
        raise ValidationError(f"at most {MAX_GROUPS} groups at once", field="groups")
    cleaned = []
    for group in groups:
        if not isinstance(group, dict):
            raise ValidationError('each group is {"by", "key", "people", "member_ids"}', field="groups")
        unknown = sorted(set(group) - {"by", "key", "people", "member_ids", "version"})
        if unknown:
            raise ValidationError(f"unknown group field {unknown[0]!r}", field="groups")
        member_ids = group.get("member_ids")
        if not isinstance(member_ids, list) or not all(is_row_id(i) for i in member_ids):
            raise ValidationError("member_ids must list the proposal ids the preview showed", field="groups")
        cleaned.append(
            {"by": group.get("by"), "key": group.get("key"), "people": group.get("people"), "ids": set(member_ids)}
        )
    return cleaned


def _stamp(proposal_ids: list[int]) -> str | None:
    """Name the action that decided these proposals, so it can be undone as one."""
    if not proposal_ids:
        return None
    decision_id = uuid.uuid4().hex
    ActivityProposal.update(decision_id=decision_id).where(ActivityProposal.id.in_(proposal_ids)).execute()
    return decision_id


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


@dataclass
class Undone:
    undone: list[int] = field(default_factory=list)
    activities_withdrawn: list[int] = field(default_factory=list)
    rematched: dict[str, int] = field(default_factory=empty_stats)

    def as_dict(self) -> dict:
        return {"undone": self.undone, "activities_withdrawn": self.activities_withdrawn}


def undo(
    proposal_id: object,
    actor: User,
    now: datetime,
    *,
    directory: DirectoryLoader,
    whole_action: bool = False,
    actor_label: str = "",
) -> Undone:
    """Send a decided proposal back to pending; an approval's activity is withdrawn from the
    contact's record. With `whole_action`, every proposal decided in the same action (one bulk
    decision) goes back together. The decisions and their
    reversal all stay in the audit log. The emails are then rematched, so a proposal the rules
    no longer make (its investor went to the graveyard meanwhile) does not come back."""
    if not isinstance(whole_action, bool):
        raise ValidationError("whole_action must be true or false", field="whole_action")
    (proposal_id,) = _clean_ids([proposal_id])
    result = Undone()
    with database.atomic():
        proposal = ActivityProposal.get_or_none(ActivityProposal.id == proposal_id)
        if proposal is None:
            raise ProposalNotFound(f"no proposal {proposal_id}", field="proposal_id")
        if proposal.status == "pending":
            raise ProposalConflict(
                f"proposal {proposal_id} is pending: there is no decision to undo", field="proposal_id"
            )
        group = [proposal]
        if whole_action and proposal.decision_id:
            group = list(
                ActivityProposal.select()
                .where((ActivityProposal.decision_id == proposal.decision_id) & (ActivityProposal.status != "pending"))
                .order_by(ActivityProposal.id)
            )
        for decided in group:
            activity = Activity.get_or_none(Activity.proposal == decided.id)
            withdrawn = None
            if activity is not None:
                withdrawn = {
                    "id": activity.id,
                    "contact_id": activity.contact_id,
                    "investor_id": activity.investor_id,
                    "occurred_at": activity.occurred_at.isoformat(),
                    "summary": activity.summary,
                    "note": activity.note,
                }
                activity.delete_instance()
                result.activities_withdrawn.append(activity.id)
            changed = (
                ActivityProposal.update(status="pending", decided_by=None, decided_at=None, decision_id=None)
                .where((ActivityProposal.id == decided.id) & (ActivityProposal.status == decided.status))
                .execute()
            )
            if changed != 1:
                raise ProposalConflict(f"proposal {decided.id} changed meanwhile; try again", field="proposal_id")
            audit.record(
                "proposal.undo",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="proposal",
                target_id=decided.id,
                detail={
                    "previous_status": decided.status,
                    "decided_by": decided.decided_by_id,
                    "decided_at": decided.decided_at.isoformat() if decided.decided_at else None,
                    "activity_withdrawn": withdrawn,
                    "decision_id": decided.decision_id,
                },
            )
            result.undone.append(decided.id)
        emails = {p.email_id for p in group}
    result.rematched = relink(directory(), emails, now)
    return result
