"""Named read queries shared by the JSON API, the dashboard and the CLI; they return plain dicts.

The email-activity search follows the spec's panel exactly:
- an email is live iff one of its sightings has `deleted_at IS NULL` (soft delete is per mailbox);
- direction is decided at the email level: outbound iff `from_email` is one of our mailboxes;
- graveyard investors are hidden from the picker only; their mail is listed and searchable.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta

from peewee import SQL, fn

from appsrc.store.db import is_sqlite
from appsrc.store.models import (
    ActivityProposal,
    DigestRun,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
    SkippedMessage,
)

MAX_LIMIT = 200
DIRECTIONS = ("inbound", "outbound")


class QueryError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# -- cursors ------------------------------------------------------------------------------------
def encode_cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise QueryError("cursor is not one this API returned", "cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise QueryError("cursor is not one this API returned", "cursor")
    return values


# -- activity -----------------------------------------------------------------------------------
def _fts_query(q: str) -> str:
    """Free text as an FTS5 query of quoted prefix terms: user input is never FTS syntax."""
    terms = re.findall(r"\w+", q, flags=re.UNICODE)
    return " ".join('"' + t.replace('"', "") + '"*' for t in terms[:16])


def email_activity(*, investor_id: int | None = None, account_id: int | None = None,
                   direction: str | None = None, q: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict:
    """Live captured email, newest first, with keyset pagination (`next_cursor`)."""
    if direction not in (None, "", *DIRECTIONS):
        raise QueryError("direction must be inbound or outbound", "direction")
    limit = max(1, min(int(limit), MAX_LIMIT))
    own = EmailAccount.select(EmailAccount.address)
    live = EmailAccountMessage.select(SQL("1")).where(
        (EmailAccountMessage.email == Email.id) & EmailAccountMessage.deleted_at.is_null())
    if account_id is not None:
        live = live.where(EmailAccountMessage.account == account_id)
    query = Email.select(Email.id, Email.message_id, Email.subject, Email.snippet, Email.from_email,
                         Email.from_name, Email.sent_at).where(fn.EXISTS(live))
    if investor_id is not None:
        query = query.where(fn.EXISTS(EmailInvestorLink.select(SQL("1")).where(
            (EmailInvestorLink.email == Email.id) & (EmailInvestorLink.investor == investor_id))))
    if direction == "outbound":
        query = query.where(Email.from_email.in_(own))
    elif direction == "inbound":
        query = query.where(Email.from_email.not_in(own))
    if q and q.strip():
        if is_sqlite():
            match = _fts_query(q)
            if not match:
                return {"items": [], "next_cursor": None}
            query = query.where(Email.id.in_(SQL("SELECT rowid FROM email_fts WHERE email_fts MATCH ?", [match])))
        else:
            query = query.where(SQL(
                "to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || "
                "coalesce(from_name, '') || ' ' || coalesce(from_email, '')) @@ plainto_tsquery('simple', %s)",
                [q.strip()]))
    if cursor:
        sent_at, last_id = decode_cursor(cursor, 2)
        try:
            sent_at = datetime.fromisoformat(sent_at)
            last_id = int(last_id)
        except (TypeError, ValueError):
            raise QueryError("cursor is not one this API returned", "cursor") from None
        query = query.where((Email.sent_at < sent_at) | ((Email.sent_at == sent_at) & (Email.id < last_id)))
    rows = list(query.order_by(Email.sent_at.desc(), Email.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r["id"] for r in rows]
    investors = _investors_of(ids)
    mailboxes = _live_mailboxes_of(ids)
    own_addresses = {a for (a,) in own.tuples()}
    items = [{
        "email_id": r["id"],
        "message_id": r["message_id"],
        "subject": r["subject"],
        "snippet": r["snippet"],
        "from_email": r["from_email"],
        "from_name": r["from_name"],
        "sent_at": r["sent_at"].isoformat().replace("+00:00", "Z"),
        "direction": "outbound" if r["from_email"] in own_addresses else "inbound",
        "investors": investors.get(r["id"], []),
        "mailboxes": mailboxes.get(r["id"], []),
    } for r in rows]
    next_cursor = encode_cursor(rows[-1]["sent_at"].isoformat(), rows[-1]["id"]) if more else None
    return {"items": items, "next_cursor": next_cursor}


def _investors_of(email_ids: list[int]) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    if email_ids:
        for email_id, investor_id, name in (EmailInvestorLink.select(EmailInvestorLink.email, Investor.id, Investor.name)
                                            .join(Investor).where(EmailInvestorLink.email.in_(email_ids))
                                            .order_by(Investor.name).tuples()):
            found.setdefault(email_id, []).append({"id": investor_id, "name": name})
    return found


def _live_mailboxes_of(email_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if email_ids:
        for email_id, address in (EmailAccountMessage.select(EmailAccountMessage.email, EmailAccount.address)
                                  .join(EmailAccount)
                                  .where(EmailAccountMessage.email.in_(email_ids)
                                         & EmailAccountMessage.deleted_at.is_null())
                                  .order_by(EmailAccount.address).tuples()):
            found.setdefault(email_id, []).append(address)
    return found


# -- investors, mailboxes, proposals ----------------------------------------------------------------
def list_investors(*, include_graveyard: bool = False) -> list[dict]:
    """The investor picker: graveyard investors only when asked for."""
    query = Investor.select().where(Investor.deleted_at.is_null()).order_by(Investor.name)
    if not include_graveyard:
        query = query.where(~Investor.graveyard)
    investors = list(query)
    domains: dict[int, list[str]] = {}
    for investor_id, domain in (InvestorDomain.select(InvestorDomain.investor, InvestorDomain.domain)
                                .order_by(InvestorDomain.domain).tuples()):
        domains.setdefault(investor_id, []).append(domain)
    return [{"id": i.id, "name": i.name, "graveyard": i.graveyard, "domains": domains.get(i.id, [])}
            for i in investors]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def list_mailboxes() -> list[dict]:
    """Sync health and progress of every mailbox, with skipped counts by reason."""
    reasons: dict[int, dict[str, int]] = {}
    for account_id, reason, count in (SkippedMessage.select(SkippedMessage.account, SkippedMessage.reason,
                                                            fn.COUNT(SkippedMessage.id))
                                      .group_by(SkippedMessage.account, SkippedMessage.reason).tuples()):
        reasons.setdefault(account_id, {})[reason] = count
    mailboxes = []
    for a in EmailAccount.select().order_by(EmailAccount.address):
        known = a.stored_count + a.skipped_count + a.failed_count
        total = a.messages_total or 0
        progress = 1.0 if a.backfill_state == "done" else (min(1.0, a.backfill_listed / total) if total else 0.0)
        mailboxes.append({
            "id": a.id,
            "address": a.address,
            "sync_enabled": a.sync_enabled,
            "state": _sync_state(a),
            "backfill_state": a.backfill_state,
            "backfill_progress": round(progress, 4),
            "backfill_listed": a.backfill_listed,
            "messages_total": a.messages_total,
            "listed": known,
            "stored": a.stored_count,
            "skipped": a.skipped_count,
            "skipped_reasons": reasons.get(a.id, {}),
            "failed": a.failed_count,
            "full_resyncs": a.full_resyncs,
            "last_sync_at": _iso(a.last_sync_at),
            "last_success_at": _iso(a.last_success_at),
            "last_error": a.last_error,
            "last_error_kind": a.last_error_kind,
            "last_error_fix": a.last_error_fix,
            "last_error_at": _iso(a.last_error_at),
            "paused_until": _iso(a.paused_until),
        })
    return mailboxes


def _sync_state(account: EmailAccount) -> str:
    if not account.sync_enabled:
        return "disabled"
    if account.last_error_kind == "permanent":
        return "error"
    if account.backfill_state != "done":
        return "backfilling" if account.backfill_state == "running" or account.last_sync_at else "pending"
    return "degraded" if account.last_error else "syncing"


def list_proposals(*, status: str | None = "pending", limit: int = 50, cursor: str | None = None) -> dict:
    if status not in (None, "", "pending", "approved", "rejected"):
        raise QueryError("status must be pending, approved or rejected", "status")
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = (ActivityProposal.select(ActivityProposal, Email.message_id, Email.subject, Email.sent_at,
                                     Email.from_email, Investor.name.alias("investor_name"))
             .join(Email).switch(ActivityProposal).join(Investor))
    if status:
        query = query.where(ActivityProposal.status == status)
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        if not isinstance(last_id, int):
            raise QueryError("cursor is not one this API returned", "cursor")
        query = query.where(ActivityProposal.id < last_id)
    rows = list(query.order_by(ActivityProposal.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{
        "id": r["id"],
        "email_id": r["email"],
        "message_id": r["message_id"],
        "subject": r["subject"],
        "sent_at": _iso(r["sent_at"]),
        "from_email": r["from_email"],
        "investor_id": r["investor"],
        "investor_name": r["investor_name"],
        "contact_id": r["contact"],
        "contact_email": r["address"],
        "status": r["status"],
        "created_at": _iso(r["created_at"]),
        "decided_at": _iso(r["decided_at"]),
    } for r in rows]
    return {"items": items, "next_cursor": encode_cursor(rows[-1]["id"]) if more else None}


def appliance_status(*, demo: bool) -> dict:
    """What StartOS shows and checks: mailboxes syncing, permanent errors, the last digest."""
    accounts = list(EmailAccount.select())
    last = (DigestRun.select().where(DigestRun.kind != "test").order_by(DigestRun.id.desc()).first())
    return {
        "mailboxes_total": len(accounts),
        "mailboxes_syncing": sum(1 for a in accounts if a.sync_enabled and a.last_error_kind != "permanent"),
        "mailboxes_in_error": [
            {"address": a.address, "kind": a.last_error_kind, "error": a.last_error, "fix": a.last_error_fix}
            for a in accounts if a.sync_enabled and a.last_error],
        "last_digest": None if last is None else {
            "status": last.status, "kind": last.kind, "finished_at": _iso(last.finished_at),
            "transport": last.transport},
        "demo": demo,
    }


def mailbox_due_ids(now: datetime, interval_s: int) -> list[int]:
    """Mailboxes whose next sync is due: never synced, interval elapsed, or "sync now" asked."""
    due_before = now - timedelta(seconds=interval_s)
    query = (EmailAccount.select(EmailAccount.id)
             .where(EmailAccount.sync_enabled
                    & (EmailAccount.paused_until.is_null() | (EmailAccount.paused_until <= now)
                       | EmailAccount.sync_requested_at.is_null(False))
                    & (EmailAccount.last_sync_at.is_null() | (EmailAccount.last_sync_at <= due_before)
                       | EmailAccount.sync_requested_at.is_null(False)
                       | (EmailAccount.backfill_state != "done") & EmailAccount.last_error.is_null()))
             .order_by(EmailAccount.last_sync_at.asc(nulls="first"), EmailAccount.id))
    return [i for (i,) in query.tuples()]
