"""Mailbox actions an admin takes from the dashboard or the API: sync now, pause, resume, remove.

A mailbox's life: *active* (captured), *paused* (an admin stopped it: no Gmail calls at all),
*deactivated* (its owner's user is deactivated: capture stops at once and what was captured
stays, the history is the fund's) and *removed* (an admin deleted its sightings). Resuming a
paused mailbox continues from its history cursor (a full resync runs if Gmail expired it);
resuming a removed one starts a new backfill.
"""

from __future__ import annotations

from datetime import datetime

from peewee import chunked, fn

from appsrc.crm import audit
from appsrc.crm.validation import ValidationError
from appsrc.store.db import database
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    BareSighting,
    Email,
    EmailAccount,
    EmailAccountMessage,
    PendingFetch,
    SkippedMessage,
    User,
)
from appsrc.store.queries import is_row_id


class MailboxNotFound(ValidationError):
    """No mailbox has this id (the API answers 404)."""


def _get(account_id: int) -> EmailAccount:
    account = EmailAccount.get_or_none(EmailAccount.id == account_id) if is_row_id(account_id) else None
    if account is None:
        raise MailboxNotFound("no such mailbox", field="account_id")
    return account


def _owner_active(account: EmailAccount) -> bool:
    return account.user_id is None or bool(User.select(User.is_active).where(User.id == account.user_id).scalar())


def request_sync(account_id: int, now: datetime, *, actor: User | None = None, actor_label: str = "") -> EmailAccount:
    """Ask the worker to sync this mailbox now (it looks every few seconds). The sync itself never
    runs inside a web request: a backfill can take hours."""
    with database.atomic():
        account = _get(account_id)
        if account.removed_at is not None or account.paused_at is not None or not account.sync_enabled:
            raise ValidationError(f"{account.address} is paused or removed: resume it first", field="account_id")
        if not _owner_active(account):
            raise ValidationError(f"{account.address} belongs to a deactivated user", field="account_id")
        EmailAccount.update(sync_requested_at=now).where(EmailAccount.id == account_id).execute()
        audit.record(
            "mailbox.sync_now",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="mailbox",
            target_id=account_id,
            detail={"address": account.address},
        )
    return account


def pause(account_id: int, now: datetime, *, actor: User | None = None, actor_label: str = "") -> EmailAccount:
    """Stop capturing this mailbox: a running sync stops at its next page, none starts."""
    with database.atomic():
        account = _get(account_id)
        if account.removed_at is not None:
            raise ValidationError(f"{account.address} is removed: there is nothing to pause", field="account_id")
        if account.paused_at is None:
            EmailAccount.update(paused_at=now, sync_requested_at=None).where(EmailAccount.id == account_id).execute()
            audit.record(
                "mailbox.pause",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="mailbox",
                target_id=account_id,
                detail={"address": account.address},
            )
    return EmailAccount.get_by_id(account_id)


def resume(account_id: int, now: datetime, *, actor: User | None = None, actor_label: str = "") -> EmailAccount:
    """Capture this mailbox again from the next worker cycle."""
    with database.atomic():
        account = _get(account_id)
        if not _owner_active(account):
            raise ValidationError(
                f"{account.address} belongs to a deactivated user: reactivate the user to capture it again",
                field="account_id",
            )
        if account.paused_at is not None or account.removed_at is not None or not account.sync_enabled:
            EmailAccount.update(
                paused_at=None, removed_at=None, sync_enabled=True, sync_requested_at=now, paused_until=None
            ).where(EmailAccount.id == account_id).execute()
            audit.record(
                "mailbox.resume",
                now,
                actor=actor,
                actor_label=actor_label,
                target_type="mailbox",
                target_id=account_id,
                detail={"address": account.address, "was_removed": account.removed_at is not None},
            )
    return EmailAccount.get_by_id(account_id)


def remove(
    account_id: int, confirm: object, now: datetime, *, actor: User | None = None, actor_label: str = ""
) -> dict[str, int]:
    """Stop capturing this mailbox and delete its sightings, after the admin typed its address.

    An email also held by another mailbox stays. One held by no mailbox any more is deleted
    unless it carries decided history (an approved or rejected proposal, an activity): that one
    stays as a message deleted in Gmail does, not live, so search and the queue hide it. The
    mailbox's row stays (removed) with its cursor reset; resuming it starts a new backfill."""
    with database.atomic():
        account = _get(account_id)
        if not isinstance(confirm, str) or confirm.strip().lower() != account.address:
            raise ValidationError(f"type the mailbox's address ({account.address}) to confirm", field="confirm")
        email_ids = sorted(
            i
            for (i,) in EmailAccountMessage.select(EmailAccountMessage.email)
            .where(EmailAccountMessage.account == account_id)
            .tuples()
        )
        counts = {
            "sightings_removed": EmailAccountMessage.delete()
            .where(EmailAccountMessage.account == account_id)
            .execute(),
            "bare_removed": BareSighting.delete().where(BareSighting.account == account_id).execute(),
            "emails_deleted": 0,
            "emails_kept_as_history": 0,
        }
        SkippedMessage.delete().where(SkippedMessage.account == account_id).execute()
        PendingFetch.delete().where(PendingFetch.account == account_id).execute()
        for chunk in chunked(email_ids, 500):
            orphans = Email.select(Email.id).where(
                Email.id.in_(chunk)
                & ~fn.EXISTS(EmailAccountMessage.select(1).where(EmailAccountMessage.email == Email.id))
            )
            history = orphans.where(
                fn.EXISTS(
                    ActivityProposal.select(1).where(
                        (ActivityProposal.email == Email.id) & (ActivityProposal.status != "pending")
                    )
                )
                | fn.EXISTS(Activity.select(1).where(Activity.email == Email.id))
            )
            kept = {i for (i,) in history.tuples()}
            doomed = [i for (i,) in orphans.tuples() if i not in kept]
            counts["emails_kept_as_history"] += len(kept)
            if doomed:
                counts["emails_deleted"] += Email.delete().where(Email.id.in_(doomed)).execute()
        EmailAccount.update(
            removed_at=now,
            paused_at=None,
            history_id=None,
            backfill_state="pending",
            backfill_page_token=None,
            backfill_history_id=None,
            backfill_listed=0,
            backfill_started_at=None,
            backfill_finished_at=None,
            messages_total=None,
            stored_count=0,
            skipped_count=0,
            failed_count=0,
            last_error=None,
            last_error_kind=None,
            last_error_fix=None,
            last_error_at=None,
            paused_until=None,
            sync_requested_at=None,
        ).where(EmailAccount.id == account_id).execute()
        audit.record(
            "mailbox.remove",
            now,
            actor=actor,
            actor_label=actor_label,
            target_type="mailbox",
            target_id=account_id,
            detail={"address": account.address, **counts},
        )
    return counts
