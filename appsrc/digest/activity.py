"""What happened in a digest window: two reads from the store, then two pure pivots.

`load_window` reads, in a handful of queries, the live sightings of the window's emails held by
active users' mailboxes and those emails' investor links. `collect_user_activity` and
`collect_investor_activity` turn that snapshot into the digest's two sections without touching
the database, so both sections describe exactly the same state.

Rules:
- Soft delete: only sightings with `deleted_at IS NULL` count, and only in mailboxes of active
  users (`users.is_active`); an email no such sighting holds is not in the digest at all.
- By team member: per mailbox, direction from the sighting (`is_sent`).
- By investor: deduped per email (a reply to several teammates counts once); direction at the
  email level (`appsrc.matching.direction`).
- Names: a soft-deleted investor or contact is never named; its line falls back to the address
  the matcher matched (`EmailInvestorLink.matched_address`).
- Bulk mail (newsletters, automated senders; `Email.is_bulk`) is left out of both sections.
- Waiting on us: the conversations whose investor has waited on the team's reply, read through
  the one rule (`store/queries/awaiting.py`) at the window's end (`load_waiting`).

The window: an email belongs to `(since, until]` when its `sent_at` is in it, or when it was sent
a little before `since` (up to `LATE_CAPTURE`) but only captured after `since` — so mail that
sync picks up minutes after a digest went out lands in the next one instead of in none. With
contiguous windows every email lands in exactly one digest (by its first capture).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from peewee import JOIN

from appsrc.clock import utc
from appsrc.matching.direction import OUTBOUND, direction_of
from appsrc.store.db import database
from appsrc.store.models import (
    Contact,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
    User,
)
from appsrc.store.queries.awaiting import awaiting_cases
from appsrc.store.queries.common import own_mailbox_addresses

LATE_CAPTURE = timedelta(days=3)


@dataclass(slots=True)
class EmailRow:
    id: int
    sent_at: datetime
    subject: str
    from_email: str
    from_name: str
    to_json: str  # the `to` column as stored; parsed only where a sent item needs it
    snippet: str

    @property
    def to(self) -> tuple[tuple[str, str], ...]:
        """(address, name) of each To recipient."""
        try:
            people = json.loads(self.to_json or "[]")
        except ValueError:
            return ()
        return tuple(
            (str(p.get("email") or "").lower(), str(p.get("name") or "")) for p in people if isinstance(p, dict)
        )


@dataclass(frozen=True)
class LinkRow:
    email_id: int
    investor_id: int
    investor_name: str | None  # None when the investor is soft-deleted
    graveyard: bool
    contact_name: str | None  # None when no contact, or the contact is soft-deleted
    matched_address: str
    graveyard_since: datetime | None = None


@dataclass(frozen=True)
class TeamMember:
    id: int
    name: str
    email: str

    @property
    def label(self) -> str:
        return self.name or self.email


@dataclass
class WindowData:
    """A consistent snapshot of one window: active users, their live sightings, emails, links."""

    since: datetime
    until: datetime
    users: list[TeamMember]
    sightings: dict[tuple[int, int], bool]  # (email_id, user_id) -> sent from that user's mailbox
    emails: dict[int, EmailRow]
    links: list[LinkRow]
    own_addresses: frozenset[str]


def window_condition(since: datetime, until: datetime):
    """Peewee condition on `Email` for the window (see the module docstring)."""
    return (
        (Email.sent_at > since - LATE_CAPTURE)
        & (Email.sent_at <= until)
        & ((Email.sent_at > since) | (Email.captured_at > since))
        & (Email.captured_at <= until)
        & ~Email.is_bulk
    )


def _utc(value: str | datetime) -> datetime:
    """A raw datetime column (never NULL here): text on SQLite (naive UTC), a datetime on
    PostgreSQL."""
    if isinstance(value, datetime):
        return utc(value)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _raw_rows(query) -> list[tuple]:
    """Rows without peewee's per-value conversion, which costs more than the query itself here
    (thousands of rows per digest); the few conversions needed are done by the caller."""
    sql, params = query.sql()
    return database.execute_sql(sql, params).fetchall()


def load_window(since: datetime, until: datetime, own_addresses: frozenset[str] | None = None) -> WindowData:
    users = [
        TeamMember(i, n or "", e)
        for i, n, e in User.select(User.id, User.name, User.email)
        .where(User.is_active)
        .order_by(User.name, User.email)
        .tuples()
    ]
    sightings: dict[tuple[int, int], bool] = {}
    emails: dict[int, EmailRow] = {}
    query = (
        EmailAccountMessage.select(
            EmailAccountMessage.email,
            EmailAccount.user,
            EmailAccountMessage.is_sent,
            Email.sent_at,
            Email.subject,
            Email.from_email,
            Email.from_name,
            Email.to,
            Email.snippet,
        )
        .join(Email)
        .switch(EmailAccountMessage)
        .join(EmailAccount)
        .join(User)
        .where(window_condition(since, until) & EmailAccountMessage.deleted_at.is_null() & User.is_active)
    )
    for email_id, user_id, is_sent, sent_at, subject, from_email, from_name, to, snippet in _raw_rows(query):
        key = (email_id, user_id)
        sightings[key] = sightings.get(key, False) or bool(is_sent)
        if email_id not in emails:
            emails[email_id] = EmailRow(
                email_id,
                _utc(sent_at),
                subject or "",
                (from_email or "").lower(),
                from_name or "",
                to or "[]",
                snippet or "",
            )
    links: list[LinkRow] = []
    if emails:
        in_window = Email.select(Email.id).where(window_condition(since, until))
        query = (
            EmailInvestorLink.select(
                EmailInvestorLink.email,
                Investor.id,
                Investor.name,
                Investor.graveyard,
                Investor.deleted_at,
                Contact.name,
                Contact.deleted_at,
                EmailInvestorLink.matched_address,
                Investor.graveyard_since,
            )
            .join(Investor)
            .switch(EmailInvestorLink)
            .join(Contact, JOIN.LEFT_OUTER)
            .where(EmailInvestorLink.email.in_(in_window))
        )
        for (
            email_id,
            investor_id,
            name,
            graveyard,
            deleted,
            contact_name,
            contact_deleted,
            matched,
            graveyard_since,
        ) in _raw_rows(query):
            if email_id not in emails:
                continue  # no live sighting in an active user's mailbox
            links.append(
                LinkRow(
                    email_id,
                    investor_id,
                    None if deleted is not None else name,
                    bool(graveyard),
                    contact_name if contact_name and contact_deleted is None and deleted is None else None,
                    (matched or "").lower(),
                    _utc(graveyard_since) if graveyard_since is not None else None,
                )
            )
    if own_addresses is None:
        own_addresses = own_mailbox_addresses()
    return WindowData(since, until, users, sightings, emails, links, frozenset(own_addresses))


# -- waiting on us ------------------------------------------------------------------------------------
MAX_WAITING = 30


@dataclass(frozen=True)
class WaitingCase:
    """One conversation waiting on the team's reply."""

    investor: str
    graveyard: bool
    contact: str  # the contact's (or sender's) name, else their address
    contact_email: str
    subject: str
    business_days: int


