"""Which investors are waiting on the fund's reply: the one rule, read by the API, the dashboard's
page and Overview card, and the digest.

**A case** is a conversation (`email.thread_key`, the same in every mailbox) holding an
*open* message: an email linked to an investor (`EmailInvestorLink`, to an investor that is not
deleted; graveyard investors count like any other) sent from outside the fund (inbound by the
direction rule: its sender is not a team mailbox), not bulk, held live by at least one mailbox
the desk captures, and sent after the last email a teammate wrote in that conversation. A case is listed once its
oldest open message (`waiting_since`) has waited at least `business_days` business days (the
policy, default 2).

- **A reply ends it.** Any email from a team mailbox in the conversation, sent after the open
  messages, closes them, as soon as capture stores it: there is nothing to click. A reply counts
  even when its mailbox later deleted it: it was sent. Only mail the teammates' mailboxes hold
  is seen, so a reply from outside the team's mailboxes is not.
- **Handled** (an admin's mark) closes the open messages sent up to the newest one at the time of
  marking (`covers_through`); a newer inbound message reopens the case, waiting from that one.
- **Snoozed** until a day covers the same messages until that day's local midnight; then they
  are back if still unanswered (a reply meanwhile ends the case as usual). A newer inbound
  message is not covered: the investor writing again ends the snooze, as in Gmail.
- Bulk mail never waits; deleted mail (no live sighting) never waits; mail of a deleted
  investor never waits.
- **Only captured mailboxes count** (`capturing_mailboxes`: not paused or removed, their owner
  active). The desk sees a teammate's reply only in a mailbox it captures, so mail held only by
  a paused mailbox or a deactivated teammate's would wait for ever; it is not listed.

**Business days** are counted in the fund's time zone, Monday to Friday, on the local wall
clock, with no holidays: each weekday is one business day long, and a weekend adds nothing. A
message waits from its local send time; one sent on a Saturday or a Sunday starts waiting on
Monday at 00:00. So a message sent on Friday at 19:00 has waited 1 business day on Monday at
19:00 and 2 on Tuesday at 19:00 (and still 1 on Tuesday at 08:00); a message of Saturday has
waited 2 on Wednesday at 00:00. Wall-clock counting means a daylight-saving change does not
move the boundary: 09:00 to 09:00 is one day even on a 23- or 25-hour day. The local date is
the one that counts: a message sent at 23:30 on a Friday in New York (Saturday 03:30 UTC) was
sent on a Friday.

**Bounded:** only messages sent within the policy's `lookback_days` (default 14) are read: an
investor who has waited longer than that drops off the list. A first backfill brings years of
mail, much of it never needing an answer ("thanks!"), and the list is for what is still
actionable; admins widen the window when they want more. Every reply that can close one of
those messages was sent later, so inside the same window: the database reads the window's
emails from a covering index and returns only the unanswered inbound ones, then index lookups
check their links and mailboxes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple, TypedDict
from zoneinfo import ZoneInfo

from peewee import chunked

from appsrc.clock import utc
from appsrc.store.db import database, placeholder
from appsrc.store.models import AppSetting
from appsrc.store.queries.common import OUTBOUND_SQL, iso
from appsrc.store.queries.gmail_links import live_gmail_links
from appsrc.store.queries.mailboxes import capturing_mailboxes

POLICY_KEY = "awaiting_reply_policy"
DEFAULT_BUSINESS_DAYS = 2
DEFAULT_LOOKBACK_DAYS = 14
BUSINESS_DAYS_RANGE = (1, 20)
LOOKBACK_DAYS_RANGE = (7, 365)
MAX_ITEMS = 200
_EPOCH_MONDAY = date(1970, 1, 5)  # business positions count from this Monday


class AwaitingPolicy(TypedDict):
    business_days: int
    lookback_days: int


# -- the policy (written by `crm.awaiting`) -----------------------------------------------------
def min_lookback_days(business_days: int) -> int:
    """The shortest lookback in which a message can wait `business_days` (its weekends, and a
    margin of three days)."""
    return math.ceil(business_days * 7 / 5) + 3


def awaiting_policy() -> AwaitingPolicy:
    """The stored policy, each value falling back to its default when unset or out of range."""
    row = AppSetting.get_or_none(AppSetting.key == POLICY_KEY)
    stored = row.value if row is not None and isinstance(row.value, dict) else {}
    days = stored.get("business_days")
    if type(days) is not int or not BUSINESS_DAYS_RANGE[0] <= days <= BUSINESS_DAYS_RANGE[1]:
        days = DEFAULT_BUSINESS_DAYS
    lookback = stored.get("lookback_days")
    if type(lookback) is not int or not LOOKBACK_DAYS_RANGE[0] <= lookback <= LOOKBACK_DAYS_RANGE[1]:
        lookback = DEFAULT_LOOKBACK_DAYS
    return {"business_days": days, "lookback_days": max(lookback, min_lookback_days(days))}


# -- business days (pure) -----------------------------------------------------------------------
def business_position(moment: datetime, tz: ZoneInfo) -> float:
    """Business days from the epoch Monday to `moment`, on the local wall clock: a weekday adds
    its elapsed fraction, a weekend moment sits at the next Monday's midnight."""
    local = utc(moment).astimezone(tz)
    weeks, weekday = divmod((local.date() - _EPOCH_MONDAY).days, 7)
    whole = weeks * 5 + min(weekday, 5)
    if weekday >= 5:
        return float(whole)
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return whole + seconds / 86400


