"""Named read queries shared by the JSON API, the dashboard and the CLI; they return plain dicts.

The email-activity search follows the spec's panel exactly:
- an email is live iff one of its sightings has `deleted_at IS NULL` (soft delete is per mailbox);
- direction is decided at the email level: outbound iff `from_email` is one of our mailboxes;
- graveyard investors are hidden from the picker only; their mail is listed and searchable.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from peewee import JOIN, SQL, NodeList, fn

from appsrc.store.db import database, is_sqlite
from appsrc.store.models import (
    Activity,
    ActivityProposal,
    ApiToken,
    AuditEvent,
    Contact,
    ContactEmail,
    DigestRun,
    Draft,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
    InvestorDomain,
    SkippedMessage,
    User,
)

MAX_LIMIT = 200
DIRECTIONS = ("inbound", "outbound")
# Row ids are 1..2^63-1: the largest integer SQLite and PostgreSQL's bigint hold. A bigger one
# cannot even be bound as a query parameter (the driver raises instead of finding nothing).
MAX_ID = 2**63 - 1


class QueryError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def is_row_id(value) -> bool:
    """A JSON/Python integer (not a bool) a row id can have."""
    return type(value) is int and 1 <= value <= MAX_ID


def _check_ids(**ids) -> None:
    """Filter ids given by callers: None or a row id, else QueryError naming the argument."""
    for name, value in ids.items():
        if value is not None and not is_row_id(value):
            raise QueryError(f"{name} must be an id between 1 and {MAX_ID}", name)


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


# -- small cache for counts and charts ----------------------------------------------------------------
_CACHE: dict[tuple, tuple[float, object]] = {}
_CACHE_LOCK = threading.Lock()
CACHE_MAX_ENTRIES = 512


def _cache_get(key: tuple, now: float):
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    return hit if hit is not None and hit[0] > now else None


def _cache_put(key: tuple, value, expires_at: float, now: float) -> None:
    """Bounded: when full, expired entries go first, then those closest to expiring, down to three
    quarters, so a burst of new keys never wipes the figures every page is using."""
    with _CACHE_LOCK:
        if key not in _CACHE and len(_CACHE) >= CACHE_MAX_ENTRIES:
            for stale in [k for k, (expiry, _v) in _CACHE.items() if expiry <= now]:
                del _CACHE[stale]
            if len(_CACHE) >= CACHE_MAX_ENTRIES:
                soonest = sorted(_CACHE, key=lambda k: _CACHE[k][0])
                for old in soonest[:len(_CACHE) - CACHE_MAX_ENTRIES * 3 // 4]:
                    del _CACHE[old]
        _CACHE[key] = (expires_at, value)


def cached(ttl_s: float):
    """Cache a read for `ttl_s` seconds per database and arguments: counts and chart series over
    a million emails are too slow to recompute on every page view, and a minute-old figure is
    fine there. Never used for lists an admin acts on."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = (func.__qualname__, id(database.obj), getattr(database.obj, "database", None), args,
                   tuple(sorted(kwargs.items())))
            now = time.monotonic()
            hit = _cache_get(key, now)
            if hit is not None:
                return hit[1]
            value = func(*args, **kwargs)
            _cache_put(key, value, now + ttl_s, now)
            return value

        wrapper.uncached = func
        return wrapper

    return decorate


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# -- activity -----------------------------------------------------------------------------------
def _fts_query(q: str) -> str:
    """Free text as an FTS5 query of quoted whole words (AND): user input is never FTS syntax.
    Whole words, as Gmail's own search and PostgreSQL's plainto_tsquery match: a prefix query
    on a common prefix makes SQLite merge thousands of posting lists."""
    terms = re.findall(r"\w+", q, flags=re.UNICODE)
    return " ".join('"' + t.replace('"', "") + '"' for t in terms[:16])


# Without free text or an investor, a quiet mailbox (at most DRIVE_LIMIT live emails) drives
# the query: its emails are read and sorted. Otherwise the newest-first walk of the `sent_at`
# index checks the filters per email and stops after one page.
DRIVE_LIMIT = 5_000
KEY_SCALE = 2**31  # the time key of migration 0002: unixepoch(sent_at) * 2^31 + id
SIZE_CAP = 100_000  # how far the sources of the time-keyed path are counted to choose a driver
# Checking one email against the full-text index costs about 25 times a link lookup (measured).
FTS_CHECK_COST = 25
MATERIALIZE_LIMIT = 20_000  # a second source up to this size is read into a set once


def _plus(column):
    """`+column`: the same value, but SQLite may not use an index for it (a planner hint)."""
    return NodeList((SQL("+"), column), glue="")


def _capped_count(query, cap: int) -> int:
    return Email.select(fn.COUNT(SQL("*"))).from_(query.limit(cap + 1).alias("capped")).scalar() or 0


def _set_size(kind: str, value, count) -> int:
    """How many emails a filter value matches (capped by `count`), cached 5 minutes: only the
    choice of plan depends on it, never the result."""
    cache_key = ("_set_size", id(database.obj), getattr(database.obj, "database", None), kind, value)
    now = time.monotonic()
    hit = _cache_get(cache_key, now)
    if hit is not None:
        return hit[1]
    size = count()
    _cache_put(cache_key, size, now + 300, now)
    return size


