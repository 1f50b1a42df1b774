"""The approvals queue: pending and decided proposals, with their investors; the pending queue
also in groups (one conversation, or one investor) and split into known contacts and new people.

A proposal's sender is a *known contact* when the proposal names a contact on record, a *new
person* when it names only an address at an investor's domain (approving creates the contact).
A group is every pending proposal of one conversation (`email.thread_key`) or one investor, in
the chosen people filter; groups come newest activity first (their newest proposal's email).
A group's `version` changes whenever its members do, so a decision can refuse a changed group.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from peewee import JOIN, ModelSelect, fn

from appsrc.store.db import database, is_sqlite
from appsrc.store.models import (
    ActivityProposal,
    Contact,
    Email,
    EmailAccount,
    EmailAccountMessage,
    Investor,
    User,
)
from appsrc.store.queries.activity import KEY_SCALE, decode_time_cursor, live_mailboxes_of, time_key
from appsrc.store.queries.common import MAX_LIMIT, QueryError, check_ids, encode_cursor, is_row_id, iso
from appsrc.store.queries.gmail_links import gmail_thread_url

PEOPLE = ("all", "known", "new")  # every sender, contacts on record, new people
GROUP_BY = ("thread", "investor")
MAX_GROUP = 2000  # members a preview lists and one decision covers
MAX_KEY_LENGTH = 255  # email.thread_key's column

GroupRow = tuple[str, int, int, int]  # group key, newest proposal id, known contacts, new people


def list_proposals(*, status: str | None = "pending", limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Proposals for `GET /api/proposals` (see `proposal_queue`)."""
    return proposal_queue(status=status, limit=limit, cursor=cursor)


def pending_proposal_count() -> int:
    """The nav badge's figure, polled by every open admin page."""
    count: int
    if is_sqlite():
        count = database.execute_sql("SELECT count(*) FROM pending_proposal").fetchone()[0]
    else:
        count = ActivityProposal.select().where(ActivityProposal.status == "pending").count()
    return count


# -- proposals ------------------------------------------------------------------------------------------
def proposal_query() -> ModelSelect:
    return (
        ActivityProposal.select(
            ActivityProposal,
            Email.message_id,
            Email.subject,
            Email.sent_at,
            Email.from_email,
            Email.from_name,
            Email.snippet,
            Investor.name.alias("investor_name"),
            Investor.graveyard.alias("investor_graveyard"),
            Contact.name.alias("contact_name"),
            User.email.alias("decided_by_email"),
        )
        .join(Email)
        .switch(ActivityProposal)
        .join(Investor)
        .switch(ActivityProposal)
        .join(Contact, join_type=JOIN.LEFT_OUTER, on=(ActivityProposal.contact == Contact.id))
        .switch(ActivityProposal)
        .join(User, join_type=JOIN.LEFT_OUTER, on=(ActivityProposal.decided_by == User.id))
    )


def proposal_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "email_id": r["email"],
        "message_id": r["message_id"],
        "subject": r["subject"],
        "snippet": r["snippet"],
        "sent_at": iso(r["sent_at"]),
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
        "created_at": iso(r["created_at"]),
        "decided_at": iso(r["decided_at"]),
        "decided_by": r["decided_by_email"],
    }


def check_people(people: object) -> str:
    """`people` as a filter: all (also for None or ""), known or new; QueryError otherwise."""
    if people in (None, ""):
        return "all"
    if people not in PEOPLE:
        raise QueryError("people must be all, known or new", "people")
    return str(people)


def _with_people(query: ModelSelect, people: str) -> ModelSelect:
    if people == "known":
        return query.where(ActivityProposal.contact.is_null(False))
    if people == "new":
        return query.where(ActivityProposal.contact.is_null(True))
    return query


def _pending_page(
    investor_id: int | None, after: tuple[datetime, int] | None, limit: int, people: str = "all"
) -> list[dict[str, Any]]:
    """SQLite: a page of the pending queue read from `pending_proposal` (migrations 0005, 0020),
    newest email first, stopping after the page (not every pending proposal joined and sorted)."""
    sql, params = "SELECT proposal_id FROM pending_proposal WHERE 1", []
    if investor_id is not None:
        sql += " AND investor_id = ?"
        params.append(investor_id)
    if people != "all":
        sql += " AND new_person = ?"
        params.append(int(people == "new"))
    if after:
        sql += " AND key < ?"
        params.append(time_key(*after))
    ordered = [i for (i,) in database.execute_sql(f"{sql} ORDER BY key DESC LIMIT ?", (*params, limit)).fetchall()]
    found = {r["id"]: r for r in proposal_query().where(ActivityProposal.id.in_(ordered)).dicts()}
    return [found[i] for i in ordered if i in found]


