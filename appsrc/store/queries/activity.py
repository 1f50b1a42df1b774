"""The email-activity search: every captured email, newest first, with its filters and counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from peewee import SQL, ModelSelect, Node, NodeList, fn

from appsrc.matching.direction import direction_of
from appsrc.store.db import database, is_sqlite
from appsrc.store.models import (
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
)
from appsrc.store.queries.cache import cached, new_cache, remember
from appsrc.store.queries.common import (
    MAX_LIMIT,
    OUTBOUND_SQL,
    QueryError,
    check_direction,
    check_ids,
    decode_cursor,
    encode_cursor,
    is_row_id,
    own_mailbox_addresses,
    sent_by_team,
    wants_outbound,
)


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
# Checking one email against the full-text index costs about 25 times a link lookup.
FTS_CHECK_COST = 25
MATERIALIZE_LIMIT = 20_000  # a second source up to this size is read into a set once


def _plus(column: Node) -> NodeList:
    """`+column`: the same value, but SQLite may not use an index for it (a planner hint)."""
    return NodeList((SQL("+"), column), glue="")


def _capped_count(query: ModelSelect, cap: int) -> int:
    return Email.select(fn.COUNT(SQL("*"))).from_(query.limit(cap + 1).alias("capped")).scalar() or 0


_SET_SIZES = new_cache(300)


def _set_size(kind: str, value: object, count: Callable[[], int]) -> int:
    """How many emails a filter value matches (capped by `count`), cached 5 minutes: only the
    choice of plan depends on it, never the result."""
    return remember(_SET_SIZES, (kind, value), count)


# PostgreSQL's searched text, exactly as migration 0007 indexes it: runs of punctuation and
# spaces become spaces, so an address splits into words as it does in SQLite's FTS5 (the
# parser alone keeps `jane@acme.example` whole). The typed text gets the same treatment.
PG_NOT_WORD = "[[:punct:][:space:]]+"  # punctuation, not [^[:alnum:]]: that is ASCII-only under C (0007)
PG_SEARCH_TEXT = (
    "regexp_replace(coalesce(subject, '') || ' ' || coalesce(snippet, '') || ' ' || "
    f"coalesce(from_name, '') || ' ' || coalesce(from_email, ''), '{PG_NOT_WORD}', ' ', 'g')"
)


def _activity_query(
    investor_id: int | None, account_id: int | None, direction: str | None, q: str | None
) -> tuple[ModelSelect | None, bool]:
    """The filtered, live emails as (query, driven), ordered by the caller on `sent_at`; None
    when `q` has no searchable term. Used for PostgreSQL, and on SQLite when neither free text
    nor an investor is asked for (those take the time-keyed path, `_keyed_sql`)."""
    check_direction(direction)
    sqlite = is_sqlite()
    query = Email.select(
        Email.id, Email.message_id, Email.subject, Email.snippet, Email.from_email, Email.from_name, Email.sent_at
    )
    driven = False
    if account_id is not None:
        in_box = EmailAccountMessage.select(EmailAccountMessage.email).where(
            (EmailAccountMessage.account == account_id) & EmailAccountMessage.deleted_at.is_null()
        )
        if sqlite and _set_size("account", account_id, lambda: _capped_count(in_box, DRIVE_LIMIT)) <= DRIVE_LIMIT:
            query, driven = query.where(Email.id.in_(in_box)), True
        else:
            query = query.where(
                fn.EXISTS(
                    EmailAccountMessage.select(SQL("1")).where(
                        (EmailAccountMessage.email == Email.id)
                        & (EmailAccountMessage.account == account_id)
                        & EmailAccountMessage.deleted_at.is_null()
                    )
                )
            )
    else:
        # Live iff some mailbox still holds it (soft delete is per sighting).
        query = query.where(
            fn.EXISTS(
                EmailAccountMessage.select(SQL("1")).where(
                    (EmailAccountMessage.email == Email.id) & EmailAccountMessage.deleted_at.is_null()
                )
            )
        )
    if investor_id is not None:
        query = query.where(
            fn.EXISTS(
                EmailInvestorLink.select(SQL("1")).where(
                    (EmailInvestorLink.email == Email.id) & (EmailInvestorLink.investor == investor_id)
                )
            )
        )
    if q and q.strip():
        terms = re.findall(r"\w+", q, flags=re.UNICODE)[:16]
        if not terms:
            return None, False
        query = query.where(
            SQL(
                f"to_tsvector('simple', {PG_SEARCH_TEXT}) @@ plainto_tsquery('simple', "
                f"regexp_replace(%s, '{PG_NOT_WORD}', ' ', 'g'))",
                [" ".join(terms)],
            )
        )
    if direction:
        # Never an index walk on from_email (a large share of the mail is ours: reading it all
        # to sort is slow).
        outbound = sent_by_team(_plus(Email.from_email) if sqlite else Email.from_email)
        query = query.where(outbound if wants_outbound(direction) else ~outbound)
    return query, driven


def time_key(sent_at: datetime, email_id: int) -> int:
    seconds = min(max(int(sent_at.timestamp()), 0), 2**32 - 1)
    return seconds * KEY_SCALE + int(email_id)


def _keyed_sql(
    investor_id: int | None, account_id: int | None, direction: str | None, q: str | None, before_key: int | None
) -> tuple[str, list[object], str] | None:
    """SQLite with free text or an investor: (sql, params) of matching live email ids in
    time-key order, read from a time-ordered source (the `email_search` index or the investor
    timeline of migration 0002) and stopping as soon as a page is full. The cheaper source
    drives; the other filters are checked per email. None when `q` has no searchable term."""
    match = _fts_query(q) if q and q.strip() else None
    if q and q.strip() and not match:
        return None
    sizes: dict[str, int] = {}
    if match:
        sizes["fts"] = _set_size(
            "fts",
            match,
            lambda: database.execute_sql(
                "SELECT count(*) FROM (SELECT rowid FROM email_search WHERE email_search MATCH ? LIMIT ?)",
                (match, SIZE_CAP),
            ).fetchone()[0],
        )
    if investor_id is not None:
        sizes["investor"] = _set_size(
            "investor",
            investor_id,
            lambda: database.execute_sql(
                "SELECT count(*) FROM (SELECT 1 FROM email_investor_timeline WHERE investor_id = ? LIMIT ?)",
                (investor_id, SIZE_CAP),
            ).fetchone()[0],
        )
    # The cheaper walk drives: a source's size times the cost of checking the other per email.
    cost = {"fts": sizes.get("fts", 0), "investor": sizes.get("investor", 0) * (FTS_CHECK_COST if match else 1)}
    driver = min(sizes, key=lambda source: cost[source])
    params: list[object] = []
    # The other filters name the email by the source's own column (`eid`), not by `e.id`: SQLite
    # then checks them before reading the email row, which only the direction needs.
    if driver == "fts":
        sql = (
            "SELECT e.id AS id, s.rowid AS key FROM email_search s JOIN email e ON e.id = s.rowid % ? "
            "WHERE email_search MATCH ?"
        )
        params += [KEY_SCALE, match]
        key_col, eid, eid_params = "s.rowid", "s.rowid % ?", [KEY_SCALE]
    else:
        sql = (
            "SELECT e.id AS id, t.key AS key FROM email_investor_timeline t JOIN email e ON e.id = t.email_id "
            "WHERE t.investor_id = ?"
        )
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
    sql += f" AND EXISTS (SELECT 1 FROM email_account_message m WHERE m.email_id = {eid} AND m.deleted_at IS NULL" + (
        " AND m.account_id = ?)" if account_id is not None else ")"
    )
    params += eid_params
    if account_id is not None:
        params.append(account_id)
    if direction:
        sql += (" AND " if wants_outbound(direction) else " AND NOT ") + OUTBOUND_SQL.format(sender="+e.from_email")
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


def email_activity(
    *,
    investor_id: int | None = None,
    account_id: int | None = None,
    direction: str | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Live captured email, newest first, with keyset pagination (`next_cursor`).

    The one query behind `GET /api/email/activity` and the dashboard's activity page. Filters
    combine (AND); `q` is free text over subject, snippet and sender (name and address), whole
    words, all of them; graveyard investors' mail is included like any other. Emails sent in
    the same second may come in id order rather than by their sub-second time."""
    check_direction(direction)
    check_ids(investor_id=investor_id, account_id=account_id)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    if is_sqlite() and ((q and q.strip()) or investor_id is not None):
        keyed = _keyed_sql(investor_id, account_id, direction, q, time_key(*after) if after else None)
        if keyed is None:
            return {"items": [], "next_cursor": None}
        sql, params, key_col = keyed
        ordered = [
            row[0]
            for row in database.execute_sql(f"{sql} ORDER BY {key_col} DESC LIMIT ?", (*params, limit + 1)).fetchall()
        ]
        found = {
            r["id"]: r
            for r in Email.select(
                Email.id,
                Email.message_id,
                Email.subject,
                Email.snippet,
                Email.from_email,
                Email.from_name,
                Email.sent_at,
            )
            .where(Email.id.in_(ordered))
            .dicts()
        }
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
    mailboxes = live_mailboxes_of(ids)
    own_addresses = own_mailbox_addresses()
    items = [
        {
            "email_id": r["id"],
            "message_id": r["message_id"],
            "subject": r["subject"],
            "snippet": r["snippet"],
            "from_email": r["from_email"],
            "from_name": r["from_name"],
            "sent_at": r["sent_at"].isoformat().replace("+00:00", "Z"),
            "direction": direction_of(r["from_email"], own_addresses),
            "investors": investors.get(r["id"], []),
            "mailboxes": mailboxes.get(r["id"], []),
        }
        for r in rows
    ]
    next_cursor = encode_cursor(rows[-1]["sent_at"].isoformat(), rows[-1]["id"]) if more else None
    return {"items": items, "next_cursor": next_cursor}


