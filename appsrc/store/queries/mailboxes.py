"""Team mailboxes: sync health, backfill progress, and which are due for a sync."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from peewee import JOIN, fn

from appsrc.store.leases import worker_labels
from appsrc.store.models import (
    BareSighting,
    EmailAccount,
    SkippedMessage,
    User,
)
from appsrc.store.queries.cache import now
from appsrc.store.queries.common import iso


def list_mailboxes() -> list[dict[str, Any]]:
    """Sync health and progress of every mailbox, with skipped counts by reason."""
    reasons: dict[int, dict[str, int]] = {}
    for account_id, reason, count in (
        SkippedMessage.select(SkippedMessage.account, SkippedMessage.reason, fn.COUNT(SkippedMessage.id))
        .group_by(SkippedMessage.account, SkippedMessage.reason)
        .tuples()
    ):
        reasons.setdefault(account_id, {})[reason] = count
    bare: dict[int, tuple[int, int]] = {
        account_id: (count, queued or 0)
        for account_id, count, queued in BareSighting.select(
            BareSighting.account,
            fn.COUNT(BareSighting.id),
            fn.COUNT(BareSighting.refetch_requested_at),
        )
        .group_by(BareSighting.account)
        .tuples()
    }
    owners_active = dict(User.select(User.id, User.is_active).tuples())
    workers, moment = worker_labels(), now()
    mailboxes = []
    for a in EmailAccount.select().order_by(EmailAccount.address):
        bare_count, refetching = bare.get(a.id, (0, 0))
        known = a.stored_count + a.skipped_count + a.failed_count + bare_count
        total = a.messages_total or 0
        progress = 1.0 if a.backfill_state == "done" else (min(1.0, a.backfill_listed / total) if total else 0.0)
        mailboxes.append(
            {
                "id": a.id,
                "address": a.address,
                "sync_enabled": a.sync_enabled,
                "state": lifecycle_state(a, owners_active.get(a.user_id, True)),
                "sync_state": _sync_state(a),
                # The worker syncing it now, or the last one that did (store/leases.py).
                "worker": workers.get(a.lease_owner, "a stopped worker") if a.lease_owner else None,
                "worker_syncing": a.lease_expires_at is not None and a.lease_expires_at > moment,
                "paused_at": iso(a.paused_at),
                "removed_at": iso(a.removed_at),
                "backfill_state": a.backfill_state,
                "backfill_progress": round(progress, 4),
                "backfill_listed": a.backfill_listed,
                "messages_total": a.messages_total,
                "listed": known,
                "stored": a.stored_count,
                "skipped": a.skipped_count,
                "bare": bare_count,
                "refetch_pending": refetching,
                "skipped_reasons": reasons.get(a.id, {}),
                "failed": a.failed_count,
                "full_resyncs": a.full_resyncs,
                "last_sync_at": iso(a.last_sync_at),
                "last_success_at": iso(a.last_success_at),
                "last_error": a.last_error,
                "last_error_kind": a.last_error_kind,
                "last_error_fix": a.last_error_fix,
                "last_error_at": iso(a.last_error_at),
                "paused_until": iso(a.paused_until),
                "sync_requested_at": iso(a.sync_requested_at),
                "user_id": a.user_id,
            }
        )
    return mailboxes


def _sync_state(account: EmailAccount) -> str:
    if not account.sync_enabled:
        return "disabled"
    if account.last_error_kind == "permanent":
        return "error"
    if account.backfill_state != "done":
        return "backfilling" if account.backfill_state == "running" or account.last_sync_at else "pending"
    return "degraded" if account.last_error else "syncing"


def capturing_mailboxes() -> Any:
    """The mailboxes that may be synced (and drafted in): not paused or removed, owner active.
    One rule for the worker, the sync itself, the CLI and drafts."""
    return (
        EmailAccount.select(EmailAccount.id, EmailAccount.address)
        .join(User, on=(EmailAccount.user == User.id), join_type=JOIN.LEFT_OUTER)
        .where(
            EmailAccount.sync_enabled
            & EmailAccount.paused_at.is_null()
            & EmailAccount.removed_at.is_null()
            & (User.id.is_null() | User.is_active)
        )
    )


def lifecycle_state(account: EmailAccount, owner_active: bool) -> str:
    """active | paused | deactivated | removed (the first that holds, from the end)."""
    if account.removed_at is not None:
        return "removed"
    if not owner_active:
        return "deactivated"
    if account.paused_at is not None or not account.sync_enabled:
        return "paused"
    return "active"


def mailbox_due_ids(now: datetime, interval_s: int) -> list[int]:
    """Mailboxes whose next sync is due: never synced, interval elapsed, or "sync now" asked."""
    due_before = now - timedelta(seconds=interval_s)
    query = (
        capturing_mailboxes()
        .select(EmailAccount.id)
        .where(
            (
                EmailAccount.paused_until.is_null()
                | (EmailAccount.paused_until <= now)
                | EmailAccount.sync_requested_at.is_null(False)
            )
            & (
                EmailAccount.last_sync_at.is_null()
                | (EmailAccount.last_sync_at <= due_before)
                | EmailAccount.sync_requested_at.is_null(False)
                | (EmailAccount.backfill_state != "done") & EmailAccount.last_error.is_null()
            )
        )
        .order_by(EmailAccount.last_sync_at.asc(nulls="first"), EmailAccount.id)
    )
    return [i for (i,) in query.tuples()]


def mailboxes_of_user(user_id: int) -> list[dict[str, Any]]:
    mine = {a for (a,) in EmailAccount.select(EmailAccount.id).where(EmailAccount.user == user_id).tuples()}
    return [m for m in list_mailboxes() if m["id"] in mine]
