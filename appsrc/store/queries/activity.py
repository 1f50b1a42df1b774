"""The email-activity search: every captured email, newest first, with its filters and counts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peewee import SQL, Column, ModelSelect, Node, NodeList, Table, Value, fn

from appsrc.matching.direction import direction_of
from appsrc.store.db import database, is_sqlite
from appsrc.store.migrations.m0022_postgres_time_ordered_search import COMBINING_MARKS as PG_COMBINING_MARKS
from appsrc.store.migrations.m0022_postgres_time_ordered_search import FOLD_FROM as PG_FOLD_FROM
from appsrc.store.migrations.m0022_postgres_time_ordered_search import FOLD_TO as PG_FOLD_TO
from appsrc.store.models import (
    Email,
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
    sent_by_team_named,
    wants_outbound,
)
from appsrc.store.queries.gmail_links import first_gmail_url, live_gmail_links

# -- the words searched ---------------------------------------------------------------------------
MAX_TERMS = 16
PREFIX_MIN = 3  # a typed word this long matches the start of a word ("Blackst": Blackstone)
# The longest prefix migration 0018 indexes. FTS5 answers a prefix query it has no prefix index
# for by merging the posting lists of every word that starts with it, before returning a row:
# hundreds of milliseconds for the start of a common word. A longer word is looked up by its
# first PREFIX_INDEXED letters (a superset, read newest first and stopping early) and each
# candidate is checked here against the whole word.
PREFIX_INDEXED = 5
_WORD = re.compile(r"[^\W_]+")


def search_terms(q: str | None) -> tuple[str, ...] | None:
    """The words of free text as typed (letters and digits; everything else separates them, so
    user input is never query syntax); None when no free text is asked for."""
    if not q or not q.strip():
        return None
    return tuple(_WORD.findall(unicodedata.normalize("NFC", q)))[:MAX_TERMS]


@lru_cache(maxsize=65_536)
def fold(word: str) -> str:
    """A word as the full-text index compares it: lower case, Latin accents removed (FTS5's
    `unicode61 remove_diacritics 2`). Cached: mail repeats its words."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFD", word)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not "\u0300" <= c <= "\u036f")).lower()


def _term_matches(term: str, word: str) -> bool:
    """Folded `term` against folded `word`: a prefix from PREFIX_MIN letters, else the whole word."""
    return word.startswith(term) if len(term) >= PREFIX_MIN else word == term


def matched_words(terms: tuple[str, ...] | None, *texts: str | None) -> list[str]:
    """The distinct words of `texts`, as they appear, that some search term matches."""
    if not terms:
        return []
    folded = [fold(t) for t in terms]
    found: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(text or ""):
            if word not in found and any(_term_matches(t, fold(word)) for t in folded):
                found[word] = None
    return list(found)


def _has_every(long_terms: list[str], texts: tuple[str | None, ...]) -> bool:
    """Whether every term starts some word of `texts` (folded as the index folds them). Most
    candidates fail: a plain substring test of the folded text rejects them before the texts
    are cut into words."""
    joined = " ".join(text for text in texts if text)
    folded = joined.lower() if joined.isascii() else fold.__wrapped__(joined)  # texts are not worth caching
    if not all(t in folded for t in long_terms):
        return False
    words = {fold(w) for w in _WORD.findall(joined)}
    return all(any(w.startswith(t) for w in words) for t in long_terms)


def _fts_query(terms: tuple[str, ...], *, exact: bool) -> tuple[str, tuple[str, ...]]:
    """(an FTS5 query of quoted words, AND; the long words each row must still be checked
    against). Exact: each word as the search means it. Otherwise a word longer than
    PREFIX_INDEXED whose first letters start many emails' words is cut to those letters (a
    prefix index serves it, newest first) and returned for the caller to check; a rarer one is
    asked as it is (merging its few posting lists is cheap)."""
    parts, checked = [], []
    for term in terms:
        if len(term) < PREFIX_MIN:
            parts.append(f'"{term}"')
        elif len(term) <= PREFIX_INDEXED or exact or _fts_size(f'"{term[:PREFIX_INDEXED]}"*') <= EXACT_LIMIT:
            parts.append(f'"{term}"*')
        else:
            parts.append(f'"{term[:PREFIX_INDEXED]}"*')
            checked.append(term)
    return " ".join(parts), tuple(checked)