def proposal_queue(
    *,
    status: str | None = "pending",
    investor_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
    people: str | None = "all",
) -> dict[str, Any]:
    """Proposals newest email first, with the mailboxes that saw each email (keyset paging);
    `people` keeps known contacts or new people only. On SQLite the pending queue orders emails
    of the same second by proposal id."""
    if status not in (None, "", "pending", "approved", "rejected"):
        raise QueryError("status must be pending, approved or rejected", "status")
    check_ids(investor_id=investor_id)
    people = check_people(people)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    if status == "pending" and is_sqlite():
        rows = _pending_page(investor_id, after, limit + 1, people)
    else:
        query = _with_people(proposal_query(), people)
        if status:
            query = query.where(ActivityProposal.status == status)
        if investor_id is not None:
            query = query.where(ActivityProposal.investor == investor_id)
        if after:
            sent_at, last_id = after
            query = query.where(
                (Email.sent_at < sent_at) | ((Email.sent_at == sent_at) & (ActivityProposal.id < last_id))
            )
        rows = list(query.order_by(Email.sent_at.desc(), ActivityProposal.id.desc()).limit(limit + 1).dicts())
    more = len(rows) > limit
    rows = rows[:limit]
    mailboxes = live_mailboxes_of(list({r["email"] for r in rows}))
    items = []
    for r in rows:
        item = proposal_row(r)
        item["mailboxes"] = mailboxes.get(r["email"], [])
        items.append(item)
    return {
        "items": items,
        "next_cursor": encode_cursor(rows[-1]["sent_at"].isoformat(), rows[-1]["id"]) if more else None,
    }


def proposal(proposal_id: int) -> dict[str, Any] | None:
    if not is_row_id(proposal_id):
        return None
    row = proposal_query().where(ActivityProposal.id == proposal_id).dicts().first()
    if row is None:
        return None
    item = proposal_row(row)
    item["mailboxes"] = live_mailboxes_of([row["email"]]).get(row["email"], [])
    return item


def proposal_investors() -> list[dict[str, Any]]:
    """Investors with pending proposals and how many: the approval queue's filter (on SQLite
    from migration 0005's per-investor counts, not a count of every pending proposal)."""
    if is_sqlite():
        counts = dict(
            database.execute_sql("SELECT investor_id, pending FROM pending_proposal_count WHERE pending > 0").fetchall()
        )
        rows = (
            (
                Investor.select(Investor.id, Investor.name)
                .where(Investor.id.in_(list(counts)))
                .order_by(Investor.name)
                .tuples()
            )
            if counts
            else []
        )
        return [{"id": i, "name": n, "pending": counts[i]} for i, n in rows]
    rows = (
        ActivityProposal.select(Investor.id, Investor.name, fn.COUNT(ActivityProposal.id))
        .join(Investor)
        .where(ActivityProposal.status == "pending")
        .group_by(Investor.id, Investor.name)
        .order_by(Investor.name)
        .tuples()
    )
    return [{"id": i, "name": n, "pending": c} for i, n, c in rows]


# -- groups ---------------------------------------------------------------------------------------------
def check_group(by: object, key: object) -> tuple[str, str]:
    """A group's identity: `by` thread or investor, `key` its thread key or investor id."""
    if by not in GROUP_BY:
        raise QueryError("by must be thread or investor", "by")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise QueryError(f"key must be a thread key or an investor id (1 to {MAX_KEY_LENGTH} characters)", "key")
    if by == "investor" and not (key.isdigit() and is_row_id(int(key))):
        raise QueryError("key must be an investor id for by=investor", "key")
    return str(by), key


def _group_member(by: str, key: str) -> Any:
    if by == "thread":
        return Email.thread_key == key
    return ActivityProposal.investor == int(key)


def _group_of(by: str, row: dict[str, Any]) -> str:
    return str(row["thread_key"]) if by == "thread" else str(row["investor"])


def _newest_pages_sqlite(by: str, people: str, after: tuple[datetime, int] | None, limit: int) -> list[GroupRow]:
    """SQLite: (group key, newest proposal id, known, new) newest first, from migration 0020's
    `pending_group`: an index walk that stops after the page."""
    column = {"all": "latest", "known": "latest_known", "new": "latest_new"}[people]
    sql = f"SELECT group_key, {column}, known, new FROM pending_group WHERE grouping = ? AND {column} IS NOT NULL"
    params: list[Any] = [by]
    if after:
        sql += f" AND {column} < ?"
        params.append(time_key(*after))
    rows = database.execute_sql(f"{sql} ORDER BY {column} DESC LIMIT ?", (*params, limit)).fetchall()
    return [(k, latest % KEY_SCALE, known, new) for k, latest, known, new in rows]


