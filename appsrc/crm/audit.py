"""The audit log: who did what, when. Written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appsrc.store.models import AuditEvent, User


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