# PostgreSQL's stored words lose combining marks and Latin diacritics by this table (migration
# 0022); typed words too.
_PG_FOLD = str.maketrans(PG_FOLD_FROM, PG_FOLD_TO)
_COMBINING = re.compile(PG_COMBINING_MARKS)


def _pg_tsquery(terms: tuple[str, ...]) -> str:
    """The words as a PostgreSQL tsquery: quoted lexemes (only letters and digits, diacritics
    folded as the stored words are), `:*` for a prefix, ANDed."""
    lexemes = (_COMBINING.sub("", term).translate(_PG_FOLD).replace("'", "''") for term in terms)
    return " & ".join(
        f"'{lexeme}'" + (":*" if len(term) >= PREFIX_MIN else "") for term, lexeme in zip(terms, lexemes, strict=True)
    )


# -- the filters ----------------------------------------------------------------------------------
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Filters:
    """A search's filters, checked. `terms`: None without free text, () when it has no word.
    `start`/`end`: UTC instants, `start` included and `end` excluded."""

    investor_id: int | None = None
    account_id: int | None = None
    contact_id: int | None = None
    direction: str | None = None
    terms: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    has_attachment: bool | None = None


def _day(value: object, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise QueryError(f"{field} must be a date (YYYY-MM-DD)", field)


def _midnight(day: date, zone: ZoneInfo, field: str) -> datetime:
    try:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError):
        raise QueryError(f"{field} is out of range", field) from None


class FilterArgs(TypedDict, total=False):
    """A search's filters as the API, the page and the CSV give them, every one optional: the one
    list of their names, checked by `check_filters`."""

    investor_id: int | None
    account_id: int | None
    contact_id: int | None
    direction: str | None
    q: str | None
    since: date | str | None
    until: date | str | None
    has_attachment: bool | None
    tz_name: str  # the fund's time zone, which `since` and `until` are days in (UTC when not given)


def check_filters(**given: Unpack[FilterArgs]) -> Filters:
    """The filters of a search, checked: QueryError naming the first bad one. `since` and
    `until` are whole days in the fund's time zone (`tz_name`), both included."""
    unknown = sorted(set(given) - set(FilterArgs.__annotations__))
    if unknown:
        raise TypeError(f"unknown search filter {unknown[0]!r}")
    investor_id, account_id, contact_id = given.get("investor_id"), given.get("account_id"), given.get("contact_id")
    direction, q, has_attachment = given.get("direction"), given.get("q"), given.get("has_attachment")
    since, until, tz_name = given.get("since"), given.get("until"), given.get("tz_name", "UTC")
    check_direction(direction)
    check_ids(investor_id=investor_id, account_id=account_id, contact_id=contact_id)
    if has_attachment is not None and not isinstance(has_attachment, bool):
        raise QueryError("has_attachment must be true or false", "has_attachment")
    first, last = _day(since, "since"), _day(until, "until")
    if first and last and last < first:
        raise QueryError("until must not be before since", "until")
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError("tz_name must be a time zone", "tz_name") from None
    start = _midnight(first, zone, "since") if first else None
    end = None  # no end, or the end of time (there is no day after date.max)
    if last and last < date.max:
        end = _midnight(last + timedelta(days=1), zone, "until")
    return Filters(investor_id, account_id, contact_id, direction or None, search_terms(q), start, end, has_attachment)


