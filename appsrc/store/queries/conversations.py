"""Conversations: the thread an email belongs to, the threads of an investor or a contact, and
the documents (attachment names) an investor exchanged.

A conversation is every email sharing `email.thread_key`, the same in every mailbox; Gmail's own
thread ids are per mailbox, so each message's "Open in Gmail" link is per mailbox too
(`gmail_links.gmail_thread_url`). Only live emails count (a mailbox still holds them). Lists are
newest first with opaque keyset cursors. Attachments are names, types and sizes as the parser
saw them: no contents are stored or fetched.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from peewee import SQL, Expression, ModelSelect, fn

from appsrc.matching.direction import OUTBOUND, direction_of
from appsrc.matching.matcher import match_key
from appsrc.store.db import database, is_sqlite, placeholder
from appsrc.store.models import (
    ActivityProposal,
    Contact,
    ContactEmail,
    Email,
    EmailAccountMessage,
    EmailParticipant,
    Investor,
)
from appsrc.store.queries.activity import time_key
from appsrc.store.queries.common import (
    MAX_LIMIT,
    QueryError,
    decode_cursor,
    encode_cursor,
    is_row_id,
    iso,
    own_mailbox_addresses,
)
from appsrc.store.queries.gmail_links import first_gmail_url, live_gmail_links

# A conversation longer than this shows its newest messages (or, for an older message's page,
# the messages from that one on), with `thread_truncated` set.
THREAD_CAP = 200
DEFAULT_LIMIT = 25


def _live() -> Expression:
    """The email is live: some mailbox still holds it (soft delete is per sighting)."""
    return fn.EXISTS(
        EmailAccountMessage.select(SQL("1")).where(
            (EmailAccountMessage.email == Email.id) & EmailAccountMessage.deleted_at.is_null()
        )
    )


def _when(value: Any) -> datetime | None:
    """A stored time as an aware datetime, whatever the driver returned for an aggregate."""
    converted: datetime | None = Email.sent_at.python_value(value)
    return converted


# -- the thread on the email page ------------------------------------------------------------------
def email_thread(email_id: int, thread_key: str, own: Collection[str] | None = None) -> dict[str, Any]:
    """The conversation of one email, oldest first: `{"thread", "thread_count", "thread_truncated"}`.

    Each message is `{"id", "sent_at", "direction", "from", "from_name", "subject", "snippet",
    "mailboxes": [address], "gmail_links": [{"address", "gmail_url"}], "proposals": [{"id",
    "status", "investor_name"}], "current"}`: `mailboxes` as everywhere else in the API, the live
    mailboxes holding it by address, and beside them each one's link into Gmail. The email itself
    is always in it, live or not; the others only when live."""
    own = own_mailbox_addresses() if own is None else own
    if thread_key:
        ordered = list(
            Email.select(Email.id, Email.sent_at)
            .where((Email.thread_key == thread_key) & (_live() | (Email.id == email_id)))
            .order_by(Email.sent_at, Email.id)
            .tuples()
        )
    else:
        ordered = list(Email.select(Email.id, Email.sent_at).where(Email.id == email_id).tuples())
    ids = [row[0] for row in ordered]
    if len(ids) > THREAD_CAP:
        at = ids.index(email_id) if email_id in ids else len(ids) - 1
        start = min(at, len(ids) - THREAD_CAP)  # the newest messages, unless the email is older
        ids = ids[start : start + THREAD_CAP]
    rows = {
        r["id"]: r
        for r in Email.select(Email.id, Email.sent_at, Email.from_email, Email.from_name, Email.subject, Email.snippet)
        .where(Email.id.in_(ids))
        .dicts()
    }
    links = live_gmail_links(ids)
    proposals: dict[int, list[dict[str, Any]]] = {}
    for proposal_id, of_email, status, investor_name in (
        ActivityProposal.select(ActivityProposal.id, ActivityProposal.email, ActivityProposal.status, Investor.name)
        .join(Investor)
        .where(ActivityProposal.email.in_(ids))
        .order_by(ActivityProposal.id)
        .tuples()
    ):
        proposals.setdefault(of_email, []).append({"id": proposal_id, "status": status, "investor_name": investor_name})
    thread = [
        {
            "id": i,
            "sent_at": iso(rows[i]["sent_at"]),
            "direction": direction_of(rows[i]["from_email"], own),
            "from": rows[i]["from_email"],
            "from_name": rows[i]["from_name"],
            "subject": rows[i]["subject"],
            "snippet": rows[i]["snippet"],
            "mailboxes": [link["address"] for link in links.get(i, [])],
            "gmail_links": links.get(i, []),
            "proposals": proposals.get(i, []),
            "current": i == email_id,
        }
        for i in ids
        if i in rows
    ]
    return {"thread": thread, "thread_count": len(ordered), "thread_truncated": len(ordered) > len(thread)}


# -- paging ----------------------------------------------------------------------------------------
def _limit(limit: object) -> int:
    if type(limit) is not int:
        raise QueryError("limit must be an integer", "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    return limit


def _decode(cursor: str, arity: int) -> list[Any]:
    """A cursor this module made: an aware time first, then `arity - 1` values (checked by the
    caller); QueryError naming `cursor` for anything else."""
    values = decode_cursor(cursor, arity)
    try:
        values[0] = datetime.fromisoformat(values[0])
    except (TypeError, ValueError):
        raise QueryError("cursor is not one this API returned", "cursor") from None
    if values[0].tzinfo is None:
        raise QueryError("cursor is not one this API returned", "cursor")
    return values


# -- conversation lists ----------------------------------------------------------------------------
# A list walks its source mail (the investor's linked emails, or those a contact took part in)
# newest first and places each conversation where it meets the conversation's newest source
# email; it stops after a page. Only the walked emails' thread keys are read: on SQLite that
# column sits behind the body, so reading it for every email of a large investor is what costs.
Key = Any  # an email's place in a walk: an SQLite time key, or (sent_at, id)


class _Source:
    """The emails a list is made of, walked newest first by `key` order."""

    def key(self, sent_at: datetime, email_id: int) -> Key:
        return (sent_at, email_id)

    def walk(self, after: Key | None, limit: int) -> list[tuple[Key, int]]:
        """(key, email id) of live source emails older than `after`, newest first."""
        raise NotImplementedError

    def newest(self, thread_keys: list[str]) -> dict[str, Key]:
        """Each conversation's newest live source email, as its key."""
        raise NotImplementedError


