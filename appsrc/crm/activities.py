"""Correcting an approved activity: a note, the date it happened, or the contact it belongs to.

The email behind an activity is captured evidence and is never edited; the activity is the
fund's record of it, and an admin may mend that record. The investor follows the contact. Every
edit is audited with the fields' values before and after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appsrc.clock import parse_iso
from appsrc.crm import audit
from appsrc.crm.validation import ValidationError, parse_id
from appsrc.store.db import database
from appsrc.store.models import Activity, Contact, Investor, User
from appsrc.store.queries import is_row_id

EDITABLE = ("note", "occurred_at", "contact_id")
MAX_NOTE = 5_000
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


class ActivityNotFound(ValidationError):
    """No activity has this id (the API answers 404)."""


def parse_when(raw: object, now: datetime, *, field: str = "occurred_at") -> datetime:
    """An ISO 8601 date-time with its offset, or a date (taken as noon UTC, so it stays that
    day in every time zone a fund is likely to be in)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(f"{field} must be an ISO date or date-time", field=field)
    text = raw.strip()
    try:
        when = datetime.fromisoformat(text).replace(hour=12, tzinfo=UTC) if len(text) == 10 else parse_iso(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not an ISO date or date-time", field=field) from None
    if when.tzinfo is None:
        raise ValidationError(f"{field} needs a time zone offset (or give a date)", field=field)
    when = when.astimezone(UTC)
    if not EARLIEST <= when <= now + timedelta(days=366):
        raise ValidationError(f"{field} is out of range", field=field)
    return when


def edit_activity(activity_id: object, changes: object, now: datetime, *, actor: User, actor_label: str = "") -> dict:
    """Apply `changes` (a dict of `EDITABLE` fields) all or nothing; returns what changed."""
    if not isinstance(changes, dict) or not changes:
        raise ValidationError(f"give at least one of {', '.join(EDITABLE)}", field="body")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be edited (only {', '.join(EDITABLE)})", field=unknown[0])
    with database.atomic():
        activity = Activity.get_or_none(Activity.id == activity_id) if is_row_id(activity_id) else None
        if activity is None:
            raise ActivityNotFound("no such activity", field="activity_id")
        updates: dict = {}
        if "note" in changes:
            note = changes["note"]
            if not isinstance(note, str) or len(note) > MAX_NOTE:
                raise ValidationError(f"note must be text of at most {MAX_NOTE:,} characters", field="note")
            updates["note"] = note.strip()
        if "occurred_at" in changes:
            updates["occurred_at"] = parse_when(changes["occurred_at"], now)
        if "contact_id" in changes:
            contact_id = parse_id(changes["contact_id"], field="contact_id")
            contact = Contact.get_or_none((Contact.id == contact_id) & Contact.deleted_at.is_null())
            investor = Investor.get_or_none(Investor.id == contact.investor_id) if contact else None
            if contact is None or investor is None or investor.deleted_at is not None:
                raise ValidationError(f"no contact {contact_id}", field="contact_id")
            updates["contact"] = contact.id
            updates["investor"] = investor.id
        before = {
            "note": activity.note,
            "occurred_at": activity.occurred_at.isoformat(),
            "contact_id": activity.contact_id,
            "investor_id": activity.investor_id,
        }
        Activity.update(**updates, edited_at=now).where(Activity.id == activity.id).execute()
        after_row = Activity.get_by_id(activity.id)
        after = {
            "note": after_row.note,
            "occurred_at": after_row.occurred_at.isoformat(),
            "contact_id": after_row.contact_id,
            "investor_id": after_row.investor_id,
        }
        changed = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
        audit.record(
            "activity.edit",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="activity",
            target_id=activity.id,
            detail={"changes": changed},
        )
    return {"id": activity.id, "changed": changed}
