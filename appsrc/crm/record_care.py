"""Keeping the CRM's records tidy: merge investors or contacts, move a contact to another firm,
delete and restore investors and contacts, and purge what stayed deleted past the grace period.

Every operation is admin-only, all or nothing, audited with what it changed, and never loses
captured mail: emails are evidence and only their links, proposals and activities move.
- A merge moves everything of the duplicates to the survivor; a merged record stays, deleted,
  as a pointer (`merged_into`), so an old link answers with the survivor.
- A move (a contact changed firms) keeps mail sent before the move date with the firm they
  left: the matcher reads the move (`matching.matcher.Directory.contact_moves`).
- A delete is soft: the record is hidden everywhere, its mail keeps its content but loses its
  links and pending proposals. It can be restored for `RESTORE_DAYS`; after that the worker
  purges it, leaving only an audit stub (its id and name).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from peewee import fn

from appsrc.crm import audit
from appsrc.crm.activities import parse_when
from appsrc.crm.investors import remove_contact, scope_of_investor
from appsrc.crm.rematch import DirectoryLoader, RematchScope, rematch
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.matching.scope import INVESTORS
from appsrc.store import bare
from appsrc.store.capture import emails_involving
from appsrc.store.db import database
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    Contact,
    ContactEmail,
    ContactMove,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
    User,
)
from appsrc.store.queries import is_row_id

RESTORE_DAYS = 30
MAX_MERGE = 50


class RecordNotFound(ValidationError):
    """No live record has this id (the API answers 404)."""


# -- lookups -----------------------------------------------------------------------------------
def _live_investor(investor_id: object, field: str) -> Investor:
    investor = Investor.get_or_none(Investor.id == investor_id) if is_row_id(investor_id) else None
    if investor is None or investor.deleted_at is not None:
        raise RecordNotFound(f"no investor {investor_id}", field=field)
    return investor


def _live_contact(contact_id: object, field: str) -> Contact:
    contact = Contact.get_or_none(Contact.id == contact_id) if is_row_id(contact_id) else None
    if contact is None or contact.deleted_at is not None:
        raise RecordNotFound(f"no contact {contact_id}", field=field)
    if Investor.get_by_id(contact.investor_id).deleted_at is not None:
        raise RecordNotFound(f"no contact {contact_id} (its investor is deleted)", field=field)
    return contact


def _follow(model, record_id: int) -> int | None:
    """The live record a merged one points to (following chains of merges), else None."""
    seen = set()
    current = model.get_or_none(model.id == record_id) if is_row_id(record_id) else None
    while current is not None and current.merged_into_id is not None and current.id not in seen:
        seen.add(current.id)
        current = model.get_or_none(model.id == current.merged_into_id)
    if current is None or current.deleted_at is not None or not seen:
        return None
    return current.id


def investor_merged_into(investor_id: int) -> int | None:
    return _follow(Investor, investor_id)


def contact_merged_into(contact_id: int) -> int | None:
    return _follow(Contact, contact_id)


def _clean_from(raw: object, survivor_id: int, noun: str) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError(f"from must be a non-empty list of {noun} ids", field="from")
    ids = list(dict.fromkeys(parse_id(value, field="from") for value in raw))
    if len(ids) > MAX_MERGE:
        raise ValidationError(f"at most {MAX_MERGE} {noun}s at once", field="from")
    if survivor_id in ids:
        raise ValidationError(f"a {noun} cannot be merged into itself", field="from")
    return ids


def _check_dry_run(dry_run: object) -> bool:
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be true or false", field="dry_run")
    return dry_run


def _addresses_of(contact_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in contact_ids}
    for contact_id, address in (
        ContactEmail.select(ContactEmail.contact, ContactEmail.address)
        .where(ContactEmail.contact.in_(contact_ids))
        .order_by(ContactEmail.address)
        .tuples()
    ):
        found[contact_id].append(address)
    return found


def _counts_by(model, column, value) -> int:
    return model.select(fn.COUNT(model.id)).where(column == value).scalar() or 0


# -- merge investors ----------------------------------------------------------------------------
def merge_investors(
    survivor_id: object,
    from_ids: object,
    now: datetime,
    *,
    directory: DirectoryLoader,
    dry_run: object = False,
    actor: User | None = None,
    actor_label: str = "",
) -> dict:
    """Merge the investors `from_ids` into the survivor: their domains, contacts, email links,
    proposals and activities move; each becomes a pointer. `dry_run` previews what would move
    and the conflicts, changing nothing."""
    dry_run = _check_dry_run(dry_run)
    survivor = _live_investor(survivor_id, "investor_id")
    ids = _clean_from(from_ids, survivor.id, "investor")
    with database.atomic():
        duplicates = []
        for investor_id in ids:
            investor = Investor.get_or_none(Investor.id == investor_id)
            if investor is None or investor.deleted_at is not None:
                raise ValidationError(f"investor {investor_id} does not exist or is deleted", field="from")
            duplicates.append(investor)
        preview = _investor_preview(survivor, duplicates)
        if dry_run:
            return {**preview, "dry_run": True}
        scope = scope_of_investor(survivor)
        for duplicate in duplicates:
            scope.update(scope_of_investor(duplicate))
            _move_investor(duplicate, survivor, now)
        survivor.updated_at = now
        survivor.save()
        audit.record(
            "investor.merge",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="investor",
            target_id=survivor.id,
            detail={"survivor": {"id": survivor.id, "name": survivor.name}, "merged": preview["from"]},
        )
    return {**preview, "dry_run": False, "rematched": rematch(directory, now, scope)}


def _investor_preview(survivor: Investor, duplicates: list[Investor]) -> dict:
    everyone = [survivor, *duplicates]
    contacts = {
        i.id: list(Contact.select().where((Contact.investor == i.id) & Contact.deleted_at.is_null())) for i in everyone
    }
    addresses = _addresses_of([c.id for group in contacts.values() for c in group])
    conflicts = []
    names: dict[str, list[str]] = {}
    for investor in everyone:
        for contact in contacts[investor.id]:
            names.setdefault(contact.name.casefold(), []).append(f"{contact.name} ({investor.name})")
    for same in names.values():
        if len(same) > 1:
            conflicts.append(
                {
                    "kind": "same_contact_name",
                    "message": f"{' and '.join(same)} may be one person: both are kept; merge the contacts after",
                }
            )
    survivor_links = EmailInvestorLink.select(EmailInvestorLink.email).where(EmailInvestorLink.investor == survivor.id)
    moving = []
    for duplicate in duplicates:
        if duplicate.graveyard != survivor.graveyard:
            state = "in the graveyard" if survivor.graveyard else "active"
            conflicts.append(
                {
                    "kind": "graveyard",
                    "message": f"{duplicate.name} is {'in the graveyard' if duplicate.graveyard else 'active'} and "
                    f"{survivor.name} is {state}: the merged investor stays {state}",
                }
            )
        shared = (
            EmailInvestorLink.select(fn.COUNT(EmailInvestorLink.id))
            .where((EmailInvestorLink.investor == duplicate.id) & EmailInvestorLink.email.in_(survivor_links))
            .scalar()
        )
        if shared:
            conflicts.append(
                {
                    "kind": "emails_linked_to_both",
                    "message": f"{shared} email(s) are linked to both {duplicate.name} and {survivor.name}: "
                    "they keep one link",
                }
            )
        moving.append(
            {
                "id": duplicate.id,
                "name": duplicate.name,
                "graveyard": duplicate.graveyard,
                "domains": sorted(d.domain for d in duplicate.domain_rows),
                "contacts": [
                    {"id": c.id, "name": c.name, "addresses": addresses[c.id]} for c in contacts[duplicate.id]
                ],
                "emails_linked": _counts_by(EmailInvestorLink, EmailInvestorLink.investor, duplicate.id),
                "pending_proposals": ActivityProposal.select()
                .where((ActivityProposal.investor == duplicate.id) & (ActivityProposal.status == "pending"))
                .count(),
                "decided_proposals": ActivityProposal.select()
                .where((ActivityProposal.investor == duplicate.id) & (ActivityProposal.status != "pending"))
                .count(),
                "activities": _counts_by(Activity, Activity.investor, duplicate.id),
            }
        )
    return {"survivor": {"id": survivor.id, "name": survivor.name}, "from": moving, "conflicts": conflicts}


def _move_investor(duplicate: Investor, survivor: Investor, now: datetime) -> None:
    InvestorDomain.update(investor=survivor.id).where(InvestorDomain.investor == duplicate.id).execute()
    Contact.update(investor=survivor.id, updated_at=now).where(Contact.investor == duplicate.id).execute()
    already = EmailInvestorLink.select(EmailInvestorLink.email).where(EmailInvestorLink.investor == survivor.id)
    EmailInvestorLink.delete().where(
        (EmailInvestorLink.investor == duplicate.id) & EmailInvestorLink.email.in_(already)
    ).execute()
    EmailInvestorLink.update(investor=survivor.id).where(EmailInvestorLink.investor == duplicate.id).execute()
    ActivityProposal.update(investor=survivor.id).where(ActivityProposal.investor == duplicate.id).execute()
    Activity.update(investor=survivor.id).where(Activity.investor == duplicate.id).execute()
    ContactMove.update(from_investor=survivor.id).where(ContactMove.from_investor == duplicate.id).execute()
    ContactMove.update(to_investor=survivor.id).where(ContactMove.to_investor == duplicate.id).execute()
    if duplicate.notes.strip():
        survivor.notes = (survivor.notes.rstrip() + f"\n\nFrom {duplicate.name}:\n" + duplicate.notes.strip())[:5000]
    Investor.update(
        deleted_at=now, merged_into=survivor.id, name=_retired_name(duplicate.name, duplicate.id), updated_at=now
    ).where(Investor.id == duplicate.id).execute()


def _retired_name(name: str, record_id: int) -> str:
    """A merged investor's name frees the original (names are unique) and says what happened."""
    return f"{name[:200]} [merged #{record_id}]"