@dataclass(frozen=True)
class Waiting:
    """The longest waits (at most `MAX_WAITING`), how many there are, and on how many LPs."""

    cases: tuple[WaitingCase, ...] = ()
    total: int = 0
    lps: int = 0


def load_waiting(now: datetime, tz_name: str) -> Waiting:
    """Who waits on the team's reply at `now` (the digest passes its window's end)."""
    result = awaiting_cases(now, tz_name, limit=MAX_WAITING)
    cases = tuple(
        WaitingCase(
            item["investor"]["name"] if item["investor"] else item["contact_email"],
            bool(item["investor"] and item["investor"]["graveyard"]),
            item["contact_name"] or item["contact_email"],
            item["contact_email"],
            item["subject"],
            item["business_days"],
        )
        for item in result["items"]
    )
    return Waiting(cases, result["total"], result["lp_count"])


# -- by team member ---------------------------------------------------------------------------------
@dataclass(slots=True)
class UserItem:
    email_id: int
    sent_at: datetime
    direction: str  # "sent" | "received" (from this user's own mailbox)
    subject: str
    counterpart: str  # who it was from (received) or to (sent)
    investors: tuple[str, ...]
    snippet: str


@dataclass
class UserActivity:
    user: TeamMember
    sent: int = 0
    received: int = 0
    items: list[UserItem] = field(default_factory=list)  # oldest first
    investors: list[str] = field(default_factory=list)  # labels, most mentioned first

    @property
    def total(self) -> int:
        return self.sent + self.received


def _person(address: str, name: str) -> str:
    return f"{name} <{address}>" if name and name.lower() != address else address


def _labels_by_email(links: list[LinkRow]) -> dict[int, tuple[str, ...]]:
    """Each email's investor labels (name, or the matched address when soft-deleted), in order."""
    found: dict[int, dict[str, None]] = defaultdict(dict)
    for link in links:
        label = link.investor_name or link.matched_address
        if label:
            found[link.email_id][label] = None
    return {email_id: tuple(labels) for email_id, labels in found.items()}