# -- activity -----------------------------------------------------------------------------------
# Without free text, an investor or a contact, a quiet mailbox (at most DRIVE_LIMIT live emails)
# drives the query: its emails are read and sorted. Otherwise the newest-first walk of the
# `sent_at` index checks the filters per email and stops after one page.
DRIVE_LIMIT = 5_000
KEY_SCALE = 2**31  # the time key of migration 0002: unixepoch(sent_at) * 2^31 + id
# The same key computed from an email row (migration 0002's `key_sql`), for the contact's mail.
EMAIL_KEY_SQL = "(MIN(MAX(CAST(strftime('%s', e.sent_at) AS INTEGER), 0), 4294967295) * 2147483648 + e.id)"
SIZE_CAP = 100_000  # how far the sources of the time-keyed path are counted to choose a driver
# Checking one email against the full-text index costs about 25 times a link lookup.
FTS_CHECK_COST = 25
MATERIALIZE_LIMIT = 20_000  # a second source up to this size is read into a set once
# Long words: candidates are read and checked in batches; after SCAN_LIMIT of them without a
# full page (a word rare among those sharing its first letters) the exact query takes over.
SCAN_BATCH = 200
SCAN_LIMIT = 2_000
# A long word whose first PREFIX_INDEXED letters start at most this many emails' words is
# asked exactly: FTS5 merges its posting lists in a few milliseconds.
EXACT_LIMIT = 20_000


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


def _fts_size(match: str) -> int:
    """How many emails an FTS5 query matches, counted up to SIZE_CAP (cached like `_set_size`)."""
    return _set_size(
        "fts",
        match,
        lambda: database.execute_sql(
            "SELECT count(*) FROM (SELECT rowid FROM email_search WHERE email_search MATCH ? LIMIT ?)",
            (match, SIZE_CAP),
        ).fetchone()[0],
    )


def _contact_size(contact_id: int, cap: int) -> int:
    return _set_size(
        "contact",
        contact_id,
        lambda: database.execute_sql(
            "SELECT count(*) FROM (SELECT 1 FROM email_investor_link WHERE contact_id = %s LIMIT %s)".replace(
                "%s", database.param
            ),
            (contact_id, cap),
        ).fetchone()[0],
    )


# PostgreSQL's searched words: the stored column of migration 0022 (subject, snippet and sender,
# runs of punctuation and spaces made spaces, so an address splits into words as in SQLite's
# FTS5, and Latin diacritics folded as FTS5's `remove_diacritics` does), with its own GIN index
# and statistics. The models do not declare it.
PG_WORDS = Column(Email._meta.table, "search_tsv")
# An investor's linked mail by time key (0002 on SQLite, 0022 on PostgreSQL; no model).
TIMELINE = Table("email_investor_timeline", ("investor_id", "email_id", "key")).alias("timeline")
_ROW = (
    Email.id,
    Email.message_id,
    Email.thread_key,
    Email.subject,
    Email.snippet,
    Email.from_email,
    Email.from_name,
    Email.sent_at,
)


@dataclass(frozen=True)
class _Newest:
    """A search's query and how its rows run newest first: the sort, and the condition that
    keeps the rows older than a cursor's (time, id)."""

    query: ModelSelect
    order: tuple[Node, ...]
    older: Callable[[datetime, int], Node]

    def page(self, after: tuple[datetime, int] | None, limit: int) -> list[dict[str, Any]]:
        query = self.query.where(self.older(*after)) if after else self.query
        return list(query.order_by(*self.order).limit(limit).dicts())