def _live_among(email_ids: Collection[int]) -> set[int]:
    """Those of these emails that some mailbox still holds."""
    if not email_ids:
        return set()
    held = (
        EmailAccountMessage.select(EmailAccountMessage.email)
        .where(EmailAccountMessage.email.in_(list(email_ids)) & EmailAccountMessage.deleted_at.is_null())
        .distinct()
    )
    return {email_id for (email_id,) in database.execute(held).fetchall()}


class _EmailSource(_Source):
    """Source emails named by a subquery of distinct `email_id`s, walked in memory: their
    (sent_at, id) are read once, in order, as the driver returns them (SQLite's text,
    PostgreSQL's naive UTC: both sort as the times do), and liveness is checked only for the
    emails walked."""

    def __init__(self, email_ids: ModelSelect) -> None:
        self.email_ids = email_ids
        self._ordered: list[tuple[Key, int]] | None = None
        self._ids: set[int] = set()

    def key(self, sent_at: datetime, email_id: int) -> Key:
        stored = Email.sent_at.db_value(sent_at)
        return (stored if is_sqlite() else datetime.fromisoformat(stored), email_id)

    def _all(self) -> list[tuple[Key, int]]:
        if self._ordered is None:
            # Each email's time by its primary key, so no plan reads the whole email table.
            ids_sql, params = self.email_ids.sql()
            rows = database.execute_sql(
                "SELECT s.email_id, (SELECT e.sent_at FROM email e WHERE e.id = s.email_id) AS at "
                f"FROM ({ids_sql}) s ORDER BY at DESC, s.email_id DESC",
                params,
            ).fetchall()
            self._ordered = [((at, i), i) for i, at in rows]
            self._ids = {i for _key, i in self._ordered}
        return self._ordered

    def walk(self, after: Key | None, limit: int) -> list[tuple[Key, int]]:
        ordered = self._all()
        start = 0
        if after is not None:  # the first key below `after` (the list is descending)
            low, high = 0, len(ordered)
            while low < high:
                middle = (low + high) // 2
                if ordered[middle][0] < after:
                    high = middle
                else:
                    low = middle + 1
            start = low
        walked: list[tuple[Key, int]] = []
        while len(walked) < limit and start < len(ordered):
            chunk = ordered[start : start + limit]
            start += limit
            live = _live_among([i for _key, i in chunk])
            walked += [row for row in chunk if row[1] in live]
        return walked[:limit]

    def newest(self, thread_keys: list[str]) -> dict[str, Key]:
        self._all()
        query = Email.select(Email.id, Email.thread_key, Email.sent_at).where(Email.thread_key.in_(thread_keys))
        members = [row for row in database.execute(query).fetchall() if row[0] in self._ids]
        live = _live_among([row[0] for row in members])
        found: dict[str, Key] = {}
        for email_id, thread_key, sent_at in members:
            if email_id in live:
                key = (sent_at, email_id)
                found[thread_key] = max(found.get(thread_key, key), key)
        return found