COUNT_CAP = 10_000


def email_activity_count(
    *, investor_id: int | None = None, account_id: int | None = None, direction: str | None = None, q: str | None = None
) -> dict[str, Any]:
    """How many emails match, counted up to COUNT_CAP: {"count", "capped"}. Cached a minute."""
    check_direction(direction)
    check_ids(investor_id=investor_id, account_id=account_id)
    return _activity_count(investor_id, account_id, direction or None, (q or "").strip() or None)


@cached(60)
def _activity_count(
    investor_id: int | None, account_id: int | None, direction: str | None, q: str | None
) -> dict[str, Any]:
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


def _investors_of(email_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    if email_ids:
        for email_id, investor_id, name in (
            EmailInvestorLink.select(EmailInvestorLink.email, Investor.id, Investor.name)
            .join(Investor)
            .where(EmailInvestorLink.email.in_(email_ids))
            .order_by(Investor.name)
            .tuples()
        ):
            found.setdefault(email_id, []).append({"id": investor_id, "name": name})
    return found


def live_mailboxes_of(email_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if email_ids:
        for email_id, address in (
            EmailAccountMessage.select(EmailAccountMessage.email, EmailAccount.address)
            .join(EmailAccount)
            .where(EmailAccountMessage.email.in_(email_ids) & EmailAccountMessage.deleted_at.is_null())
            .order_by(EmailAccount.address)
            .tuples()
        ):
            found.setdefault(email_id, []).append(address)
    return found