def _newest_pages_postgres(by: str, people: str, after: tuple[datetime, int] | None, limit: int) -> list[GroupRow]:
    """PostgreSQL: the same page from the proposals themselves (its planner does the grouping)."""
    group = "e.thread_key" if by == "thread" else "CAST(p.investor_id AS TEXT)"
    people_sql = {"all": "", "known": " AND p.contact_id IS NOT NULL", "new": " AND p.contact_id IS NULL"}[people]
    sql = (
        f"WITH newest AS (SELECT DISTINCT ON ({group}) {group} AS g, p.id AS id, e.sent_at AS sent_at "
        f"FROM activity_proposal p JOIN email e ON e.id = p.email_id WHERE p.status = 'pending'{people_sql} "
        f"ORDER BY {group}, e.sent_at DESC, p.id DESC) SELECT g, id FROM newest"
    )
    params: list[Any] = []
    if after:
        sql += " WHERE (sent_at, id) < (%s, %s)"
        params += [after[0], after[1]]
    page = database.execute_sql(f"{sql} ORDER BY sent_at DESC, id DESC LIMIT %s", (*params, limit)).fetchall()
    if not page:
        return []
    counts = {
        g: (known, new)
        for g, known, new in database.execute_sql(
            f"SELECT {group}, count(*) FILTER (WHERE p.contact_id IS NOT NULL), count(*) FILTER "
            f"(WHERE p.contact_id IS NULL) FROM activity_proposal p JOIN email e ON e.id = p.email_id "
            f"WHERE p.status = 'pending' AND {group} IN ({', '.join(['%s'] * len(page))}) GROUP BY {group}",
            [g for g, _id in page],
        ).fetchall()
    }
    return [(g, i, *counts.get(g, (0, 0))) for g, i in page]


def _group_item(by: str, people: str, key: str, newest: dict[str, Any], known: int, new: int) -> dict[str, Any]:
    count = {"all": known + new, "known": known, "new": new}[people]
    label = (newest["subject"] or "(no subject)") if by == "thread" else newest["investor_name"]
    return {
        "key": key,
        "by": by,
        "people": people,
        "label": label,
        "investor": {"id": newest["investor"], "name": newest["investor_name"]},
        "count": count,
        "latest_sent_at": iso(newest["sent_at"]),
        "latest_from": newest["from_email"],
        "new_people": new,
        "known_contacts": known,
    }


def approval_groups(
    *, by: str = "thread", people: str | None = "all", limit: int = 25, cursor: str | None = None
) -> dict[str, Any]:
    """The pending queue as groups (one conversation or one investor), newest activity first,
    keyset-paged. `count` is the group's members in the `people` filter; `known_contacts` and
    `new_people` split the whole group. A thread group's `investor` is its newest proposal's."""
    if by not in GROUP_BY:
        raise QueryError("by must be thread or investor", "by")
    people = check_people(people)
    limit = max(1, min(int(limit), MAX_LIMIT))
    after = decode_time_cursor(cursor) if cursor else None
    read = _newest_pages_sqlite if is_sqlite() else _newest_pages_postgres
    page = read(by, people, after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    newest = (
        {
            r["id"]: r
            for r in proposal_query()
            .select_extend(Email.thread_key)
            .where(ActivityProposal.id.in_([i for _k, i, _kn, _n in page]))
            .dicts()
        }
        if page
        else {}
    )
    items = [_group_item(by, people, key, newest[i], known, new) for key, i, known, new in page if i in newest]
    last = newest.get(page[-1][1]) if page else None
    return {
        "items": items,
        "next_cursor": encode_cursor(last["sent_at"].isoformat(), last["id"]) if more and last else None,
    }


def _version(member_ids: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(member_ids))).encode()).hexdigest()[:16]


def _thread_gmail_url(email_ids: list[int]) -> str | None:
    """The conversation in Gmail, as the first live mailbox (by address) that holds any of it."""
    if not email_ids:
        return None
    row = (
        EmailAccountMessage.select(EmailAccount.address, EmailAccountMessage.gmail_thread_id)
        .join(EmailAccount)
        .where(EmailAccountMessage.email.in_(email_ids) & EmailAccountMessage.deleted_at.is_null())
        .order_by(EmailAccount.address, EmailAccountMessage.id)
        .tuples()
        .first()
    )
    return gmail_thread_url(row[0], row[1]) if row else None


def approval_group(by: str, key: str, people: str | None = "all") -> dict[str, Any]:
    """Exactly what deciding one group covers now: its pending members newest first (sender,
    subject, date, contact or new person), their ids and a `version` of them. `too_large` when
    the group has more than MAX_GROUP members (then it is decided in smaller groups)."""
    by, key = check_group(by, key)
    people = check_people(people)
    query = (
        _with_people(proposal_query().select_extend(Email.thread_key), people)
        .where((ActivityProposal.status == "pending") & _group_member(by, key))
        .order_by(Email.sent_at.desc(), ActivityProposal.id.desc())
        .limit(MAX_GROUP + 1)
    )
    rows = list(query.dicts())
    too_large = len(rows) > MAX_GROUP
    rows = rows[:MAX_GROUP]
    items = [proposal_row(r) for r in rows]
    member_ids = [i["id"] for i in items]
    label = None
    if rows:
        label = (rows[0]["subject"] or "(no subject)") if by == "thread" else rows[0]["investor_name"]
    elif by == "investor":
        label = Investor.select(Investor.name).where(Investor.id == int(key)).scalar()
    return {
        "by": by,
        "key": key,
        "people": people,
        "label": label,
        "count": len(items),
        "too_large": too_large,
        "member_ids": member_ids,
        "version": _version(member_ids),
        "new_people": sum(1 for i in items if i["new_contact"]),
        "known_contacts": sum(1 for i in items if not i["new_contact"]),
        "thread_id": key if by == "thread" else None,
        "gmail_url": _thread_gmail_url([r["email"] for r in rows]) if by == "thread" else None,
        "items": items,
    }