class _InvestorTimeline(_Source):
    """An investor's linked emails: the time-ordered timeline (migration 0002 on SQLite, 0022 on
    PostgreSQL), read newest first and stopping after a page."""

    LIVE = "EXISTS (SELECT 1 FROM email_account_message m WHERE m.email_id = {} AND m.deleted_at IS NULL)"

    def __init__(self, investor_id: int) -> None:
        self.investor_id = investor_id

    def key(self, sent_at: datetime, email_id: int) -> Key:
        return time_key(sent_at, email_id)

    def walk(self, after: Key | None, limit: int) -> list[tuple[Key, int]]:
        p = placeholder()
        sql = f"SELECT t.key, t.email_id FROM email_investor_timeline t WHERE t.investor_id = {p} AND " + (
            self.LIVE.format("t.email_id")
        )
        params: list[Any] = [self.investor_id]
        if after is not None:
            sql += f" AND t.key < {p}"
            params.append(after)
        rows = database.execute_sql(f"{sql} ORDER BY t.key DESC LIMIT {p}", (*params, limit)).fetchall()
        return [(key, email_id) for key, email_id in rows]

    def newest(self, thread_keys: list[str]) -> dict[str, Key]:
        p = placeholder()
        marks = ", ".join([p] * len(thread_keys))
        rows = database.execute_sql(
            "SELECT e.thread_key, MAX(t.key) FROM email e JOIN email_investor_timeline t "
            f"ON t.email_id = e.id AND t.investor_id = {p} WHERE e.thread_key IN ({marks}) AND "
            + self.LIVE.format("e.id")
            + " GROUP BY e.thread_key",
            (self.investor_id, *thread_keys),
        ).fetchall()
        return dict(rows)


def _investor_exists(investor_id: int) -> bool:
    return is_row_id(investor_id) and bool(
        Investor.select(SQL("1")).where((Investor.id == investor_id) & Investor.deleted_at.is_null()).exists()
    )


def investor_conversations(
    investor_id: int, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any] | None:
    """The conversations of an investor's linked mail, by its newest linked email, newest
    first; None for an unknown (or deleted) investor. See `conversation_page`."""
    if not _investor_exists(investor_id):
        return None
    return conversation_page(_InvestorTimeline(investor_id), limit=limit, cursor=cursor)


def contact_match_keys(contact_id: int) -> list[str] | None:
    """The match keys of a live contact's addresses, or None for an unknown contact."""
    if not is_row_id(contact_id):
        return None
    contact = Contact.get_or_none((Contact.id == contact_id) & Contact.deleted_at.is_null())
    if contact is None:
        return None
    addresses = ContactEmail.select(ContactEmail.address).where(ContactEmail.contact == contact_id).tuples()
    return sorted({match_key(a) for (a,) in addresses})


def contact_conversations(
    contact_id: int, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any] | None:
    """The conversations in which one of a contact's addresses took part (sender or recipient),
    at whichever investor, by the newest such email, newest first; None for an unknown (or
    deleted) contact. See `conversation_page`."""
    keys = contact_match_keys(contact_id)
    if keys is None:
        return None
    participant = (
        EmailParticipant.select(EmailParticipant.email.alias("email_id"))
        .where(EmailParticipant.match_key.in_(keys or [""]))
        .distinct()
    )
    return conversation_page(_EmailSource(participant), limit=limit, cursor=cursor)