def _check_direction(direction):
    if direction not in (None, "", *DIRECTIONS):
        raise QueryError("direction must be inbound or outbound", "direction")


# PostgreSQL's searched text, exactly as migration 0007 indexes it: runs of punctuation and
# spaces become spaces, so an address splits into words as it does in SQLite's FTS5 (the
# parser alone keeps `jane@acme.example` whole). The typed text gets the same treatment.
PG_NOT_WORD = "[[:punct:][:space:]]+"  # punctuation, not [^[:alnum:]]: that is ASCII-only under C (0007)
PG_SEARCH_TEXT = ("regexp_replace(coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || "
                  f"coalesce(from_name, '') || ' ' || coalesce(from_email, ''), '{PG_NOT_WORD}', ' ', 'g')")


def _activity_query(investor_id, account_id, direction, q):
    """The filtered, live emails as (query, driven), ordered by the caller on `sent_at`; None
    when `q` has no searchable term. Used for PostgreSQL, and on SQLite when neither free text
    nor an investor is asked for (those take the time-keyed path, `_keyed_sql`)."""
    _check_direction(direction)
    sqlite = is_sqlite()
    own = EmailAccount.select(EmailAccount.address)
    query = Email.select(Email.id, Email.message_id, Email.subject, Email.snippet, Email.from_email,
                         Email.from_name, Email.sent_at)
    driven = False
    if account_id is not None:
        in_box = (EmailAccountMessage.select(EmailAccountMessage.email)
                  .where((EmailAccountMessage.account == account_id) & EmailAccountMessage.deleted_at.is_null()))
        if sqlite and _set_size("account", account_id, lambda: _capped_count(in_box, DRIVE_LIMIT)) <= DRIVE_LIMIT:
            query, driven = query.where(Email.id.in_(in_box)), True
        else:
            query = query.where(fn.EXISTS(EmailAccountMessage.select(SQL("1")).where(
                (EmailAccountMessage.email == Email.id) & (EmailAccountMessage.account == account_id)
                & EmailAccountMessage.deleted_at.is_null())))
    else:
        # Live iff some mailbox still holds it (soft delete is per sighting).
        query = query.where(fn.EXISTS(EmailAccountMessage.select(SQL("1")).where(
            (EmailAccountMessage.email == Email.id) & EmailAccountMessage.deleted_at.is_null())))
    if investor_id is not None:
        query = query.where(fn.EXISTS(EmailInvestorLink.select(SQL("1")).where(
            (EmailInvestorLink.email == Email.id) & (EmailInvestorLink.investor == investor_id))))
    if q and q.strip():
        terms = re.findall(r"\w+", q, flags=re.UNICODE)[:16]
        if not terms:
            return None, False
        query = query.where(SQL(f"to_tsvector('simple', {PG_SEARCH_TEXT}) @@ plainto_tsquery('simple', "
                                f"regexp_replace(%s, '{PG_NOT_WORD}', ' ', 'g'))", [" ".join(terms)]))
    if direction:
        # Decided per email: outbound iff the sender is one of our mailboxes. Never an index
        # walk on from_email (a large share of the mail is ours: reading it all to sort is slow).
        sender = _plus(Email.from_email) if sqlite else Email.from_email
        query = query.where(sender.in_(own) if direction == "outbound" else sender.not_in(own))
    return query, driven


def _time_key(sent_at: datetime, email_id: int) -> int:
    seconds = min(max(int(sent_at.timestamp()), 0), 2**32 - 1)
    return seconds * KEY_SCALE + int(email_id)