def collect_user_activity(data: WindowData) -> list[UserActivity]:
    """Every active user (in name order), with their own mailbox's sent and received mail."""
    labels = _labels_by_email(data.links)
    by_user = {u.id: UserActivity(u) for u in data.users}
    for (email_id, user_id), is_sent in data.sightings.items():
        activity = by_user.get(user_id)
        if activity is None:
            continue
        email = data.emails[email_id]
        if is_sent:
            activity.sent += 1
            recipients = email.to
            others = [p for p in recipients if p[0] != activity.user.email] or list(recipients)
            counterpart = ", ".join(_person(a, n) for a, n in others[:3]) + (" …" if len(others) > 3 else "")
        else:
            activity.received += 1
            counterpart = _person(email.from_email, email.from_name)
        activity.items.append(
            UserItem(
                email_id,
                email.sent_at,
                "sent" if is_sent else "received",
                email.subject,
                counterpart,
                labels.get(email_id, ()),
                email.snippet,
            )
        )
    for activity in by_user.values():
        activity.items.sort(key=lambda i: (i.sent_at, i.email_id))
        counts = Counter(label for item in activity.items for label in item.investors)
        activity.investors = sorted(counts, key=lambda label: (-counts[label], label.lower()))
    return [by_user[u.id] for u in data.users]


# -- by investor ------------------------------------------------------------------------------------
@dataclass(slots=True)
class InvestorItem:
    email_id: int
    sent_at: datetime
    direction: str  # "inbound" | "outbound" (email level)
    subject: str
    sender: str
    contacts: tuple[str, ...]  # the matched contacts' names, or their addresses
    team: tuple[str, ...]  # the active team members whose mailboxes hold it live


@dataclass
class InvestorActivity:
    key: str  # "investor:<id>", or "address:<matched address>" when the investor is soft-deleted
    name: str
    graveyard: bool = False
    inbound: int = 0
    outbound: int = 0
    returned: int = 0  # emails a graveyard investor's own people sent after the move
    items: list[InvestorItem] = field(default_factory=list)  # newest first

    @property
    def total(self) -> int:
        return self.inbound + self.outbound

    @property
    def back_from_graveyard(self) -> bool:
        """A graveyard investor who wrote to the team in this window: news worth a line (the
        matcher's rule for a return proposal: their own address sent it, after the move)."""
        return self.graveyard and self.returned > 0


def _returned(link: LinkRow, email: EmailRow) -> bool:
    since = link.graveyard_since
    return email.from_email == link.matched_address and (since is None or email.sent_at > since)


def collect_investor_activity(data: WindowData) -> list[InvestorActivity]:
    """One entry per investor (busiest first), each email once, direction at the email level."""
    labels = {u.id: u.label for u in data.users}
    team_of: dict[int, list[str]] = defaultdict(list)
    for email_id, user_id in data.sightings:
        team_of[email_id].append(labels.get(user_id, "?"))
    grouped: dict[str, dict[int, list[LinkRow]]] = defaultdict(lambda: defaultdict(list))
    meta: dict[str, tuple[str, bool]] = {}
    for link in data.links:
        if link.investor_name is not None:
            key, name = f"investor:{link.investor_id}", link.investor_name
        else:
            key, name = f"address:{link.matched_address}", link.matched_address
        grouped[key][link.email_id].append(link)
        meta[key] = (name, link.graveyard and link.investor_name is not None)
    team_cache: dict[int, tuple[str, ...]] = {}
    result = []
    for key, by_email in grouped.items():
        name, graveyard = meta[key]
        activity = InvestorActivity(key, name, graveyard)
        for email_id, links in by_email.items():
            email = data.emails[email_id]
            direction = direction_of(email.from_email, data.own_addresses)
            if direction == OUTBOUND:
                activity.outbound += 1
            else:
                activity.inbound += 1
                if graveyard and any(_returned(link, email) for link in links):
                    activity.returned += 1
            team = team_cache.get(email_id)
            if team is None:
                team = team_cache[email_id] = tuple(sorted(team_of.get(email_id, ()), key=str.lower))
            contacts = tuple(dict.fromkeys(link.contact_name or link.matched_address for link in links))
            activity.items.append(
                InvestorItem(
                    email_id,
                    email.sent_at,
                    direction,
                    email.subject,
                    _person(email.from_email, email.from_name),
                    contacts,
                    team,
                )
            )
        activity.items.sort(key=lambda i: (i.sent_at, i.email_id), reverse=True)
        result.append(activity)
    result.sort(key=lambda a: (-a.total, a.name.lower()))
    return result