def conversation_page(source: _Source, *, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of the source's conversations: `{"items", "next_cursor"}`, each item
    `{"thread_id", "subject", "messages", "first_at", "last_at", "last_email_id", "last_from",
    "last_from_name", "last_direction", "waiting", "gmail_url"}`. The subject is the first
    message's; counts, dates and the last message cover the whole live conversation. `waiting`
    is "us" when the last message came from outside the fund, "them" when the fund wrote last."""
    limit = _limit(limit)
    after: Key | None = None
    if cursor:
        sent_at, email_id = _decode(cursor, 2)
        if not is_row_id(email_id):
            raise QueryError("cursor is not one this API returned", "cursor")
        after = source.key(sent_at, email_id)
    placed: list[tuple[str, int]] = []  # (thread key, the email it was placed by)
    met: set[str] = set()
    batch = min(4 * (limit + 1), 1_000)
    while len(placed) <= limit:
        walked = source.walk(after, batch)
        if not walked:
            break
        threads = dict(Email.select(Email.id, Email.thread_key).where(Email.id.in_([i for _k, i in walked])).tuples())
        fresh = sorted({threads[i] for _k, i in walked if i in threads} - met)
        newest = source.newest(fresh) if fresh else {}
        for key, email_id in walked:
            thread_key = threads.get(email_id)
            if thread_key is None or thread_key in met:
                continue
            met.add(thread_key)
            # Met below its newest source email: an earlier page placed it.
            if newest.get(thread_key) == key:
                placed.append((thread_key, email_id))
                if len(placed) > limit:
                    break
        after = walked[-1][0]
        if len(walked) < batch:
            break
    more = len(placed) > limit
    placed = placed[:limit]
    items = _conversation_items([thread_key for thread_key, _id in placed])
    next_cursor = None
    if more:
        by = placed[-1][1]
        sent_at = _when(Email.select(Email.sent_at).where(Email.id == by).scalar())
        next_cursor = encode_cursor(sent_at.isoformat() if sent_at else "", by)
    return {"items": items, "next_cursor": next_cursor}


def _conversation_items(thread_keys: list[str]) -> list[dict[str, Any]]:
    """The list's rows for these conversations, in this order."""
    if not thread_keys:
        return []
    stats = {
        thread_key: (_when(first), _when(last), count)
        for thread_key, first, last, count in Email.select(
            Email.thread_key, fn.MIN(Email.sent_at), fn.MAX(Email.sent_at), fn.COUNT(Email.id)
        )
        .where(Email.thread_key.in_(thread_keys) & _live())
        .group_by(Email.thread_key)
        .tuples()
    }
    page = [(k, *stats[k]) for k in thread_keys if k in stats]
    ends = _thread_ends(page)
    own = own_mailbox_addresses()
    links = live_gmail_links(last["id"] for _first, last in ends.values())
    items = []
    for thread_key, first_at, last_at, count in page:
        if thread_key not in ends:  # its last live copy went between the two reads
            continue
        first_email, last_email = ends[thread_key]
        direction = direction_of(last_email["from_email"], own)
        items.append(
            {
                "thread_id": thread_key,
                "subject": first_email["subject"],
                "messages": count,
                "first_at": iso(first_at),
                "last_at": iso(last_at),
                "last_email_id": last_email["id"],
                "last_from": last_email["from_email"],
                "last_from_name": last_email["from_name"],
                "last_direction": direction,
                "waiting": "them" if direction == OUTBOUND else "us",
                "gmail_url": first_gmail_url(links.get(last_email["id"], [])),
            }
        )
    return items


def _thread_ends(
    page: list[tuple[str, datetime | None, datetime | None, int]],
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each conversation's first live email (the lowest id at its first time) and last (the
    highest id at its last time), read by (thread_key, sent_at) so a long thread is not read
    whole."""
    if not page:
        return {}
    times = {key: (first_at, last_at) for key, first_at, last_at, _count in page}
    wanted = None
    for key, (first_at, last_at) in times.items():
        ends = (Email.thread_key == key) & Email.sent_at.in_([first_at, last_at])
        wanted = ends if wanted is None else wanted | ends
    first: dict[str, dict[str, Any]] = {}
    last: dict[str, dict[str, Any]] = {}
    for row in (
        Email.select(Email.id, Email.thread_key, Email.sent_at, Email.subject, Email.from_email, Email.from_name)
        .where(wanted & _live())
        .order_by(Email.id)
        .dicts()
    ):
        first_at, last_at = times[row["thread_key"]]
        if row["sent_at"] == first_at:
            first.setdefault(row["thread_key"], row)
        if row["sent_at"] == last_at:
            last[row["thread_key"]] = row
    return {key: (first[key], last[key]) for key in times if key in first and key in last}


# -- documents -------------------------------------------------------------------------------------
def investor_documents(
    investor_id: int, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any] | None:
    """The attachments of an investor's live linked mail, newest email first: `{"items",
    "next_cursor"}`, each `{"filename", "content_type", "size", "sent_at", "direction",
    "email_id", "subject", "from", "from_name"}`; None for an unknown (or deleted) investor."""
    if not _investor_exists(investor_id):
        return None
    limit = _limit(limit)
    after: tuple[datetime, int, int] | None = None
    if cursor:
        at, email_id, skip = _decode(cursor, 3)
        if not is_row_id(email_id) or type(skip) is not int or skip < 0:
            raise QueryError("cursor is not one this API returned", "cursor")
        after = (at, email_id, skip)
    own = own_mailbox_addresses()
    items: list[dict[str, Any]] = []
    next_cursor = None
    batch = limit + 1
    while True:
        emails = _emails_with_attachments(investor_id, after, batch)
        for email in emails:
            skip = after[2] if after and after[1] == email["id"] else 0
            for position, attachment in enumerate(email["attachments"] or []):
                if position < skip:
                    continue
                if len(items) == limit:
                    next_cursor = encode_cursor(email["sent_at"].isoformat(), email["id"], position)
                    break
                items.append(_document(attachment, email, own))
            if next_cursor:
                break
        if next_cursor or len(emails) < batch:
            break
        tail = emails[-1]
        after = (tail["sent_at"], tail["id"], len(tail["attachments"] or []))
    return {"items": items, "next_cursor": next_cursor}


def _document(attachment: Any, email: dict[str, Any], own: Collection[str]) -> dict[str, Any]:
    attachment = attachment if isinstance(attachment, dict) else {}
    size = attachment.get("size")
    return {
        "filename": str(attachment.get("filename") or ""),
        "content_type": str(attachment.get("content_type") or ""),
        "size": size if type(size) is int and size >= 0 else None,
        "sent_at": iso(email["sent_at"]),
        "direction": direction_of(email["from_email"], own),
        "email_id": email["id"],
        "subject": email["subject"],
        "from": email["from_email"],
        "from_name": email["from_name"],
    }


def _emails_with_attachments(
    investor_id: int, after: tuple[datetime, int, int] | None, limit: int
) -> list[dict[str, Any]]:
    """The investor's live linked emails that carry attachments, newest first, from `after`
    (that email included: the cursor may point inside it): the investor's timeline (migration
    0002 on SQLite, 0022 on PostgreSQL) walked newest first, stopping after a page."""
    columns = (Email.id, Email.sent_at, Email.subject, Email.from_email, Email.from_name, Email.attachments)
    p = placeholder()
    sql = (
        "SELECT t.email_id FROM email_investor_timeline t JOIN email e ON e.id = t.email_id "
        f"WHERE t.investor_id = {p} AND e.has_attachments "
        "AND EXISTS (SELECT 1 FROM email_account_message m WHERE m.email_id = t.email_id AND m.deleted_at IS NULL)"
    )
    params: list[Any] = [investor_id]
    if after:
        sql += f" AND t.key <= {p}"
        params.append(time_key(after[0], after[1]))
    ordered = [r[0] for r in database.execute_sql(f"{sql} ORDER BY t.key DESC LIMIT {p}", (*params, limit))]
    rows = {r["id"]: r for r in Email.select(*columns).where(Email.id.in_(ordered)).dicts()}
    return [rows[i] for i in ordered if i in rows]