# -- merge and move contacts --------------------------------------------------------------------
def merge_contacts(
    survivor_id: object,
    from_ids: object,
    now: datetime,
    *,
    directory: DirectoryLoader,
    dry_run: object = False,
    actor: User | None = None,
    actor_label: str = "",
) -> dict:
    """Merge contacts that are one person into the survivor: addresses, email links, proposals
    and activities move (an activity keeps the investor it was recorded under)."""
    dry_run = _check_dry_run(dry_run)
    survivor = _live_contact(survivor_id, "contact_id")
    ids = _clean_from(from_ids, survivor.id, "contact")
    with database.atomic():
        duplicates = []
        for contact_id in ids:
            try:
                duplicates.append(_live_contact(contact_id, "from"))
            except RecordNotFound:
                raise ValidationError(f"contact {contact_id} does not exist or is deleted", field="from") from None
        preview = _contact_preview(survivor, duplicates)
        if dry_run:
            return {**preview, "dry_run": True}
        addresses = {a for group in _addresses_of([c.id for c in [survivor, *duplicates]]).values() for a in group}
        for duplicate in duplicates:
            _move_contact_records(duplicate, survivor, now)
        audit.record(
            "contact.merge",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="contact",
            target_id=survivor.id,
            detail={"survivor": {"id": survivor.id, "name": survivor.name}, "merged": preview["from"]},
        )
    return {**preview, "dry_run": False, "rematched": rematch(directory, now, RematchScope(set(), addresses))}