def _activity_query(f: Filters) -> _Newest | None:
    """The filtered, live emails, newest first; None when the free text has no searchable word.
    Used for PostgreSQL, and on SQLite when neither free text, an investor nor a contact is asked
    for (those take the time-keyed path, `_keyed_sql`). An investor's mail is read from its
    timeline by time key; the rest by `sent_at`."""
    sqlite = is_sqlite()
    query = Email.select(*_ROW)
    driven = False
    timeline = f.investor_id is not None
    if f.account_id is not None:
        in_box = EmailAccountMessage.select(EmailAccountMessage.email).where(
            (EmailAccountMessage.account == f.account_id) & EmailAccountMessage.deleted_at.is_null()
        )
        if sqlite and _set_size("account", f.account_id, lambda: _capped_count(in_box, DRIVE_LIMIT)) <= DRIVE_LIMIT:
            query, driven = query.where(Email.id.in_(in_box)), True
        else:
            query = query.where(
                fn.EXISTS(
                    EmailAccountMessage.select(SQL("1")).where(
                        (EmailAccountMessage.email == Email.id)
                        & (EmailAccountMessage.account == f.account_id)
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
    if timeline:
        query = query.join(TIMELINE, on=(TIMELINE.email_id == Email.id)).where(TIMELINE.investor_id == f.investor_id)
    if f.contact_id is not None and sqlite:
        # Only a busy contact comes here (`_keyed`): the sent_at walk drives, each email probed.
        query = query.where(
            fn.EXISTS(
                EmailInvestorLink.select(SQL("1")).where(
                    (EmailInvestorLink.email == Email.id) & (EmailInvestorLink.contact == f.contact_id)
                )
            )
        )
    elif f.contact_id is not None:
        query = query.where(
            Email.id.in_(
                EmailInvestorLink.select(EmailInvestorLink.email).where(EmailInvestorLink.contact == f.contact_id)
            )
        )
    if f.terms is not None:
        if not f.terms:
            return None
        query = query.where(NodeList((PG_WORDS, SQL("@@ to_tsquery('simple', %s)", [_pg_tsquery(f.terms)]))))
    if f.direction:
        # SQLite: never an index walk on from_email (a large share of the mail is ours: reading
        # it all to sort is slow). PostgreSQL: the addresses written out, so the planner sees
        # from its statistics how much of the mail is ours and walks the newest first.
        outbound = sent_by_team(_plus(Email.from_email)) if sqlite else sent_by_team_named(Email.from_email)
        query = query.where(outbound if wants_outbound(f.direction) else ~outbound)
    if f.has_attachment is not None:
        attached = _plus(Email.has_attachments) if sqlite else Email.has_attachments
        query = query.where(attached == f.has_attachment)
    if timeline:
        if f.start is not None:
            query = query.where(TIMELINE.key >= _time_bound(f.start))
        if f.end is not None:
            query = query.where(TIMELINE.key < _time_bound(f.end))
        return _Newest(query, (TIMELINE.key.desc(),), lambda at, email_id: TIMELINE.key < time_key(at, email_id))
    # Driven by a small set: sort it (`+sent_at` keeps SQLite off the sent_at index walk).
    sent_at = _plus(Email.sent_at) if driven else Email.sent_at
    if f.start is not None:
        query = query.where(sent_at >= _as_stored(f.start))
    if f.end is not None:
        query = query.where(sent_at < _as_stored(f.end))

    def older(at: datetime, email_id: int) -> Node:
        # "Before (time, id)" as one range and a filter: an OR of the two would let SQLite read
        # a whole date range through two index scans and sort it.
        key = _as_stored(at)
        return (sent_at <= key) & ~((sent_at == key) & (Email.id >= email_id))

    return _Newest(query, (sent_at.desc(), Email.id.desc()), older)


def _as_stored(moment: datetime) -> Value:
    """`moment` exactly as the store writes `sent_at` (text with microseconds), passed as it is.
    Compared with the bare column, peewee would parse a string back into a datetime, and
    SQLite's adapter writes a whole second without its ".000000": an email sent at that very
    second would then compare as later than itself, and paging would skip it."""
    return Value(Email.sent_at.db_value(moment), converter=False)


def time_key(sent_at: datetime, email_id: int) -> int:
    seconds = min(max(int(sent_at.timestamp()), 0), 2**32 - 1)
    return seconds * KEY_SCALE + int(email_id)


def _time_bound(instant: datetime) -> int:
    """The smallest time key of the second `instant` falls in (day bounds are whole seconds)."""
    return time_key(instant, 0)


def _keyed_sql(
    f: Filters, before_key: int | None, *, exact: bool
) -> tuple[str, list[object], str, tuple[str, ...]] | None:
    """SQLite with free text, an investor or a contact: (sql, params, key column, check) of
    matching live email ids in time-key order, read from a time-ordered source (the
    `email_search` index, the investor timeline of migration 0002, or a contact's few emails,
    sorted) and stopping as soon as a page is full. The cheaper source drives; the other filters
    are checked per email. `checked`: long words the rows must still be checked against (they
    then carry their text, columns 3 to 6; see PREFIX_INDEXED). None when the text has no word."""
    match: str | None = None
    checked: tuple[str, ...] = ()
    if f.terms is not None:
        if not f.terms:
            return None
        match, checked = _fts_query(f.terms, exact=exact)
    # Long words asked as they are: never probed per email (each probe would merge their
    # posting lists again).
    unindexed = any(len(t) > PREFIX_INDEXED and t not in checked for t in f.terms or ())
    sizes: dict[str, int] = {}
    if match:
        sizes["fts"] = _fts_size(_fts_query(f.terms or (), exact=False)[0])
    if f.investor_id is not None:
        sizes["investor"] = _set_size(
            "investor",
            f.investor_id,
            lambda: database.execute_sql(
                "SELECT count(*) FROM (SELECT 1 FROM email_investor_timeline WHERE investor_id = ? LIMIT ?)",
                (f.investor_id, SIZE_CAP),
            ).fetchone()[0],
        )
    if f.contact_id is not None:
        sizes["contact"] = _contact_size(f.contact_id, SIZE_CAP)
    # The cheaper walk drives: a source's size times the cost of checking the others per email.
    # A contact's mail is read whole and sorted, so it drives only when small.
    per_email = FTS_CHECK_COST if match else 1
    cost = {
        "fts": sizes.get("fts", 0),
        "investor": sizes.get("investor", 0) * per_email,
        "contact": sizes.get("contact", 0) * per_email * (1 if sizes.get("contact", 0) <= DRIVE_LIMIT else 100),
    }
    driver = min(sizes, key=lambda source: cost[source])
    text = ", e.subject, e.snippet, e.from_name, e.from_email" if checked else ""
    params: list[object] = []
    # The other filters name the email by the source's own column (`eid`), not by `e.id`: SQLite
    # then checks them before reading the email row, which only the direction needs.
    if driver == "fts":
        sql = (
            f"SELECT e.id AS id, s.rowid AS key{text} FROM email_search s JOIN email e ON e.id = s.rowid % ? "
            "WHERE email_search MATCH ?"
        )
        params += [KEY_SCALE, match]
        key_col, eid, eid_params = "s.rowid", "s.rowid % ?", [KEY_SCALE]
    elif driver == "investor":
        sql = (
            f"SELECT e.id AS id, t.key AS key{text} FROM email_investor_timeline t JOIN email e ON e.id = t.email_id "
            "WHERE t.investor_id = ?"
        )
        params.append(f.investor_id)
        key_col, eid, eid_params = "t.key", "t.email_id", []
    else:
        sql = (
            f"SELECT e.id AS id, {EMAIL_KEY_SQL} AS key{text} FROM email e "
            "WHERE e.id IN (SELECT email_id FROM email_investor_link WHERE contact_id = ?)"
        )
        params.append(f.contact_id)
        key_col, eid, eid_params = EMAIL_KEY_SQL, "e.id", []
    if before_key is not None:
        sql += f" AND {key_col} < ?"
        params.append(before_key)
    if f.start is not None:
        sql += f" AND {key_col} >= ?"
        params.append(_time_bound(f.start))
    if f.end is not None:
        sql += f" AND {key_col} < ?"
        params.append(_time_bound(f.end))
    # The other sources: a small one is read once into a set and each key looked up in it (no
    # email row touched for a miss); a big one is probed per email.
    if driver != "investor" and f.investor_id is not None:
        if sizes["investor"] <= MATERIALIZE_LIMIT:
            sql += f" AND +{key_col} IN (SELECT key FROM email_investor_timeline WHERE investor_id = ?)"
        else:
            sql += f" AND EXISTS (SELECT 1 FROM email_investor_link l WHERE l.email_id = {eid} AND l.investor_id = ?)"
            params += eid_params
        params.append(f.investor_id)
    if driver != "contact" and f.contact_id is not None:
        if sizes["contact"] <= MATERIALIZE_LIMIT:
            sql += f" AND +{eid} IN (SELECT email_id FROM email_investor_link WHERE contact_id = ?)"
        else:
            sql += f" AND EXISTS (SELECT 1 FROM email_investor_link c WHERE c.email_id = {eid} AND c.contact_id = ?)"
        params += eid_params
        params.append(f.contact_id)
    if driver != "fts" and match:
        if sizes["fts"] <= MATERIALIZE_LIMIT or unindexed:
            sql += f" AND +{key_col} IN (SELECT rowid FROM email_search WHERE email_search MATCH ?)"
        else:
            sql += f" AND EXISTS (SELECT 1 FROM email_search s2 WHERE email_search MATCH ? AND s2.rowid = {key_col})"
        params.append(match)
    sql += f" AND EXISTS (SELECT 1 FROM email_account_message m WHERE m.email_id = {eid} AND m.deleted_at IS NULL" + (
        " AND m.account_id = ?)" if f.account_id is not None else ")"
    )
    params += eid_params
    if f.account_id is not None:
        params.append(f.account_id)
    if f.direction:
        sql += (" AND " if wants_outbound(f.direction) else " AND NOT ") + OUTBOUND_SQL.format(sender="+e.from_email")
    if f.has_attachment is not None:
        sql += " AND +e.has_attachments = ?"
        params.append(int(f.has_attachment))
    return sql, params, key_col, checked


def _walk(f: Filters, before_key: int | None, checked: tuple[str, ...], batch: int) -> tuple[list[int], int | None]:
    """One batch of candidates, newest first: (the ids that pass the check of `checked`, the key
    to continue from, None when the candidates are exhausted)."""
    keyed = _keyed_sql(f, before_key, exact=False)
    assert keyed is not None  # only called for a search with words
    sql, params, key_col, _checked = keyed
    rows = database.execute_sql(f"{sql} ORDER BY {key_col} DESC LIMIT ?", (*params, batch)).fetchall()
    folded = [fold(t) for t in checked]
    passed = [row[0] for row in rows if _has_every(folded, tuple(row[2:6]))]
    return passed, (rows[-1][1] if len(rows) == batch else None)


def _keyed_ids(f: Filters, limit: int, before_key: int | None) -> list[int]:
    """Up to `limit` ids of the time-keyed path, newest first, from before `before_key`."""
    keyed = _keyed_sql(f, before_key, exact=False)
    if keyed is None:
        return []
    sql, params, key_col, checked = keyed
    if not checked:
        return [row[0] for row in database.execute_sql(f"{sql} ORDER BY {key_col} DESC LIMIT ?", (*params, limit))]
    found: list[int] = []
    scanned, key, batch = 0, before_key, limit  # most candidates pass: the first batch is one page
    while scanned < SCAN_LIMIT:
        passed, next_key = _walk(f, key, checked, batch)
        found += passed
        if len(found) >= limit or next_key is None:
            return found[:limit]
        scanned, key, batch = scanned + batch, next_key, SCAN_BATCH
    # Few candidates pass (a word rare among those sharing its first letters): the exact query.
    exact = _keyed_sql(f, key, exact=True)
    assert exact is not None
    sql, params, key_col, _checked = exact
    more = database.execute_sql(f"{sql} ORDER BY {key_col} DESC LIMIT ?", (*params, limit - len(found)))
    return found + [row[0] for row in more]


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


def _keyed(f: Filters, *, counting: bool = False) -> bool:
    """Whether SQLite answers from a time-ordered source (`_keyed_sql`): for free text, an
    investor, or a contact. A page of a busy contact's mail alone is met soon enough walking
    the `sent_at` index, cheaper than reading and sorting all of it; a count reads the set."""
    if not is_sqlite():
        return False
    if f.terms is not None or f.investor_id is not None:
        return True
    return f.contact_id is not None and (counting or _contact_size(f.contact_id, SIZE_CAP) <= DRIVE_LIMIT)


def email_activity(*, limit: int = 50, cursor: str | None = None, **filters: Unpack[FilterArgs]) -> dict[str, Any]:
    """Live captured email, newest first, with keyset pagination (`next_cursor`).

    The one query behind `GET /api/email/activity`, its CSV and the dashboard's activity page.
    Filters combine (AND). `q` is free text over subject, snippet and sender (name and address),
    every word of it: a word of PREFIX_MIN letters or more matches the start of a word, a
    shorter one a whole word; each item's `matched` lists the words it matched. `since` and
    `until` are days in the fund's time zone `tz_name`, both included. Graveyard investors'
    mail is included like any other. Emails sent in the same second may come in id order rather
    than by their sub-second time."""
    f = check_filters(**filters)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    if _keyed(f):
        ordered = _keyed_ids(f, limit + 1, time_key(*after) if after else None)
        found = {r["id"]: r for r in Email.select(*_ROW).where(Email.id.in_(ordered)).dicts()}
        rows = [found[i] for i in ordered if i in found]
    else:
        newest = _activity_query(f)
        if newest is None:
            return {"items": [], "next_cursor": None}
        rows = newest.page(after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r["id"] for r in rows]
    investors = _investors_of(ids)
    links = live_gmail_links(ids)
    own_addresses = own_mailbox_addresses()
    items = []
    for r in rows:
        held = links.get(r["id"], [])
        items.append(
            {
                "email_id": r["id"],
                "message_id": r["message_id"],
                "thread_id": r["thread_key"],
                "subject": r["subject"],
                "snippet": r["snippet"],
                "from_email": r["from_email"],
                "from_name": r["from_name"],
                "sent_at": r["sent_at"].isoformat().replace("+00:00", "Z"),
                "direction": direction_of(r["from_email"], own_addresses),
                "investors": investors.get(r["id"], []),
                "mailboxes": [link["address"] for link in held],
                "gmail_url": first_gmail_url(held),
                "matched": matched_words(f.terms, r["subject"], r["snippet"], r["from_name"], r["from_email"]),
            }
        )
    next_cursor = encode_cursor(rows[-1]["sent_at"].isoformat(), rows[-1]["id"]) if more else None
    return {"items": items, "next_cursor": next_cursor}


COUNT_CAP = 10_000


def email_activity_count(**filters: Unpack[FilterArgs]) -> dict[str, Any]:
    """How many emails match, counted up to COUNT_CAP: {"count", "capped"}. Cached a minute."""
    return _activity_count(check_filters(**filters))


@cached(60)
def _activity_count(f: Filters) -> dict[str, Any]:
    if _keyed(f, counting=True):
        keyed = _keyed_sql(f, None, exact=False)
        if keyed is None:
            return {"count": 0, "capped": False}
        sql, params, _key, checked = keyed
        count = _checked_count(f, checked) if checked else None
        if count is None:
            exact = _keyed_sql(f, None, exact=True)
            assert exact is not None
            sql, params, _key, _checked = exact
            count = database.execute_sql(f"SELECT count(*) FROM ({sql} LIMIT ?)", (*params, COUNT_CAP + 1)).fetchone()[
                0
            ]
    else:
        newest = _activity_query(f)
        if newest is None:
            return {"count": 0, "capped": False}
        count = _capped_count(newest.query.select(SQL("1")), COUNT_CAP)
    return {"count": min(count, COUNT_CAP), "capped": count > COUNT_CAP}


COUNT_BATCH = 5_000
COUNT_SCAN_LIMIT = 50_000


def _checked_count(f: Filters, checked: tuple[str, ...]) -> int | None:
    """The count (up to COUNT_CAP + 1) from candidates checked here, or None once the check has
    read COUNT_SCAN_LIMIT of them (then the exact query counts)."""
    count, key, scanned = 0, None, 0
    while scanned < COUNT_SCAN_LIMIT:
        passed, next_key = _walk(f, key, checked, COUNT_BATCH)
        count += len(passed)
        if count > COUNT_CAP or next_key is None:
            return count
        scanned, key = scanned + COUNT_BATCH, next_key
    return None


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
    return {email_id: [link["address"] for link in held] for email_id, held in live_gmail_links(email_ids).items()}