def _keyed_sql(investor_id, account_id, direction, q, before_key: int | None):
    """SQLite with free text or an investor: (sql, params) of matching live email ids in
    time-key order, read from a time-ordered source (the `email_search` index or the investor
    timeline of migration 0002) and stopping as soon as a page is full. The cheaper source
    drives; the other filters are checked per email. None when `q` has no searchable term."""
    match = _fts_query(q) if q and q.strip() else None
    if q and q.strip() and not match:
        return None
    sizes: dict[str, int] = {}
    if match:
        sizes["fts"] = _set_size("fts", match, lambda: database.execute_sql(
            "SELECT count(*) FROM (SELECT rowid FROM email_search WHERE email_search MATCH ? LIMIT ?)",
            (match, SIZE_CAP)).fetchone()[0])
    if investor_id is not None:
        sizes["investor"] = _set_size("investor", investor_id, lambda: database.execute_sql(
            "SELECT count(*) FROM (SELECT 1 FROM email_investor_timeline WHERE investor_id = ? LIMIT ?)",
            (investor_id, SIZE_CAP)).fetchone()[0])
    # The cheaper walk drives: a source's size times the cost of checking the other per email.
    cost = {"fts": sizes.get("fts", 0), "investor": sizes.get("investor", 0) * (FTS_CHECK_COST if match else 1)}
    driver = min(sizes, key=cost.get)
    params: list = []
    # The other filters name the email by the source's own column (`eid`), not by `e.id`: SQLite
    # then checks them before reading the email row, which only the direction needs (measured:
    # an investor + word + direction page 13 -> 9 ms on a million emails).
    if driver == "fts":
        sql = ("SELECT e.id AS id, s.rowid AS key FROM email_search s JOIN email e ON e.id = s.rowid % ? "
               "WHERE email_search MATCH ?")
        params += [KEY_SCALE, match]
        key_col, eid, eid_params = "s.rowid", "s.rowid % ?", [KEY_SCALE]
    else:
        sql = ("SELECT e.id AS id, t.key AS key FROM email_investor_timeline t JOIN email e ON e.id = t.email_id "
               "WHERE t.investor_id = ?")
        params.append(investor_id)
        key_col, eid, eid_params = "t.key", "t.email_id", []
    if before_key is not None:
        sql += f" AND {key_col} < ?"
        params.append(before_key)
    # The other source: a small one is read once into a set and each key looked up in it (no
    # email row touched for a miss); a big one is probed per email.
    if driver == "fts" and investor_id is not None:
        if sizes["investor"] <= MATERIALIZE_LIMIT:
            sql += " AND +s.rowid IN (SELECT key FROM email_investor_timeline WHERE investor_id = ?)"
        else:
            sql += f" AND EXISTS (SELECT 1 FROM email_investor_link l WHERE l.email_id = {eid} AND l.investor_id = ?)"
            params += eid_params
        params.append(investor_id)
    if driver == "investor" and match:
        if sizes["fts"] <= MATERIALIZE_LIMIT:
            sql += " AND +t.key IN (SELECT rowid FROM email_search WHERE email_search MATCH ?)"
        else:
            sql += " AND EXISTS (SELECT 1 FROM email_search s2 WHERE email_search MATCH ? AND s2.rowid = t.key)"
        params.append(match)
    sql += (f" AND EXISTS (SELECT 1 FROM email_account_message m WHERE m.email_id = {eid} AND m.deleted_at IS NULL"
            + (" AND m.account_id = ?)" if account_id is not None else ")"))
    params += eid_params
    if account_id is not None:
        params.append(account_id)
    if direction:
        sql += (" AND +e.from_email " + ("IN" if direction == "outbound" else "NOT IN")
                + " (SELECT address FROM email_account)")
    return sql, params, key_col


def decode_time_cursor(cursor: str) -> tuple[datetime, int]:
    """A (time, id) keyset cursor as `encode_cursor` made it; QueryError for anything else."""
    sent_at, last_id = decode_cursor(cursor, 2)
    try:
        sent_at = datetime.fromisoformat(sent_at)
    except (TypeError, ValueError):
        raise QueryError("cursor is not one this API returned", "cursor") from None
    if sent_at.tzinfo is None or not is_row_id(last_id):
        raise QueryError("cursor is not one this API returned", "cursor")
    return sent_at, last_id