def _contact_preview(survivor: Contact, duplicates: list[Contact]) -> dict:
    addresses = _addresses_of([c.id for c in [survivor, *duplicates]])
    investor_names = dict(Investor.select(Investor.id, Investor.name).tuples())
    survivor_emails = ActivityProposal.select(ActivityProposal.email).where(
        ActivityProposal.target_key == f"contact:{survivor.id}"
    )
    conflicts, moving = [], []
    for duplicate in duplicates:
        if duplicate.investor_id != survivor.investor_id:
            conflicts.append(
                {
                    "kind": "different_investor",
                    "message": f"{duplicate.name} is at {investor_names[duplicate.investor_id]}, "
                    f"{survivor.name} at {investor_names[survivor.investor_id]}: approved activities keep "
                    "the investor they were recorded under; new mail goes to "
                    f"{investor_names[survivor.investor_id]} (to keep a firm change dated, move the contact instead)",
                }
            )
        both = (
            ActivityProposal.select()
            .where(
                (ActivityProposal.target_key == f"contact:{duplicate.id}") & ActivityProposal.email.in_(survivor_emails)
            )
            .count()
        )
        if both:
            conflicts.append(
                {
                    "kind": "emails_proposed_for_both",
                    "message": f"{both} email(s) are proposed for both: a decided proposal is kept over a pending one",
                }
            )
        moving.append(
            {
                "id": duplicate.id,
                "name": duplicate.name,
                "investor_id": duplicate.investor_id,
                "investor_name": investor_names[duplicate.investor_id],
                "addresses": addresses[duplicate.id],
                "activities": _counts_by(Activity, Activity.contact, duplicate.id),
                "pending_proposals": ActivityProposal.select()
                .where(
                    (ActivityProposal.target_key == f"contact:{duplicate.id}") & (ActivityProposal.status == "pending")
                )
                .count(),
            }
        )
    return {
        "survivor": {"id": survivor.id, "name": survivor.name, "addresses": addresses[survivor.id]},
        "from": moving,
        "conflicts": conflicts,
    }


