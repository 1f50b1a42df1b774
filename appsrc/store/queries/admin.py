"""The appliance's own records: status, the home page's figures, users, tokens, audit log, digest runs."""

from __future__ import annotations

from typing import Any

from peewee import JOIN, fn

from appsrc.store.models import (
    Activity,
    ApiToken,
    AuditEvent,
    DigestRun,
    Email,
    EmailAccount,
    Investor,
    User,
)
from appsrc.store.queries.approvals import pending_proposal_count
from appsrc.store.queries.cache import cached
from appsrc.store.queries.common import MAX_LIMIT, QueryError, decode_cursor, encode_cursor, is_row_id, iso
from appsrc.store.queries.mailboxes import list_mailboxes


def appliance_status(*, demo: bool) -> dict[str, Any]:
    """What StartOS shows and checks: admins, mailboxes syncing, permanent errors, the last
    digest."""
    accounts = list(EmailAccount.select())
    last = DigestRun.select().where(DigestRun.kind != "test").order_by(DigestRun.id.desc()).first()
    return {
        "admins_active": User.select().where(User.is_admin & User.is_active).count(),
        "mailboxes_total": len(accounts),
        "mailboxes_syncing": sum(1 for a in accounts if a.sync_enabled and a.last_error_kind != "permanent"),
        "mailboxes_in_error": [
            {"address": a.address, "kind": a.last_error_kind, "error": a.last_error, "fix": a.last_error_fix}
            for a in accounts
            if a.sync_enabled and a.last_error
        ],
        "last_digest": None
        if last is None
        else {
            "status": last.status,
            "kind": last.kind,
            "finished_at": iso(last.finished_at),
            "transport": last.transport,
        },
        "demo": demo,
    }


def digest_runs(*, limit: int = 50) -> list[dict[str, Any]]:
    """The latest digest attempts (scheduled, send-now, test), newest first; errors are stored
    sanitized."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    rows = (
        DigestRun.select(DigestRun, User.email.alias("requested_by_email"))
        .join(User, join_type=JOIN.LEFT_OUTER, on=(DigestRun.requested_by == User.id))
        .order_by(DigestRun.id.desc())
        .limit(limit)
        .dicts()
    )
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "status": r["status"],
            "transport": r["transport"],
            "error": r["error"],
            "error_kind": r["error_kind"],
            "local_date": r["local_date"],
            "window_start": iso(r["window_start"]),
            "window_end": iso(r["window_end"]),
            "recipients": r["recipients"] or [],
            "subject": r["subject"],
            "requested_by": r["requested_by_email"],
            "created_at": iso(r["created_at"]),
            "finished_at": iso(r["finished_at"]),
        }
        for r in rows
    ]


@cached(60)
def _email_total() -> int:
    total: int = Email.select().count()
    return total


def overview() -> dict[str, Any]:
    """The admin home page's figures."""
    mailboxes = list_mailboxes()
    return {
        "pending_proposals": pending_proposal_count(),
        "emails": _email_total(),
        "investors": Investor.select().where(Investor.deleted_at.is_null() & ~Investor.graveyard).count(),
        "activities": Activity.select().count(),
        "mailboxes": len(mailboxes),
        "mailboxes_in_error": [m for m in mailboxes if m["last_error"]],
        "mailboxes_backfilling": sum(1 for m in mailboxes if m["backfill_state"] != "done"),
    }


# -- users, exclusions, audit -----------------------------------------------------------------------------
def list_users() -> list[dict[str, Any]]:
    tokens = dict(
        ApiToken.select(ApiToken.user, fn.COUNT(ApiToken.id))
        .where(ApiToken.revoked_at.is_null())
        .group_by(ApiToken.user)
        .tuples()
    )
    return [
        {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "is_admin": u.is_admin,
            "is_active": u.is_active,
            "has_password": bool(u.password_hash),
            "tokens": tokens.get(u.id, 0),
            "created_at": iso(u.created_at),
        }
        for u in User.select().order_by(User.is_active.desc(), User.email)
    ]


def list_tokens() -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "user_email": t.user.email,
            "label": t.label,
            "created_at": iso(t.created_at),
            "last_used_at": iso(t.last_used_at),
        }
        for t in ApiToken.select(ApiToken, User)
        .join(User)
        .where(ApiToken.revoked_at.is_null())
        .order_by(ApiToken.id.desc())
    ]


def audit_log(*, limit: int = 50, cursor: str | None = None, action_prefix: str | None = None) -> dict[str, Any]:
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = AuditEvent.select()
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix))
    if cursor:
        last_id = decode_cursor(cursor, 1)[0]
        if not is_row_id(last_id):
            raise QueryError("cursor is not one this API returned", "cursor")
        query = query.where(AuditEvent.id < last_id)
    rows = list(query.order_by(AuditEvent.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [
            {
                "id": e.id,
                "at": iso(e.created_at),
                "actor": e.actor_label,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "detail": e.detail or {},
            }
            for e in rows
        ],
        "next_cursor": encode_cursor(rows[-1].id) if more else None,
    }
