"""The exclusion list: addresses and domains whose mail the appliance never keeps (privacy).

Capture already drops excluded mail before storing it. Adding an exclusion also **purges** what
was captured before it existed: every email with a participant at the address (compared like
the matcher, by match key) or at the domain (and its subdomains) is deleted with its
sightings, participants, investor links, proposals and drafts, and the full-text index follows
(triggers). Each purged sighting is recorded as a skipped message with reason `excluded`, so the
mailbox counters still add up and a later sync does not fetch it again. Approved activities are
the CRM record an admin made and stay, without their email.

Removing an exclusion applies to mail captured from then on; the purged messages' skip records
are dropped, so the next full resync (`python -m appsrc sync --full`) fetches them again.
"""

from __future__ import annotations

from datetime import datetime

from peewee import JOIN, chunked

from appsrc.crm import audit
from appsrc.crm.validation import ValidationError, clean_address, clean_domain
from appsrc.store.bare import bare_involving
from appsrc.store.capture import emails_involving, uncount_sightings
from appsrc.store.db import database
from appsrc.store.models import (
    BareSighting,
    Email,
    EmailAccountMessage,
    Exclusion,
    SkippedMessage,
    User,
)

PURGE_DETAIL = "purged: matches exclusion "


def parse_value(raw: str) -> tuple[str, str]:
    """("address", addr) or ("domain", domain) from what an admin typed."""
    value = (raw or "").strip().lower()
    if not value:
        raise ValidationError("enter an address or a domain", field="value")
    if "@" in value.lstrip("@"):
        return "address", clean_address(value, field="value")
    return "domain", clean_domain(value, field="value")


def add_exclusion(
    raw: str,
    now: datetime,
    *,
    reason: str = "",
    actor: User | None = None,
    actor_label: str = "",
    own_domains=frozenset(),
) -> tuple[Exclusion, int]:
    """Add an exclusion and purge the mail it covers; returns it and how many emails went."""
    kind, value = parse_value(raw)
    if kind == "domain" and value in own_domains:
        raise ValidationError(
            f"{value} is one of the fund's own domains: excluding it would drop all mail", field="value"
        )
    with database.atomic():
        if Exclusion.select().where(Exclusion.value == value).exists():
            raise ValidationError(f"{value} is already excluded", field="value")
        exclusion = Exclusion.create(
            value=value, kind=kind, reason=(reason or "").strip()[:500], created_by=actor, created_at=now
        )
        purged = _purge(kind, value, now)
        audit.record(
            "exclusion.add",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="exclusion",
            target_id=exclusion.id,
            detail={"value": value, "kind": kind, "emails_purged": purged},
        )
    return exclusion, purged


def remove_exclusion(exclusion_id: int, now: datetime, *, actor: User | None = None, actor_label: str = "") -> str:
    with database.atomic():
        exclusion = Exclusion.get_or_none(Exclusion.id == exclusion_id)
        if exclusion is None:
            raise ValidationError("no such exclusion", field="id")
        value = exclusion.value
        exclusion.delete_instance()
        forgotten = (
            SkippedMessage.delete()
            .where((SkippedMessage.reason == "excluded") & (SkippedMessage.detail == PURGE_DETAIL + value))
            .execute()
        )
        audit.record(
            "exclusion.remove",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="exclusion",
            target_id=exclusion_id,
            detail={"value": value, "skip_records_dropped": forgotten},
        )
    return value


def _purge(kind: str, value: str, now: datetime) -> int:
    ids = emails_involving(addresses=[value] if kind == "address" else [], domains=[value] if kind == "domain" else [])
    purged = 0
    for chunk in chunked(sorted(ids), 500):
        sightings = list(
            EmailAccountMessage.select(
                EmailAccountMessage.account, EmailAccountMessage.gmail_id, EmailAccountMessage.deleted_at
            )
            .where(EmailAccountMessage.email.in_(chunk))
            .tuples()
        )
        if sightings:
            SkippedMessage.insert_many(
                [
                    {
                        "account": account_id,
                        "gmail_id": gmail_id,
                        "reason": "excluded",
                        "detail": PURGE_DETAIL + value,
                        "seen_generation": 0,
                        "created_at": now,
                    }
                    for account_id, gmail_id, _deleted in sightings
                ]
            ).on_conflict_ignore().execute()
            uncount_sightings((account_id for account_id, _, _ in sightings), stored=True, skipped=True)
        # ON DELETE CASCADE removes sightings, participants, links, proposals and drafts;
        # approved activities keep their record with email = NULL.
        purged += Email.delete().where(Email.id.in_(chunk)).execute()
    _purge_bare(kind, value, now)
    return purged


def _purge_bare(kind: str, value: str, now: datetime) -> None:
    """Bare sightings (who and when of mail outside the capture scope) go the same way."""
    ids = bare_involving(addresses=[value] if kind == "address" else [], domains=[value] if kind == "domain" else [])
    for chunk in chunked(sorted(ids), 500):
        rows = list(
            BareSighting.select(BareSighting.account, BareSighting.gmail_id).where(BareSighting.id.in_(chunk)).tuples()
        )
        SkippedMessage.insert_many(
            [
                {
                    "account": account_id,
                    "gmail_id": gmail_id,
                    "reason": "excluded",
                    "detail": PURGE_DETAIL + value,
                    "seen_generation": 0,
                    "created_at": now,
                }
                for account_id, gmail_id in rows
            ]
        ).on_conflict_ignore().execute()
        uncount_sightings((account_id for account_id, _ in rows), stored=False, skipped=True)
        BareSighting.delete().where(BareSighting.id.in_(chunk)).execute()


def list_exclusions() -> list[dict]:
    rows = (
        Exclusion.select(Exclusion, User.email.alias("created_by_email"))
        .join(User, join_type=JOIN.LEFT_OUTER, on=(Exclusion.created_by == User.id))
        .order_by(Exclusion.value)
        .dicts()
    )
    return [
        {
            "id": r["id"],
            "value": r["value"],
            "kind": r["kind"],
            "reason": r["reason"],
            "created_by": r["created_by_email"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]