def _move_contact_records(duplicate: Contact, survivor: Contact, now: datetime) -> None:
    ContactEmail.update(contact=survivor.id).where(ContactEmail.contact == duplicate.id).execute()
    Activity.update(contact=survivor.id).where(Activity.contact == duplicate.id).execute()
    EmailInvestorLink.update(contact=survivor.id).where(EmailInvestorLink.contact == duplicate.id).execute()
    ContactMove.update(contact=survivor.id).where(ContactMove.contact == duplicate.id).execute()
    old_key, new_key = f"contact:{duplicate.id}", f"contact:{survivor.id}"
    for proposal in ActivityProposal.select().where(ActivityProposal.target_key == old_key):
        twin = ActivityProposal.get_or_none(
            (ActivityProposal.email == proposal.email_id) & (ActivityProposal.target_key == new_key)
        )
        if twin is not None:
            if proposal.status == "pending":
                proposal.delete_instance()
                continue
            if twin.status != "pending":
                continue  # both decided: each stays the history it is
            twin.delete_instance()
        ActivityProposal.update(contact=survivor.id, target_key=new_key).where(
            ActivityProposal.id == proposal.id
        ).execute()
    Contact.update(deleted_at=now, merged_into=survivor.id, updated_at=now).where(Contact.id == duplicate.id).execute()


