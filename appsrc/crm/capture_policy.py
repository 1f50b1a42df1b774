"""The fund's capture scope, as an admin sets it (audited).

- `investors` (new installs): only investor mail is kept in full; every other external email is
  a bare sighting — who and when, never what — that is not searchable.
- `all`: every external email is kept in full (the behaviour of installs made before the
  scope existed, until an admin chooses).

Switching to `investors` deletes the content of the mail that is not investor mail, so it needs
an explicit confirmation that names how many emails it reduces. Switching to `all` queues every
bare sighting for the worker, which fetches them in full at the quota's pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from appsrc.crm import audit
from appsrc.crm.validation import ValidationError
from appsrc.matching.scope import ALL, INVESTORS, SCOPES
from appsrc.store import bare
from appsrc.store.db import database
from appsrc.store.models import BareSighting, User

SCOPE_HELP = {
    INVESTORS: (
        "Only investor mail is kept: an email is stored in full when one of its participants is at an "
        "investor's domain or is a contact. Other external mail is kept as a bare sighting (who and when, "
        "no subject, body or attachment names) and never shown in search; if its people later become "
        "investors or contacts, it is fetched again from Gmail and stored in full."
    ),
    ALL: "All external mail is kept in full and searchable by admins, investor mail or not.",
}


class ConfirmationNeeded(ValidationError):
    """The change deletes content: the caller must confirm, knowing how much (`counts`)."""

    def __init__(self, message: str, counts: dict[str, int]) -> None:
        super().__init__(message, field="confirm")
        self.counts = counts


@dataclass(frozen=True)
class ScopeChange:
    scope: str
    previous: str
    emails_reduced: int = 0
    refetch_queued: int = 0

    def as_dict(self) -> dict:
        return {
            "scope": self.scope,
            "previous": self.previous,
            "changed": self.scope != self.previous,
            "emails_reduced": self.emails_reduced,
            "refetch_queued": self.refetch_queued,
        }


def policy() -> dict:
    """The scope now, what each scope means, and what switching would do."""
    scope = bare.capture_scope()
    return {
        "scope": scope,
        "scopes": {s: SCOPE_HELP[s] for s in SCOPES},
        "bare_sightings": BareSighting.select().count(),
        "refetch_pending": BareSighting.select().where(BareSighting.refetch_requested_at.is_null(False)).count(),
        "emails_out_of_scope": bare.count_out_of_scope() if scope == ALL else 0,
    }


def parse_scope(raw) -> str:
    if not isinstance(raw, str) or raw.strip().lower() not in SCOPES:
        raise ValidationError(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    return raw.strip().lower()


def set_scope(
    raw, now: datetime, *, confirm: bool = False, actor: User | None = None, actor_label: str = ""
) -> ScopeChange:
    scope, previous = parse_scope(raw), bare.capture_scope()
    if scope == previous:
        return ScopeChange(scope, previous)
    if not isinstance(confirm, bool):
        raise ValidationError("confirm must be true or false", field="confirm")
    if scope == INVESTORS:
        affected = bare.count_out_of_scope()
        if affected and not confirm:
            raise ConfirmationNeeded(
                f"switching to investor mail only deletes the content of {affected:,} emails that are not "
                f"investor mail (kept as bare sightings); confirm to go ahead",
                {"emails_reduced": affected},
            )
        # The scope first (mail captured meanwhile is already kept bare), then the reduction, a
        # batch per transaction: an interruption leaves the scope set and a later run finishes.
        with database.atomic():
            bare.write_capture_scope(scope, now)
            _audit(now, actor, actor_label, scope, previous, {"emails_to_reduce": affected})
        return ScopeChange(scope, previous, emails_reduced=bare.reduce_out_of_scope(now))
    with database.atomic():
        bare.write_capture_scope(scope, now)
        queued = bare.request_refetch_all(now)
        _audit(now, actor, actor_label, scope, previous, {"refetch_queued": queued})
    return ScopeChange(scope, previous, refetch_queued=queued)


def _audit(now: datetime, actor: User | None, actor_label: str, scope: str, previous: str, counts: dict) -> None:
    audit.record(
        "capture.scope",
        now,
        actor=actor,
        actor_label=actor_label,
        target_type="setting",
        target_id="capture_scope",
        detail={"scope": scope, "previous": previous, **counts},
    )