def business_days_waited(sent_at: datetime, now: datetime, tz: ZoneInfo) -> int:
    """Whole business days between `sent_at` and `now` (0 when `now` is not later)."""
    return max(0, math.floor(business_position(now, tz) - business_position(sent_at, tz) + 1e-9))


def waiting_cutoff(now: datetime, tz: ZoneInfo, business_days: int) -> datetime:
    """The latest send time that has waited `business_days` by `now` (UTC): a message waits at
    least that long iff it was sent at or before this instant (waiting grows with age)."""
    target = business_position(now, tz) - business_days
    whole = math.floor(target + 1e-9)
    seconds = min(86_399.999999, max(0.0, (target - whole) * 86400))
    weeks, weekday = divmod(whole, 5)
    day = _EPOCH_MONDAY + timedelta(weeks=weeks, days=weekday)
    wall = (datetime.min + timedelta(seconds=round(seconds, 6))).time()  # the local time of day
    return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of a local day, in UTC."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


# -- the read -----------------------------------------------------------------------------------
def _stamp(moment: datetime) -> str:
    """A datetime as the store writes it (naive UTC text), for raw SQL parameters."""
    return utc(moment).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _instant(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


# The conversation of an email: its key, or the email alone when it has none (mail stored before
# conversations were keyed, and never rekeyed, must not all fall into one conversation).
THREAD_SQL = "CASE WHEN e.thread_key = '' THEN 'email:' || e.id ELSE e.thread_key END"


def _key(value: str | datetime) -> str:
    """A raw datetime column as the store's naive UTC text, so values compare as the instants
    they stand for (SQLite returns that text; PostgreSQL a naive UTC datetime)."""
    return value if isinstance(value, str) else _stamp(value)


def _unanswered_sql(one_thread: str | None) -> str:
    """The window's inbound, non-bulk emails that no teammate's email in the window follows in
    their conversation: (id, conversation, sent_at). The window is read twice from the covering
    index `email_awaiting` (once for each conversation's last outbound email); only the
    unanswered rows leave the database."""
    p = placeholder()
    outbound = OUTBOUND_SQL.format(sender="e.from_email")
    thread = f" AND {one_thread} = {p}" if one_thread else ""
    window = f"e.sent_at > {p} AND e.sent_at <= {p} AND NOT e.is_bulk{thread}"
    return (
        f"SELECT e.id, {THREAD_SQL}, e.sent_at FROM email e "
        f"LEFT JOIN (SELECT {THREAD_SQL} AS conversation, max(e.sent_at) AS answered_at FROM email e "
        f"WHERE {window} AND {outbound} GROUP BY 1) o ON o.conversation = {THREAD_SQL} "
        f"WHERE {window} AND NOT ({outbound}) AND (o.answered_at IS NULL OR e.sent_at > o.answered_at)"
    )


def _batched(sql: str, ids: list[int]) -> list[tuple[Any, ...]]:
    """`sql` with `{ids}` filled by a chunk of ids, for every chunk (sorted ids: ordered seeks)."""
    rows: list[tuple[Any, ...]] = []
    for chunk in chunked(sorted(set(ids)), 900):
        rows += database.execute_sql(sql.format(ids=_in(chunk)), list(chunk)).fetchall()
    return rows


class OpenMail(NamedTuple):
    """The cases: each one's open messages, (email id, sent_at) oldest first, by thread key;
    and the investors those messages are linked to."""

    cases: dict[str, list[tuple[int, Any]]]
    investors: set[int]


def _open_mail(now: datetime, tz: ZoneInfo, policy: AwaitingPolicy, thread_key: str | None = None) -> OpenMail:
    """The rule, in four steps: the window's emails; per conversation, the inbound messages after
    its last outbound one and its handled mark, unless it is snoozed; only conversations whose
    oldest such message is old enough; of those messages, the ones linked to an investor that is
    not deleted and held live by a mailbox (a conversation whose old message fails that may
    still wait from a later one, if that is old enough)."""
    since = now - timedelta(days=policy["lookback_days"])
    # Exact: waiting only grows with age, so "waited long enough" is "sent by the cutoff".
    cutoff = _stamp(waiting_cutoff(now, tz, policy["business_days"]))
    params: list[Any] = [_stamp(since), _stamp(now)]
    one_thread = None
    if thread_key is not None:  # one conversation: by its key, or its only email's id
        alone = thread_key.startswith("email:") and thread_key[6:].isdigit()
        one_thread = "e.id" if alone else "e.thread_key"
        params.append(int(thread_key[6:]) if alone else thread_key)
    rows = [(i, key, _key(sent)) for i, key, sent in database.execute_sql(_unanswered_sql(one_thread), params + params)]
    p = placeholder()
    answered = {  # by an admin's mark: handled, or snoozed and the day not yet come
        key: _key(through)
        for key, through in database.execute_sql(
            f"SELECT thread_key, covers_through FROM awaiting_mark WHERE covers_through > {p} "
            f"AND (state = 'handled' OR snoozed_until > {p})",
            [_stamp(since), _stamp(now)],
        ).fetchall()
    }
    candidates: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for email_id, key, sent in rows:
        if sent > answered.get(key, ""):
            candidates[key].append((email_id, sent))
    ripe = {key: found for key, found in candidates.items() if min(sent for _i, sent in found) <= cutoff}
    ids = [email_id for found in ripe.values() for email_id, _sent in found]
    links: dict[int, set[int]] = defaultdict(set)
    for email_id, investor_id in _batched(
        "SELECT l.email_id, l.investor_id FROM email_investor_link l JOIN investor i ON i.id = l.investor_id "
        "WHERE i.deleted_at IS NULL AND l.email_id IN ({ids})",
        ids,
    ):
        links[email_id].add(investor_id)
    captured = _captured()
    live = {
        email_id
        for email_id, account_id in _batched(
            "SELECT email_id, account_id FROM email_account_message WHERE deleted_at IS NULL AND email_id IN ({ids})",
            [i for i in ids if i in links],
        )
        if account_id in captured
    }
    cases: dict[str, list[tuple[int, Any]]] = {}
    investors: set[int] = set()
    for key, found in ripe.items():
        kept = sorted((sent, email_id) for email_id, sent in found if email_id in live)
        if kept and kept[0][0] <= cutoff:
            cases[key] = [(email_id, sent) for sent, email_id in kept]
            investors.update(i for _sent, email_id in kept for i in links[email_id])
    return OpenMail(cases, investors)


def _captured() -> dict[int, str]:
    """The mailboxes whose replies the desk sees, id to address (a handful: one per teammate)."""
    return {account.id: account.address for account in capturing_mailboxes()}


def _ends(rows: list[tuple[int, Any]]) -> tuple[datetime, datetime]:
    return _instant(rows[0][1]), _instant(rows[-1][1])


def _in(values: Sequence[Any]) -> str:
    return ", ".join([placeholder()] * len(values))


def _links(email_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Each email's links to investors that are not deleted: investor, contact, matched address."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunked(sorted(set(email_ids)), 500):
        sql = (
            "SELECT l.email_id, i.id, i.name, i.graveyard, c.name, c.deleted_at, l.matched_address "
            "FROM email_investor_link l JOIN investor i ON i.id = l.investor_id "
            "LEFT JOIN contact c ON c.id = l.contact_id "
            f"WHERE i.deleted_at IS NULL AND l.email_id IN ({_in(chunk)}) ORDER BY i.name, i.id"
        )
        for email_id, inv_id, name, graveyard, contact, contact_deleted, matched in database.execute_sql(
            sql, list(chunk)
        ).fetchall():
            found[email_id].append(
                {
                    "investor": {"id": inv_id, "name": name, "graveyard": bool(graveyard)},
                    "contact_name": contact if contact_deleted is None else None,
                    "matched_address": (matched or "").lower(),
                }
            )
    return found


def _emails(email_ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
    """(subject, from_email, from_name) by email id."""
    found: dict[int, tuple[str, str, str]] = {}
    for chunk in chunked(sorted(set(email_ids)), 500):
        sql = f"SELECT id, subject, from_email, from_name FROM email WHERE id IN ({_in(chunk)})"
        for email_id, subject, sender, name in database.execute_sql(sql, list(chunk)).fetchall():
            found[email_id] = (subject or "", (sender or "").lower(), name or "")
    return found


def _gmail_links(email_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """(mailbox, Gmail URL) of each email's first captured live mailbox by address (a paused or
    departed teammate's mailbox only when no captured one holds it)."""
    captured = set(_captured().values())
    found: dict[int, tuple[str, str | None]] = {}
    for email_id, held in live_gmail_links(email_ids).items():
        first = next((link for link in held if link["address"] in captured), held[0])
        found[email_id] = (first["address"], first["gmail_url"])
    return found


def _primary(links: list[dict[str, Any]], sender: str) -> dict[str, Any] | None:
    """The sender's own investor link when there is one, else the first by investor name."""
    return next((link for link in links if link["matched_address"] == sender), links[0] if links else None)


def _item(
    thread_key: str,
    rows: list[tuple[int, Any]],
    now: datetime,
    tz: ZoneInfo,
    emails: dict[int, tuple[str, str, str]],
    links: dict[int, list[dict[str, Any]]],
    gmail: dict[int, tuple[str, str | None]],
) -> dict[str, Any]:
    email_id = rows[-1][0]
    since, last_at = _ends(rows)
    subject, sender, sender_name = emails.get(email_id, ("", "", ""))
    case_links = [link for row_id, _at in rows for link in links.get(row_id, [])]
    primary = _primary(links.get(email_id, []), sender) or _primary(case_links, sender)
    investors: dict[int, dict[str, Any]] = {}
    for link in case_links:
        investors.setdefault(link["investor"]["id"], link["investor"])
    mailbox, gmail_url = gmail.get(email_id, (None, None))
    return {
        "email_id": email_id,
        "thread_id": thread_key,
        "investor": primary["investor"] if primary else None,
        "investors": sorted(investors.values(), key=lambda inv: (inv["name"], inv["id"])),
        "contact_email": sender,
        "contact_name": (primary["contact_name"] if primary and primary["contact_name"] else sender_name) or "",
        "subject": subject,
        "waiting_since": iso(since),
        "last_inbound_at": iso(last_at),
        "business_days": business_days_waited(since, now, tz),
        "open_messages": len(rows),
        "mailbox": mailbox,
        "gmail_url": gmail_url,
    }


def _ordered(cases: dict[str, list[tuple[int, Any]]]) -> list[str]:
    """Oldest wait first (ties: the older newest message, then the key)."""
    return sorted(cases, key=lambda key: (cases[key][0][1], cases[key][-1][1], key))


def awaiting_cases(now: datetime, tz_name: str, *, limit: int = MAX_ITEMS) -> dict[str, Any]:
    """`{"items", "total", "lp_count", "truncated", "policy"}`: the cases, oldest wait first,
    at most `limit` of them (`total` counts them all, `lp_count` their distinct investors)."""
    tz = ZoneInfo(tz_name)
    policy = awaiting_policy()
    found = _open_mail(now, tz, policy)
    keys = _ordered(found.cases)
    shown = keys[: max(0, min(limit, MAX_ITEMS))]
    wanted = [row[0] for key in shown for row in found.cases[key]]
    latest = [found.cases[key][-1][0] for key in shown]
    emails, links, gmail = _emails(latest), _links(wanted), _gmail_links(latest)
    return {
        "items": [_item(key, found.cases[key], now, tz, emails, links, gmail) for key in shown],
        "total": len(keys),
        "lp_count": len(found.investors),
        "truncated": len(shown) < len(keys),
        "policy": {**policy, "timezone": tz_name},
    }


def awaiting_summary(now: datetime, tz_name: str) -> dict[str, int]:
    """`{"cases", "lps"}`: how many conversations wait, and on how many investors (the
    Overview card)."""
    found = _open_mail(now, ZoneInfo(tz_name), awaiting_policy())
    return {"cases": len(found.cases), "lps": len(found.investors)}


def awaiting_case(email_id: int, now: datetime, tz_name: str) -> dict[str, Any] | None:
    """The case this email is an open message of, as a list item (None when it is not one)."""
    key = thread_key_of(email_id)
    if key is None:
        return None
    tz = ZoneInfo(tz_name)
    rows = _open_mail(now, tz, awaiting_policy(), thread_key=key).cases.get(key)
    if not rows or email_id not in {r[0] for r in rows}:
        return None
    latest = [rows[-1][0]]
    return _item(key, rows, now, tz, _emails(latest), _links([r[0] for r in rows]), _gmail_links(latest))


def thread_key_of(email_id: int) -> str | None:
    row = database.execute_sql(f"SELECT {THREAD_SQL} FROM email e WHERE e.id = {placeholder()}", [email_id]).fetchone()
    return None if row is None else str(row[0])


def awaiting_marks(now: datetime, *, limit: int = MAX_ITEMS) -> list[dict[str, Any]]:
    """Marks in effect (handled, and snoozes not yet over), newest first, with the email marked.
    `reopened`: someone outside the fund wrote in the conversation after what the mark covers,
    so the mark no longer hides it (the list may show the conversation again)."""
    p = placeholder()
    sql = (
        "SELECT m.thread_key, m.state, m.email_id, m.covers_through, m.snoozed_until, m.created_at, "
        "u.email, e.subject, e.from_email FROM awaiting_mark m "
        'LEFT JOIN email e ON e.id = m.email_id LEFT JOIN "user" u ON u.id = m.created_by_id '
        f"WHERE m.state = 'handled' OR m.snoozed_until > {p} ORDER BY m.created_at DESC, m.id DESC LIMIT {p}"
    )
    rows = database.execute_sql(sql, [_stamp(now), max(0, min(limit, MAX_ITEMS))]).fetchall()
    newest = _newest_inbound([row[0] for row in rows])
    return [
        {
            "thread_id": key,
            "state": state,
            "email_id": email_id,
            "covers_through": iso(_instant(through)) if through else None,
            "snoozed_until": iso(_instant(until)) if until else None,
            "marked_at": iso(_instant(created)),
            "marked_by": by,
            "subject": subject or "",
            "contact_email": (sender or "").lower(),
            "reopened": through is not None and key in newest and newest[key] > _key(through),
        }
        for key, state, email_id, through, until, created, by, subject, sender in rows
    ]


def _newest_inbound(thread_keys: list[str]) -> dict[str, str]:
    """The newest non-bulk email from outside the fund in each conversation, as stored text."""
    found: dict[str, str] = {}
    outbound = OUTBOUND_SQL.format(sender="e.from_email")
    for chunk in chunked(sorted(set(thread_keys)), 500):
        sql = (
            f"SELECT e.thread_key, max(e.sent_at) FROM email e WHERE e.thread_key IN ({_in(chunk)}) "
            f"AND NOT e.is_bulk AND NOT ({outbound}) GROUP BY e.thread_key"
        )
        for key, sent in database.execute_sql(sql, list(chunk)).fetchall():
            found[key] = _key(sent)
    return found
