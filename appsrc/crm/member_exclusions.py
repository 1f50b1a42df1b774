"""A team member's own exclusions: addresses and domains never captured from their mailbox.

A teammate (admin or not) keeps their spouse or their doctor out of the fund's store. Capture
drops such mail from their mailbox before storing anything (`matching.scope.CapturePolicy`);
adding one also removes what their mailbox already gave: its sightings go (each recorded as a
skipped message, so a later sync does not fetch it again), an email no other mailbox holds is
deleted with its content, and so are bare sightings. The same email in a colleague's mailbox is
the colleague's and stays. The audit log records that an exclusion was added, and the counts,
never the value: only its owner sees it.

The fund's own domains, its investors' domains and its contacts cannot be excluded this way:
investor mail is the fund's record, and an admin decides about it (the fund-wide exclusions).
Removing an exclusion applies to mail arriving from then on; a full resync fetches the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from peewee import chunked, fn

from appsrc.crm import audit
from appsrc.crm.exclusions import parse_value
from appsrc.crm.validation import ValidationError
from appsrc.matching.matcher import Directory
from appsrc.store import bare
from appsrc.store.capture import emails_involving, uncount_sightings
from appsrc.store.db import database
from appsrc.store.models import (
    BareSighting,
    Email,
    EmailAccount,
    EmailAccountMessage,
    MemberExclusion,
    SkippedMessage,
    User,
)

MAX_PER_MEMBER = 500


def skip_detail(exclusion_id: int) -> str:
    """The skip record's detail: names the exclusion's row, never its value."""
    return f"kept out by the mailbox's owner (#{exclusion_id})"


def list_for(user: User) -> list[dict]:
    rows = (
        MemberExclusion.select()
        .where(MemberExclusion.user == user.id)
        .order_by(MemberExclusion.kind, MemberExclusion.value)
    )
    return [{"id": r.id, "value": r.value, "kind": r.kind, "created_at": r.created_at} for r in rows]


def add(user: User, raw: str, now: datetime, *, directory: Callable[[], Directory]) -> tuple[MemberExclusion, dict]:
    """Add an exclusion to `user`'s mailboxes and remove what they already captured of it."""
    kind, value = parse_value(raw)
    _refuse_the_funds_own(kind, value, directory())
    with database.atomic():
        mine = MemberExclusion.user == user.id
        if MemberExclusion.select().where(mine & (MemberExclusion.value == value)).exists():
            raise ValidationError(f"{value} is already excluded", field="value")
        if MemberExclusion.select().where(mine).count() >= MAX_PER_MEMBER:
            raise ValidationError(f"at most {MAX_PER_MEMBER} exclusions per person", field="value")
        exclusion = MemberExclusion.create(user=user.id, value=value, kind=kind, created_at=now)
        counts = _purge(user, exclusion, now)
        audit.record(
            "member_exclusion.add",
            now,
            actor=user,
            target_type="user",
            target_id=user.id,
            detail={"kind": kind, **counts},
        )
    return exclusion, counts


def remove(user: User, exclusion_id: object, now: datetime) -> None:
    with database.atomic():
        exclusion = MemberExclusion.get_or_none(
            (MemberExclusion.id == exclusion_id) & (MemberExclusion.user == user.id)
        )
        if exclusion is None:
            raise ValidationError("no such exclusion", field="id")
        dropped = (
            SkippedMessage.delete()
            .where(
                SkippedMessage.account.in_(_accounts_of(user))
                & (SkippedMessage.reason == "excluded")
                & (SkippedMessage.detail == skip_detail(exclusion.id))
            )
            .execute()
        )
        exclusion.delete_instance()
        audit.record(
            "member_exclusion.remove",
            now,
            actor=user,
            target_type="user",
            target_id=user.id,
            detail={"kind": exclusion.kind, "skip_records_dropped": dropped},
        )


def _refuse_the_funds_own(kind: str, value: str, directory: Directory) -> None:
    if kind == "domain":
        if directory.is_own_domain(value):
            raise ValidationError(f"{value} is one of the fund's own domains", field="value")
        if directory.investor_for_domain(value) is not None:
            raise ValidationError(
                f"{value} is an investor's domain: investor mail is the fund's record; ask an admin", field="value"
            )
        return
    if directory.is_own(value):
        raise ValidationError(f"{value} is a colleague's address at the fund", field="value")
    _excluded, _own, investor_id, _contact = directory.classify(value)
    if investor_id is not None:
        raise ValidationError(
            f"{value} is an investor's contact: investor mail is the fund's record; ask an admin", field="value"
        )


def _accounts_of(user: User) -> list[int]:
    return [i for (i,) in EmailAccount.select(EmailAccount.id).where(EmailAccount.user == user.id).tuples()]


def _purge(user: User, exclusion: MemberExclusion, now: datetime) -> dict[str, int]:
    accounts = _accounts_of(user)
    counts = {"sightings_removed": 0, "emails_deleted": 0, "bare_removed": 0}
    if not accounts:
        return counts
    by_address = [exclusion.value] if exclusion.kind == "address" else []
    by_domain = [exclusion.value] if exclusion.kind == "domain" else []
    detail = skip_detail(exclusion.id)
    skipped: list[tuple[int, str]] = []
    for chunk in chunked(sorted(emails_involving(addresses=by_address, domains=by_domain)), 500):
        mine = EmailAccountMessage.email.in_(chunk) & EmailAccountMessage.account.in_(accounts)
        held = EmailAccountMessage.select(EmailAccountMessage.account, EmailAccountMessage.gmail_id).where(mine)
        skipped.extend(held.tuples())
        counts["sightings_removed"] += EmailAccountMessage.delete().where(mine).execute()
        counts["emails_deleted"] += (
            Email.delete()
            .where(
                Email.id.in_(chunk)
                & ~fn.EXISTS(EmailAccountMessage.select(1).where(EmailAccountMessage.email == Email.id))
            )
            .execute()
        )
    uncount_sightings((account_id for account_id, _ in skipped), stored=True, skipped=True)
    skipped_bare: list[tuple[int, str]] = []
    for chunk in chunked(sorted(bare.bare_involving(addresses=by_address, domains=by_domain)), 500):
        mine_bare = BareSighting.id.in_(chunk) & BareSighting.account.in_(accounts)
        skipped_bare.extend(BareSighting.select(BareSighting.account, BareSighting.gmail_id).where(mine_bare).tuples())
        counts["bare_removed"] += BareSighting.delete().where(mine_bare).execute()
    uncount_sightings((account_id for account_id, _ in skipped_bare), stored=False, skipped=True)
    skipped += skipped_bare
    if skipped:
        for rows in chunked(skipped, 500):
            SkippedMessage.insert_many(
                [
                    {
                        "account": account_id,
                        "gmail_id": gmail_id,
                        "reason": "excluded",
                        "detail": detail,
                        "seen_generation": 0,
                        "created_at": now,
                    }
                    for account_id, gmail_id in rows
                ]
            ).on_conflict_ignore().execute()
    return counts
