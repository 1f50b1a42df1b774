"""Mailbox actions an admin takes from the dashboard or the API."""

from __future__ import annotations

from datetime import datetime

from appsrc.crm import audit
from appsrc.crm.validation import ValidationError
from appsrc.store.db import database
from appsrc.store.models import EmailAccount, User
from appsrc.store.queries import is_row_id


class MailboxNotFound(ValidationError):
    """No mailbox has this id (the API answers 404)."""


def request_sync(account_id: int, now: datetime, *, actor: User | None = None, actor_label: str = "") -> EmailAccount:
    """Ask the worker to sync this mailbox now (it looks every few seconds). The sync itself never
    runs inside a web request: a backfill can take hours."""
    with database.atomic():
        account = EmailAccount.get_or_none(EmailAccount.id == account_id) if is_row_id(account_id) else None
        if account is None:
            raise MailboxNotFound("no such mailbox", field="account_id")
        if not account.sync_enabled:
            raise ValidationError(f"sync is disabled for {account.address}", field="account_id")
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