def move_contact(
    contact_id: object,
    investor_id: object,
    since: object,
    now: datetime,
    *,
    directory: DirectoryLoader,
    actor: User | None = None,
    actor_label: str = "",
) -> dict:
    """The contact joined another investor on `since`: mail and activities from then on go to
    the new investor; what came before stays with the one they left."""
    with database.atomic():
        contact = _live_contact(contact_id, "contact_id")
        target = _live_investor(parse_id(investor_id, field="investor_id"), "investor_id")
        if target.id == contact.investor_id:
            raise ValidationError(f"{contact.name} is already at {target.name}", field="investor_id")
        when = parse_when(since, now, field="since") if since is not None else now
        if when > now:
            raise ValidationError("since cannot be in the future", field="since")
        last = ContactMove.select(fn.MAX(ContactMove.since)).where(ContactMove.contact == contact.id).scalar()
        if last is not None and when <= last:
            raise ValidationError(f"since must be after the contact's last move ({last.date()})", field="since")
        previous = contact.investor_id
        ContactMove.create(
            contact=contact.id,
            from_investor=previous,
            to_investor=target.id,
            since=when,
            created_by=actor,
            created_at=now,
        )
        Contact.update(investor=target.id, updated_at=now).where(Contact.id == contact.id).execute()
        moved = (
            Activity.update(investor=target.id)
            .where((Activity.contact == contact.id) & (Activity.occurred_at >= when))
            .execute()
        )
        addresses = set(_addresses_of([contact.id])[contact.id])
        audit.record(
            "contact.move",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="contact",
            target_id=contact.id,
            detail={
                "from_investor_id": previous,
                "to_investor_id": target.id,
                "since": when.isoformat(),
                "activities_moved": moved,
            },
        )
    stats = rematch(directory, now, RematchScope(set(), addresses))
    return {
        "id": contact.id,
        "from_investor_id": previous,
        "to_investor_id": target.id,
        "since": when.isoformat(),
        "activities_moved": moved,
        "rematched": stats,
    }


# -- delete, restore, purge ------------------------------------------------------------------------
def delete_investor(investor_id: object, now: datetime, *, actor: User | None = None, actor_label: str = "") -> dict:
    """Hide the investor everywhere: its mail keeps its content, loses its links and pending
    proposals; decided proposals and activities stay for a restore."""
    with database.atomic():
        investor = _live_investor(investor_id, "investor_id")
        counts = {
            "links_removed": EmailInvestorLink.delete().where(EmailInvestorLink.investor == investor.id).execute(),
            "pending_proposals_removed": ActivityProposal.delete()
            .where((ActivityProposal.investor == investor.id) & (ActivityProposal.status == "pending"))
            .execute(),
        }
        Investor.update(deleted_at=now, updated_at=now).where(Investor.id == investor.id).execute()
        audit.record(
            "investor.delete",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="investor",
            target_id=investor.id,
            detail={"name": investor.name, "domains": sorted(d.domain for d in investor.domain_rows), **counts},
        )
    return {"id": investor.id, "restorable_until": (now + timedelta(days=RESTORE_DAYS)).isoformat(), **counts}


def _restorable(model, record_id: object, now: datetime, noun: str, field: str):
    """The deleted record with this id, if it may still be restored."""
    record = model.get_or_none(model.id == record_id) if is_row_id(record_id) else None
    if record is None:
        raise RecordNotFound(f"no {noun} to restore", field=field)
    if record.deleted_at is None:
        raise ValidationError(f"{noun} {record.id} is not deleted", field=field)
    if record.merged_into_id is not None:
        raise ValidationError(f"{noun} {record.id} was merged into {record.merged_into_id}", field=field)
    if record.deleted_at < now - timedelta(days=RESTORE_DAYS):
        raise ValidationError(f"{noun} {record.id} was deleted more than {RESTORE_DAYS} days ago", field=field)
    return record


def restore_investor(
    investor_id: object, now: datetime, *, directory: DirectoryLoader, actor: User | None = None, actor_label: str = ""
) -> dict:
    with database.atomic():
        investor = _restorable(Investor, investor_id, now, "investor", "investor_id")
        Investor.update(deleted_at=None, updated_at=now).where(Investor.id == investor.id).execute()
        audit.record(
            "investor.restore",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="investor",
            target_id=investor.id,
            detail={"name": investor.name},
        )
    return {"id": investor.id, "rematched": rematch(directory, now, scope_of_investor(investor))}


def delete_contact(
    contact_id: object, now: datetime, *, directory: DirectoryLoader, actor: User | None = None, actor_label: str = ""
) -> dict:
    contact = _live_contact(contact_id, "contact_id")
    stats = remove_contact(contact.id, now, directory=directory, actor=actor, actor_label=actor_label)
    return {"id": contact.id, "restorable_until": (now + timedelta(days=RESTORE_DAYS)).isoformat(), "rematched": stats}


