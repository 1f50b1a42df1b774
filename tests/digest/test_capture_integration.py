"""The digest over real captured mail: a full sync of the simulator's team dataset (every hard
case), then `build_digest` cross-checked against plain SQL written independently of the
builder's queries — including after a soft delete and a deactivated teammate."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from appsrc.digest.activity import collect_investor_activity, collect_user_activity, load_window
from appsrc.digest.builder import build_digest
from appsrc.store.db import database
from appsrc.store.models import EmailAccountMessage, User
from tests.capture.conftest import DATASET_NOW, crm, runtime, team  # noqa: F401  (fixtures)

SINCE = DATASET_NOW - timedelta(days=30)

LIVE = """
    SELECT e.id, a.user_id, s.is_sent, e.from_email FROM email e
    JOIN email_account_message s ON s.email_id = e.id AND s.deleted_at IS NULL
    JOIN email_account a ON a.id = s.account_id
    JOIN user u ON u.id = a.user_id AND u.is_active
    WHERE e.sent_at > ? AND e.sent_at <= ? AND (e.sent_at > ? OR e.captured_at > ?)
      AND e.captured_at <= ? AND NOT e.is_bulk"""


def sql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def expected(until: datetime):
    """Per user (sent, received) and per investor (in, out) by plain SQL: live sightings in active
    users' mailboxes, sent in the window or sent up to 3 days before it and captured after."""
    args = [sql_time(SINCE - timedelta(days=3)), sql_time(until), sql_time(SINCE), sql_time(SINCE), sql_time(until)]
    rows = database.execute_sql(LIVE, args).fetchall()
    users = Counter()
    for _email, user_id, is_sent, _from in {(r[0], r[1], r[2], r[3]) for r in rows}:
        users[(user_id, "sent" if is_sent else "received")] += 1
    own = {a for (a,) in database.execute_sql("SELECT address FROM email_account").fetchall()}
    live_emails = {r[0]: r[3] for r in rows}
    investors = Counter()
    links = database.execute_sql(
        "SELECT l.email_id, i.name, i.deleted_at, l.matched_address FROM email_investor_link l "
        "JOIN investor i ON i.id = l.investor_id"
    ).fetchall()
    for email_id, name, deleted, matched in {(r[0], r[1], r[2], r[3]) for r in links}:
        if email_id in live_emails:
            label = matched if deleted else name
            investors[(label, "out" if live_emails[email_id] in own else "in")] += 1
    return users, investors, len(live_emails)


@pytest.fixture
def synced(crm, team):
    reports = crm.sync_all()
    assert all(r.ok for r in reports)
    return crm


def check_against_sql(data):
    users, investors, emails = expected(data.until)
    got_users = {
        (a.user.id, d): n
        for a in collect_user_activity(data)
        for d, n in (("sent", a.sent), ("received", a.received))
        if n
    }
    assert got_users == dict(users)
    got_investors = {
        (a.name, d): n
        for a in collect_investor_activity(data)
        for d, n in (("in", a.inbound), ("out", a.outbound))
        if n
    }
    assert got_investors == dict(investors)
    assert len(data.emails) == emails
    return emails


def test_digest_over_a_real_capture_matches_plain_sql(synced):
    until = synced.clock.now()  # after the capture (the window also needs captured_at <= until)
    data = load_window(SINCE, until)
    emails = check_against_sql(data)
    assert emails > 20 and len(collect_investor_activity(data)) >= 3
    digest = build_digest(synced.db, SINCE, until)
    assert digest["email_count"] == emails and digest["has_activity"]
    assert digest["investor_count"] == len(collect_investor_activity(data))
    # Every multi-mailbox email counts once per investor but once per holder per user.
    holders = Counter(email_id for email_id, _user in data.sightings)
    assert any(n > 1 for n in holders.values())


def test_soft_delete_and_deactivation_flow_through(synced, team):
    until = synced.clock.now()
    first = load_window(SINCE, until)
    victim = next(iter(first.emails))
    EmailAccountMessage.update(deleted_at=until).where(EmailAccountMessage.email == victim).execute()
    member = User.get(User.email == team.team[-1].address)
    User.update(is_active=False).where(User.id == member.id).execute()
    data = load_window(SINCE, until)
    check_against_sql(data)
    assert victim not in data.emails and member.id not in {u.id for u in data.users}
    assert len(data.emails) < len(first.emails)
