"""The audit log: who did what, when. Written in the same transaction as the change, and never
changed after, but for one thing: a person's erasure takes their address out of it (`scrub`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from peewee import fn

from appsrc.store.models import AuditEvent, User

ERASED = "[erased]"


def record(
    action: str,
    now: datetime,
    *,
    actor: User | None = None,
    actor_label: str = "",
    target_type: str = "",
    target_id: Any = "",
    detail: dict | None = None,
) -> AuditEvent:
    return AuditEvent.create(
        actor=actor,
        actor_label=actor_label or (actor.email if actor is not None else "system"),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        detail=detail or {},
        created_at=now,
    )


def scrub(spellings: Iterable[str], *, keep: tuple[str, ...] = (), target: tuple[str, int] | None = None) -> set[int]:
    """Replace every spelling (compared without regard to case) with `[erased]` wherever it
    appears in an entry's details: in every entry, or only those about `target` (type, id);
    never in entries whose action starts with one of `keep`. Returns the ids of the entries
    changed. Details are JSON text on both databases: a LIKE finds the candidates, and each
    string inside is rewritten, so the JSON stays whole."""
    wanted = sorted({s.lower() for s in spellings if s}, key=len, reverse=True)
    if not wanted:
        return set()
    pattern = re.compile("|".join(re.escape(s) for s in wanted), re.IGNORECASE)
    mentions = None
    for spelling in wanted:
        mention = fn.LOWER(AuditEvent.detail).contains(spelling)
        mentions = mention if mentions is None else mentions | mention
    query = AuditEvent.select(AuditEvent.id, AuditEvent.action, AuditEvent.detail).where(mentions)
    if target is not None:
        query = query.where((AuditEvent.target_type == target[0]) & (AuditEvent.target_id == str(target[1])))
    changed: set[int] = set()
    for event_id, action, detail in query.tuples():
        if action.startswith(keep):
            continue
        scrubbed = _scrubbed(detail, pattern)
        if scrubbed != detail:
            AuditEvent.update(detail=scrubbed).where(AuditEvent.id == event_id).execute()
            changed.add(event_id)
    return changed


def _scrubbed(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, list):
        return [_scrubbed(item, pattern) for item in value]
    if isinstance(value, dict):
        return {name: _scrubbed(item, pattern) for name, item in value.items()}
    return value