def restore_contact(
    contact_id: object, now: datetime, *, directory: DirectoryLoader, actor: User | None = None, actor_label: str = ""
) -> dict:
    with database.atomic():
        contact = _restorable(Contact, contact_id, now, "contact", "contact_id")
        if Investor.get_by_id(contact.investor_id).deleted_at is not None:
            raise ValidationError("its investor is deleted: restore the investor first", field="contact_id")
        addresses = _addresses_of([contact.id])[contact.id]
        if not addresses:
            raise ValidationError("its addresses now belong to another contact", field="contact_id")
        Contact.update(deleted_at=None, updated_at=now).where(Contact.id == contact.id).execute()
        audit.record(
            "contact.restore",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="contact",
            target_id=contact.id,
            detail={"name": contact.name},
        )
    return {"id": contact.id, "rematched": rematch(directory, now, RematchScope(set(), set(addresses)))}


def deleted_records(now: datetime) -> dict:
    """What can still be restored, and until when (merged records are pointers, not listed)."""
    cutoff = now - timedelta(days=RESTORE_DAYS)

    def listed(model, extra: Callable[[Any], dict]) -> list[dict]:
        rows = (
            model.select()
            .where(model.deleted_at.is_null(False) & model.merged_into.is_null() & (model.deleted_at >= cutoff))
            .order_by(model.deleted_at.desc())
        )
        return [
            {
                "id": r.id,
                "name": r.name,
                "deleted_at": r.deleted_at.isoformat(),
                "restorable_until": (r.deleted_at + timedelta(days=RESTORE_DAYS)).isoformat(),
                **extra(r),
            }
            for r in rows
        ]

    contacts = listed(Contact, lambda r: {"investor_id": r.investor_id})
    with_addresses = {c for c, addresses in _addresses_of([c["id"] for c in contacts]).items() if addresses}
    return {
        "investors": listed(Investor, lambda r: {}),
        # A contact erased on a person's request has no address left: nothing to restore.
        "contacts": [c for c in contacts if c["id"] in with_addresses],
    }


def purge_expired(now: datetime) -> dict[str, int]:
    """Delete for good what stayed deleted past the grace period (a worker step). An audit stub
    with the id and name stays; mail keeps its content unless the capture scope says it is no
    longer investor mail, then it is reduced to bare sightings like any other."""
    cutoff = now - timedelta(days=RESTORE_DAYS)
    purged = {"investors": 0, "contacts": 0, "emails_reduced": 0}
    expired = Contact.deleted_at.is_null(False) & Contact.merged_into.is_null() & (Contact.deleted_at < cutoff)
    for contact in Contact.select().where(expired):
        with database.atomic():
            ActivityProposal.delete().where(
                (ActivityProposal.target_key == f"contact:{contact.id}") & (ActivityProposal.status == "pending")
            ).execute()
            contact.delete_instance()
            audit.record(
                "contact.purge",
                now,
                actor_label="worker",
                target_type="contact",
                target_id=contact.id,
                detail={"name": contact.name},
            )
        purged["contacts"] += 1
    expired = Investor.deleted_at.is_null(False) & Investor.merged_into.is_null() & (Investor.deleted_at < cutoff)
    for investor in Investor.select().where(expired):
        scope = scope_of_investor(investor)
        with database.atomic():
            investor.delete_instance()  # cascades: domains, contacts, links, proposals, activities
            audit.record(
                "investor.purge",
                now,
                actor_label="worker",
                target_type="investor",
                target_id=investor.id,
                detail={"name": investor.name},
            )
        purged["investors"] += 1
        if bare.capture_scope() == INVESTORS:
            involved = emails_involving(addresses=scope.addresses, domains=scope.domains)
            purged["emails_reduced"] += bare.reduce_out_of_scope(now, involved)
    return purged