def email_activity(*, investor_id: int | None = None, account_id: int | None = None,
                   direction: str | None = None, q: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict:
    """Live captured email, newest first, with keyset pagination (`next_cursor`).

    The one query behind `GET /api/email/activity` and the dashboard's activity page. Filters
    combine (AND); `q` is free text over subject, snippet and sender (name and address), whole
    words, all of them; graveyard investors' mail is included like any other. Emails sent in
    the same second may come in id order rather than by their sub-second time."""
    _check_direction(direction)
    _check_ids(investor_id=investor_id, account_id=account_id)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    if is_sqlite() and ((q and q.strip()) or investor_id is not None):
        keyed = _keyed_sql(investor_id, account_id, direction, q,
                           _time_key(*after) if after else None)
        if keyed is None:
            return {"items": [], "next_cursor": None}
        sql, params, key_col = keyed
        ordered = [row[0] for row in database.execute_sql(f"{sql} ORDER BY {key_col} DESC LIMIT ?",
                                                          (*params, limit + 1)).fetchall()]
        found = {r["id"]: r for r in Email.select(Email.id, Email.message_id, Email.subject, Email.snippet,
                                                  Email.from_email, Email.from_name, Email.sent_at)
                 .where(Email.id.in_(ordered)).dicts()}
        rows = [found[i] for i in ordered if i in found]
    else:
        query, driven = _activity_query(investor_id, account_id, direction, q)
        if query is None:
            return {"items": [], "next_cursor": None}
        # Driven by a small set: sort it (`+sent_at` keeps SQLite off the sent_at index walk).
        sent_at_col = _plus(Email.sent_at) if driven else Email.sent_at
        if after:
            key = Email.sent_at.db_value(after[0])
            query = query.where((sent_at_col < key) | ((sent_at_col == key) & (Email.id < after[1])))
        rows = list(query.order_by(sent_at_col.desc(), Email.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r["id"] for r in rows]
    investors = _investors_of(ids)
    mailboxes = _live_mailboxes_of(ids)
    own_addresses = {a for (a,) in EmailAccount.select(EmailAccount.address).tuples()}
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


COUNT_CAP = 10_000


def email_activity_count(*, investor_id: int | None = None, account_id: int | None = None,
                         direction: str | None = None, q: str | None = None) -> dict:
    """How many emails match, counted up to COUNT_CAP: {"count", "capped"}. Cached a minute."""
    _check_direction(direction)
    _check_ids(investor_id=investor_id, account_id=account_id)
    return _activity_count(investor_id, account_id, direction or None, (q or "").strip() or None)


@cached(60)
def _activity_count(investor_id, account_id, direction, q) -> dict:
    if is_sqlite() and (q or investor_id is not None):
        keyed = _keyed_sql(investor_id, account_id, direction, q, None)
        if keyed is None:
            return {"count": 0, "capped": False}
        sql, params, _key = keyed
        count = database.execute_sql(f"SELECT count(*) FROM ({sql} LIMIT ?)", (*params, COUNT_CAP + 1)).fetchone()[0]
    else:
        query, _driven = _activity_query(investor_id, account_id, direction, q)
        if query is None:
            return {"count": 0, "capped": False}
        count = _capped_count(query.select(SQL("1")), COUNT_CAP)
    return {"count": min(count, COUNT_CAP), "capped": count > COUNT_CAP}


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
def list_investors(*, include_graveyard: bool = False, also: Iterable[int] = ()) -> list[dict]:
    """The investor picker: graveyard investors only when asked for, or named in `also` (a
    filter already applied must stay visible)."""
    query = Investor.select().where(Investor.deleted_at.is_null()).order_by(Investor.name)
    if not include_graveyard:
        also = [i for i in also if is_row_id(i)]
        query = query.where(~Investor.graveyard | Investor.id.in_(also)) if also else query.where(~Investor.graveyard)
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
            "sync_requested_at": _iso(a.sync_requested_at),
            "user_id": a.user_id,
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
    """Proposals for `GET /api/proposals` (see `proposal_queue`)."""
    return proposal_queue(status=status, limit=limit, cursor=cursor)


def appliance_status(*, demo: bool) -> dict:
    """What StartOS shows and checks: admins, mailboxes syncing, permanent errors, the last
    digest."""
    accounts = list(EmailAccount.select())
    last = (DigestRun.select().where(DigestRun.kind != "test").order_by(DigestRun.id.desc()).first())
    return {
        "admins_active": User.select().where(User.is_admin & User.is_active).count(),
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


def digest_runs(*, limit: int = 50) -> list[dict]:
    """The latest digest attempts (scheduled, send-now, test), newest first; errors are stored
    sanitized."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    rows = (DigestRun.select(DigestRun, User.email.alias("requested_by_email"))
            .join(User, join_type=JOIN.LEFT_OUTER, on=(DigestRun.requested_by == User.id))
            .order_by(DigestRun.id.desc()).limit(limit).dicts())
    return [{"id": r["id"], "kind": r["kind"], "status": r["status"], "transport": r["transport"],
             "error": r["error"], "error_kind": r["error_kind"], "local_date": r["local_date"],
             "window_start": _iso(r["window_start"]),
             "window_end": _iso(r["window_end"]), "recipients": r["recipients"] or [], "subject": r["subject"],
             "requested_by": r["requested_by_email"], "created_at": _iso(r["created_at"]),
             "finished_at": _iso(r["finished_at"])} for r in rows]


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


# -- overview -----------------------------------------------------------------------------------------
def pending_proposal_count() -> int:
    """The nav badge's figure, polled by every open admin page."""
    if is_sqlite():
        return database.execute_sql("SELECT count(*) FROM pending_proposal").fetchone()[0]
    return ActivityProposal.select().where(ActivityProposal.status == "pending").count()


@cached(60)
def _email_total() -> int:
    return Email.select().count()


def overview() -> dict:
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


def mailboxes_of_user(user_id: int) -> list[dict]:
    mine = {a for (a,) in EmailAccount.select(EmailAccount.id).where(EmailAccount.user == user_id).tuples()}
    return [m for m in list_mailboxes() if m["id"] in mine]


# -- email detail -------------------------------------------------------------------------------------
def email_detail(email_id: int) -> dict | None:
    """Everything the detail view shows about one email, or None."""
    if not is_row_id(email_id):
        return None
    email = Email.get_or_none(Email.id == email_id)
    if email is None:
        return None
    own = {a for (a,) in EmailAccount.select(EmailAccount.address).tuples()}
    sightings = [{
        "account_id": account_id, "address": address, "gmail_id": gmail_id, "thread_id": thread_id,
        "labels": labels or [], "is_sent": bool(is_sent), "deleted_at": _iso(deleted_at), "live": deleted_at is None,
    } for account_id, address, gmail_id, thread_id, labels, is_sent, deleted_at in (
        EmailAccountMessage.select(EmailAccount.id, EmailAccount.address, EmailAccountMessage.gmail_id,
                                   EmailAccountMessage.gmail_thread_id, EmailAccountMessage.label_ids,
                                   EmailAccountMessage.is_sent, EmailAccountMessage.deleted_at)
        .join(EmailAccount).where(EmailAccountMessage.email == email_id).order_by(EmailAccount.address).tuples())]
    links = [{
        "investor_id": inv_id, "investor_name": inv_name, "graveyard": bool(graveyard), "contact_id": contact_id,
        "contact_name": contact_name, "matched_address": matched,
    } for inv_id, inv_name, graveyard, contact_id, contact_name, matched in (
        EmailInvestorLink.select(Investor.id, Investor.name, Investor.graveyard, Contact.id, Contact.name,
                                 EmailInvestorLink.matched_address)
        .join(Investor).switch(EmailInvestorLink)
        .join(Contact, join_type=JOIN.LEFT_OUTER, on=(EmailInvestorLink.contact == Contact.id))
        .where(EmailInvestorLink.email == email_id).order_by(Investor.name).tuples())]
    proposals = [_proposal_row(r) for r in _proposal_query().where(ActivityProposal.email == email_id)
                 .order_by(ActivityProposal.id).dicts()]
    drafts = [{
        "id": d.id, "mailbox": d.account.address, "gmail_draft_id": d.gmail_draft_id, "to": d.to or [],
        "cc": d.cc or [], "subject": d.subject, "body_source": d.body_source,
        "created_by": d.created_by.email if d.created_by_id else None, "created_at": _iso(d.created_at),
    } for d in Draft.select(Draft, EmailAccount).join(EmailAccount).where(Draft.email == email_id).order_by(Draft.id)]
    activities = [{
        "id": a["id"], "contact_id": a["contact"], "contact_name": a["contact_name"], "investor_id": a["investor"],
        "direction": a["direction"], "created_at": _iso(a["created_at"]), "created_by": a["created_by_email"],
    } for a in (Activity.select(Activity, Contact.name.alias("contact_name"), User.email.alias("created_by_email"))
                .join(Contact, on=(Activity.contact == Contact.id)).switch(Activity)
                .join(User, join_type=JOIN.LEFT_OUTER, on=(Activity.created_by == User.id))
                .where(Activity.email == email_id).dicts())]
    return {
        "email_id": email.id,
        "message_id": email.message_id,
        "subject": email.subject,
        "from_email": email.from_email,
        "from_name": email.from_name,
        "reply_to": email.reply_to or [],
        "to": email.to or [],
        "cc": email.cc or [],
        "in_reply_to": email.in_reply_to,
        "sent_at": _iso(email.sent_at),
        "snippet": email.snippet,
        "body_text": email.body_text,
        "body_truncated": email.body_truncated,
        "attachments": email.attachments or [],
        "size": email.size,
        "is_bulk": email.is_bulk,
        "bulk_reason": email.bulk_reason,
        "direction": "outbound" if email.from_email in own else "inbound",
        "live": any(s["live"] for s in sightings),
        "mailboxes": [s["address"] for s in sightings if s["live"]],
        "sightings": sightings,
        "investors": links,
        "proposals": proposals,
        "drafts": drafts,
        "activities": activities,
    }


# -- proposals ------------------------------------------------------------------------------------------
def _proposal_query():
    return (ActivityProposal.select(ActivityProposal, Email.message_id, Email.subject, Email.sent_at, Email.from_email,
                                    Email.from_name, Email.snippet, Investor.name.alias("investor_name"),
                                    Investor.graveyard.alias("investor_graveyard"),
                                    Contact.name.alias("contact_name"), User.email.alias("decided_by_email"))
            .join(Email).switch(ActivityProposal).join(Investor).switch(ActivityProposal)
            .join(Contact, join_type=JOIN.LEFT_OUTER, on=(ActivityProposal.contact == Contact.id)).switch(ActivityProposal)
            .join(User, join_type=JOIN.LEFT_OUTER, on=(ActivityProposal.decided_by == User.id)))


def _proposal_row(r: dict) -> dict:
    return {
        "id": r["id"],
        "email_id": r["email"],
        "message_id": r["message_id"],
        "subject": r["subject"],
        "snippet": r["snippet"],
        "sent_at": _iso(r["sent_at"]),
        "from_email": r["from_email"],
        "from_name": r["from_name"],
        "investor_id": r["investor"],
        "investor_name": r["investor_name"],
        "contact_id": r["contact"],
        "contact_name": r["contact_name"],
        "contact_email": r["address"],
        "new_contact": r["contact"] is None,
        # A graveyard investor who wrote to the team again ("graveyard-return"), else "email".
        "kind": r["kind"],
        "status": r["status"],
        "created_at": _iso(r["created_at"]),
        "decided_at": _iso(r["decided_at"]),
        "decided_by": r["decided_by_email"],
    }


def _pending_page(investor_id: int | None, after: tuple[datetime, int] | None, limit: int) -> list[dict]:
    """SQLite: a page of the pending queue read from migration 0005's `pending_proposal`, newest
    email first, stopping after the page (not every pending proposal joined and sorted)."""
    sql, params = "SELECT proposal_id FROM pending_proposal WHERE 1", []
    if investor_id is not None:
        sql += " AND investor_id = ?"
        params.append(investor_id)
    if after:
        sql += " AND key < ?"
        params.append(_time_key(*after))
    ordered = [i for (i,) in database.execute_sql(f"{sql} ORDER BY key DESC LIMIT ?", (*params, limit)).fetchall()]
    found = {r["id"]: r for r in _proposal_query().where(ActivityProposal.id.in_(ordered)).dicts()}
    return [found[i] for i in ordered if i in found]


def proposal_queue(*, status: str | None = "pending", investor_id: int | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict:
    """Proposals newest email first, with the mailboxes that saw each email (keyset paging).
    On SQLite the pending queue orders emails of the same second by proposal id."""
    if status not in (None, "", "pending", "approved", "rejected"):
        raise QueryError("status must be pending, approved or rejected", "status")
    _check_ids(investor_id=investor_id)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    if status == "pending" and is_sqlite():
        rows = _pending_page(investor_id, after, limit + 1)
    else:
        query = _proposal_query()
        if status:
            query = query.where(ActivityProposal.status == status)
        if investor_id is not None:
            query = query.where(ActivityProposal.investor == investor_id)
        if after:
            sent_at, last_id = after
            query = query.where((Email.sent_at < sent_at)
                                | ((Email.sent_at == sent_at) & (ActivityProposal.id < last_id)))
        rows = list(query.order_by(Email.sent_at.desc(), ActivityProposal.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    mailboxes = _live_mailboxes_of(list({r["email"] for r in rows}))
    items = []
    for r in rows:
        item = _proposal_row(r)
        item["mailboxes"] = mailboxes.get(r["email"], [])
        items.append(item)
    return {"items": items,
            "next_cursor": encode_cursor(rows[-1]["sent_at"].isoformat(), rows[-1]["id"]) if more else None}


def proposal(proposal_id: int) -> dict | None:
    if not is_row_id(proposal_id):
        return None
    row = _proposal_query().where(ActivityProposal.id == proposal_id).dicts().first()
    if row is None:
        return None
    item = _proposal_row(row)
    item["mailboxes"] = _live_mailboxes_of([row["email"]]).get(row["email"], [])
    return item


def proposal_investors() -> list[dict]:
    """Investors with pending proposals and how many: the approval queue's filter (on SQLite
    from migration 0005's per-investor counts, not a count of every pending proposal)."""
    if is_sqlite():
        counts = dict(database.execute_sql(
            "SELECT investor_id, pending FROM pending_proposal_count WHERE pending > 0").fetchall())
        rows = (Investor.select(Investor.id, Investor.name).where(Investor.id.in_(list(counts)))
                .order_by(Investor.name).tuples()) if counts else []
        return [{"id": i, "name": n, "pending": counts[i]} for i, n in rows]
    rows = (ActivityProposal.select(Investor.id, Investor.name, fn.COUNT(ActivityProposal.id))
            .join(Investor).where(ActivityProposal.status == "pending")
            .group_by(Investor.id, Investor.name).order_by(Investor.name).tuples())
    return [{"id": i, "name": n, "pending": c} for i, n, c in rows]


# -- investors and contacts -------------------------------------------------------------------------------
@cached(30)
def _link_counts() -> dict[int, int]:
    return dict(EmailInvestorLink.select(EmailInvestorLink.investor, fn.COUNT(EmailInvestorLink.id))
                .group_by(EmailInvestorLink.investor).tuples())


def investor_table(*, include_graveyard: bool = True, q: str | None = None) -> list[dict]:
    """The investors page: each investor with domains, contacts, linked mail and pending proposals."""
    base = list_investors(include_graveyard=include_graveyard)
    contacts = dict(Contact.select(Contact.investor, fn.COUNT(Contact.id)).where(Contact.deleted_at.is_null())
                    .group_by(Contact.investor).tuples())
    pending = dict(ActivityProposal.select(ActivityProposal.investor, fn.COUNT(ActivityProposal.id))
                   .where(ActivityProposal.status == "pending").group_by(ActivityProposal.investor).tuples())
    last = dict(Activity.select(Activity.investor, fn.MAX(Activity.occurred_at)).group_by(Activity.investor).tuples())
    links = _link_counts()
    needle = (q or "").strip().lower()
    rows = []
    for inv in base:
        if needle and needle not in inv["name"].lower() and not any(needle in d for d in inv["domains"]):
            continue
        last_at = last.get(inv["id"])
        if isinstance(last_at, str):
            last_at = datetime.fromisoformat(last_at)
        rows.append({**inv, "contacts": contacts.get(inv["id"], 0), "emails": links.get(inv["id"], 0),
                     "pending": pending.get(inv["id"], 0), "last_activity_at": _iso(last_at) if last_at else None})
    return rows


def investor_detail(investor_id: int) -> dict | None:
    if not is_row_id(investor_id):
        return None
    investor = Investor.get_or_none((Investor.id == investor_id) & Investor.deleted_at.is_null())
    if investor is None:
        return None
    contacts = []
    addresses: dict[int, list[str]] = {}
    for contact_id, address in (ContactEmail.select(ContactEmail.contact, ContactEmail.address)
                                .join(Contact).where(Contact.investor == investor_id)
                                .order_by(ContactEmail.address).tuples()):
        addresses.setdefault(contact_id, []).append(address)
    counts = dict(Activity.select(Activity.contact, fn.COUNT(Activity.id)).where(Activity.investor == investor_id)
                  .group_by(Activity.contact).tuples())
    for c in Contact.select().where((Contact.investor == investor_id) & Contact.deleted_at.is_null()).order_by(Contact.name):
        contacts.append({"id": c.id, "name": c.name, "addresses": addresses.get(c.id, []),
                         "activities": counts.get(c.id, 0)})
    return {
        "id": investor.id, "name": investor.name, "graveyard": investor.graveyard, "notes": investor.notes,
        "domains": [d.domain for d in investor.domain_rows.order_by(InvestorDomain.domain)],
        "contacts": contacts,
        "emails": _link_counts().get(investor.id, 0),
        "pending": ActivityProposal.select().where((ActivityProposal.investor == investor_id)
                                                   & (ActivityProposal.status == "pending")).count(),
    }


def contact_detail(contact_id: int) -> dict | None:
    if not is_row_id(contact_id):
        return None
    row = (Contact.select(Contact, Investor.name.alias("investor_name"), Investor.graveyard.alias("graveyard"))
           .join(Investor).where((Contact.id == contact_id) & Contact.deleted_at.is_null()).dicts().first())
    if row is None:
        return None
    return {"id": row["id"], "name": row["name"], "investor_id": row["investor"], "investor_name": row["investor_name"],
            "graveyard": bool(row["graveyard"]),
            "addresses": [a for (a,) in ContactEmail.select(ContactEmail.address).where(ContactEmail.contact == contact_id)
                          .order_by(ContactEmail.address).tuples()]}


def activity_timeline(*, investor_id: int | None = None, contact_id: int | None = None, limit: int = 100,
                      cursor: str | None = None) -> dict:
    """Approved activities, newest first: a contact's or an investor's CRM record."""
    _check_ids(investor_id=investor_id, contact_id=contact_id)
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = (Activity.select(Activity, Contact.name.alias("contact_name"), Investor.name.alias("investor_name"),
                             User.email.alias("created_by_email"), Email.from_email, Email.snippet)
             .join(Contact, on=(Activity.contact == Contact.id)).switch(Activity)
             .join(Investor, on=(Activity.investor == Investor.id)).switch(Activity)
             .join(User, join_type=JOIN.LEFT_OUTER, on=(Activity.created_by == User.id)).switch(Activity)
             .join(Email, join_type=JOIN.LEFT_OUTER, on=(Activity.email == Email.id)))
    if investor_id is not None:
        query = query.where(Activity.investor == investor_id)
    if contact_id is not None:
        query = query.where(Activity.contact == contact_id)
    if cursor:
        occurred, last_id = decode_time_cursor(cursor)
        query = query.where((Activity.occurred_at < occurred) | ((Activity.occurred_at == occurred) & (Activity.id < last_id)))
    rows = list(query.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"id": r["id"], "kind": r["kind"], "direction": r["direction"], "summary": r["summary"],
              "occurred_at": _iso(r["occurred_at"]), "email_id": r["email"], "contact_id": r["contact"],
              "contact_name": r["contact_name"], "investor_id": r["investor"], "investor_name": r["investor_name"],
              "from_email": r["from_email"], "snippet": r["snippet"], "created_by": r["created_by_email"],
              "created_at": _iso(r["created_at"])} for r in rows]
    return {"items": items,
            "next_cursor": encode_cursor(rows[-1]["occurred_at"].isoformat(), rows[-1]["id"]) if more else None}


def recent_emails_of_investor(investor_id: int, limit: int = 10) -> list[dict]:
    return email_activity(investor_id=investor_id, limit=limit)["items"]


# -- users, exclusions, audit -----------------------------------------------------------------------------
def list_users() -> list[dict]:
    tokens = dict(ApiToken.select(ApiToken.user, fn.COUNT(ApiToken.id)).where(ApiToken.revoked_at.is_null())
                  .group_by(ApiToken.user).tuples())
    return [{"id": u.id, "email": u.email, "name": u.name, "is_admin": u.is_admin, "is_active": u.is_active,
             "has_password": bool(u.password_hash), "tokens": tokens.get(u.id, 0), "created_at": _iso(u.created_at)}
            for u in User.select().order_by(User.is_active.desc(), User.email)]


def list_tokens() -> list[dict]:
    return [{"id": t.id, "user_email": t.user.email, "label": t.label, "created_at": _iso(t.created_at),
             "last_used_at": _iso(t.last_used_at)}
            for t in ApiToken.select(ApiToken, User).join(User).where(ApiToken.revoked_at.is_null())
            .order_by(ApiToken.id.desc())]


def audit_log(*, limit: int = 50, cursor: str | None = None, action_prefix: str | None = None) -> dict:
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
    return {"items": [{"id": e.id, "at": _iso(e.created_at), "actor": e.actor_label, "action": e.action,
                       "target_type": e.target_type, "target_id": e.target_id, "detail": e.detail or {}}
                      for e in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None}


# -- charts ---------------------------------------------------------------------------------------------
def _day_expr(column, offset_minutes: int):
    """The local calendar day of a UTC timestamp column, as 'YYYY-MM-DD' text. A fixed offset
    (the zone's current one): a daylight-saving change moves at most an hour across a boundary."""
    if is_sqlite():
        return fn.date(column, f"{offset_minutes:+d} minutes").coerce(False)
    return fn.to_char(SQL(f"({column.column_name} + interval '{int(offset_minutes)} minutes')"),
                      "YYYY-MM-DD").coerce(False)


class WeekWindow(NamedTuple):
    """The local weeks a chart covers: everything its figures depend on besides the data, so
    it is the cache key (the moment of the visit is not: it changes every microsecond)."""

    weeks: tuple[str, ...]  # each week's local Monday, oldest first
    start: datetime  # the first Monday's local midnight, in UTC
    offset_minutes: int  # the zone's offset now (see _day_expr)


def _week_window(now: datetime, tz_name: str, weeks: int) -> WeekWindow:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    local_now = now.astimezone(tz)
    offset = int(local_now.utcoffset().total_seconds() // 60)
    this_monday = (local_now - timedelta(days=local_now.weekday())).date()
    mondays = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    start_local = datetime.combine(mondays[0], datetime.min.time(), tzinfo=tz)
    return WeekWindow(tuple(m.isoformat() for m in mondays), start_local.astimezone(timezone.utc), offset)


def _week_of(day) -> str:
    d = day if not isinstance(day, str) else datetime.fromisoformat(day)
    d = d.date() if isinstance(d, datetime) else d
    return (d - timedelta(days=d.weekday())).isoformat()


def _live_email():
    return fn.EXISTS(EmailAccountMessage.select(SQL("1")).where(
        (EmailAccountMessage.email == Email.id) & EmailAccountMessage.deleted_at.is_null()))


def _fold(weeks: list[str], rows, top: int | None = None, other: str = "Other") -> list[dict]:
    """(day, series, count) rows → weekly series aligned on `weeks`, biggest first."""
    index = {w: i for i, w in enumerate(weeks)}
    series: dict[str, list[int]] = {}
    for day, name, count in rows:
        week = _week_of(day)
        if week in index:
            series.setdefault(name, [0] * len(weeks))[index[week]] += count
    ordered = sorted(series.items(), key=lambda kv: (-sum(kv[1]), str(kv[0])))
    if top is not None and len(ordered) > top:
        rest = [sum(col) for col in zip(*(v for _, v in ordered[top:]))]
        ordered = ordered[:top] + [(other, rest)]
    return [{"name": name, "values": values} for name, values in ordered]


def weekly_volume(by: str, now: datetime, tz_name: str, weeks: int = 12, top: int = 8) -> dict:
    """Live captured emails per local week up to `now`'s: `by` is "investor", "member" (per team
    mailbox, each mailbox counting its own copy) or "direction" (inbound vs outbound,
    email-level). Cached five minutes per week window."""
    if by not in ("investor", "member", "direction"):
        raise QueryError("by must be investor, member or direction", "by")
    return _weekly_volume(by, _week_window(now, tz_name, weeks), top)


@cached(300)
def _weekly_volume(by: str, window: WeekWindow, top: int) -> dict:
    week_keys, start, offset = list(window.weeks), window.start, window.offset_minutes
    day = _day_expr(Email.sent_at, offset)
    if by == "investor":
        rows = (EmailInvestorLink.select(day, Investor.name, fn.COUNT(EmailInvestorLink.id))
                .join(Email, on=(EmailInvestorLink.email == Email.id)).switch(EmailInvestorLink)
                .join(Investor, on=(EmailInvestorLink.investor == Investor.id))
                .where((Email.sent_at >= start) & _live_email())
                .group_by(day, Investor.name).tuples())
        series = _fold(week_keys, rows, top)
    elif by == "member":
        rows = (EmailAccountMessage.select(day, EmailAccount.address, fn.COUNT(EmailAccountMessage.id))
                .join(Email, on=(EmailAccountMessage.email == Email.id)).switch(EmailAccountMessage)
                .join(EmailAccount, on=(EmailAccountMessage.account == EmailAccount.id))
                .where((Email.sent_at >= start) & EmailAccountMessage.deleted_at.is_null())
                .group_by(day, EmailAccount.address).tuples())
        series = _fold(week_keys, rows, top)
    elif by == "direction":
        own = EmailAccount.select(EmailAccount.address)
        outbound = Email.from_email.in_(own)
        rows = (Email.select(day, outbound, fn.COUNT(Email.id))
                .where((Email.sent_at >= start) & _live_email()).group_by(day, outbound).tuples())
        series = _fold(week_keys, ((d, "outbound" if o else "inbound", c) for d, o, c in rows))
        series.sort(key=lambda s: s["name"])
    return {"weeks": week_keys, "series": series}


def approvals_backlog(now: datetime, tz_name: str, weeks: int = 12) -> dict:
    """Pending proposals at the end of each local week up to `now`'s, with how many were created
    and decided. Cached two minutes per week window."""
    return _approvals_backlog(_week_window(now, tz_name, weeks))


@cached(120)
def _approvals_backlog(window: WeekWindow) -> dict:
    week_keys, start, offset = list(window.weeks), window.start, window.offset_minutes
    before_created = ActivityProposal.select().where(ActivityProposal.created_at < start).count()
    before_decided = ActivityProposal.select().where(ActivityProposal.decided_at < start).count()
    created_day = _day_expr(ActivityProposal.created_at, offset)
    decided_day = _day_expr(ActivityProposal.decided_at, offset)
    created = _fold(week_keys, ((d, "created", c) for d, c in ActivityProposal.select(created_day, fn.COUNT(ActivityProposal.id))
                                .where(ActivityProposal.created_at >= start).group_by(created_day).tuples()))
    decided = _fold(week_keys, ((d, "decided", c) for d, c in ActivityProposal.select(decided_day, fn.COUNT(ActivityProposal.id))
                                .where(ActivityProposal.decided_at >= start).group_by(decided_day).tuples()))
    created_values = created[0]["values"] if created else [0] * len(week_keys)
    decided_values = decided[0]["values"] if decided else [0] * len(week_keys)
    backlog, level = [], before_created - before_decided
    for c, d in zip(created_values, decided_values):
        level += c - d
        backlog.append(level)
    return {"weeks": week_keys, "created": created_values, "decided": decided_values, "pending": backlog}
