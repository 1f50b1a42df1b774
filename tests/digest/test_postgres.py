"""The digest on PostgreSQL: the window read (raw rows: datetimes arrive as datetimes there), both
sections, the daily claim's compare-and-set and its release, and two racing workers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appsrc.digest import scheduler
from appsrc.digest.activity import collect_investor_activity, collect_user_activity, load_window
from appsrc.digest.builder import build_digest
from appsrc.store.db import database, open_database
from appsrc.store.migrations import migrate
from appsrc.store.models import DigestRun
from tests.digest.conftest import make_fund
from tests.digest.helpers import enable, make_service, run_cycles, smtp_transport

pytestmark = pytest.mark.postgres
NY = ZoneInfo("America/New_York")


@pytest.fixture
def pg(postgres_url, clock):
    """A migrated PostgreSQL database bound to the models, with the fund's personas."""
    db = open_database(postgres_url)
    migrate(db)
    fund = make_fund(clock.now() - timedelta(days=30))
    yield db, fund
    db.close()


def test_window_and_sections_on_postgres(pg, clock):
    db, fund = pg
    now = clock.now()
    fund.mail(
        subject="Q3",
        sender="jane@acme.example",
        to=["ada@fund.example", "tom@fund.example"],
        sent_at=now - timedelta(hours=2),
        links=[("acme", "jane", "jane@acme.example")],
    )
    fund.mail(
        subject="Re: Q3",
        sender="ada@fund.example",
        to=["jane@acme.example"],
        sent_at=now - timedelta(hours=1),
        links=[("acme", "jane", "jane@acme.example")],
    )
    fund.mail(
        subject="gone",
        sender="dan@gone.example",
        to=["tom@fund.example"],
        sent_at=now - timedelta(hours=1),
        links=[("gone", "dan", "dan@gone.example")],
        deleted_in=(),
    )
    fund.mail(
        subject="late",
        sender="jane@acme.example",
        to=["ben@fund.example"],
        sent_at=now - timedelta(hours=24, minutes=3),
        captured_at=now - timedelta(hours=23),
        links=[("acme", "jane", "jane@acme.example")],
    )
    data = load_window(now - timedelta(hours=24), now)
    assert all(e.sent_at.tzinfo is not None for e in data.emails.values())
    assert {a.user.email: (a.sent, a.received) for a in collect_user_activity(data)} == {
        "ada@fund.example": (1, 1),
        "ben@fund.example": (0, 1),
        "tom@fund.example": (0, 2),
    }
    assert {a.name: (a.inbound, a.outbound) for a in collect_investor_activity(data)} == {
        "Acme Capital": (2, 1),
        "dan@gone.example": (1, 0),
    }
    digest = build_digest(db, now - timedelta(hours=24), now, tz=NY)
    assert (digest["email_count"], digest["investor_count"]) == (4, 2)


def test_claim_release_and_race_on_postgres(pg, clock, smtp_server, tls):
    db, fund = pg
    clock.set(datetime(2026, 11, 2, 17, 59, tzinfo=NY))
    enable(18, clock.now())
    smtp = smtp_transport(smtp_server, tls)
    smtp_server.stop()
    [failed] = run_cycles(make_service(clock, [smtp]), clock, timedelta(minutes=1))
    assert failed.status == "failed" and scheduler.read_state().last_sent_date is None  # released
    smtp_server.start()
    barrier = threading.Barrier(2, timeout=10)

    def chat(messages):
        barrier.wait()
        return "Both workers reached the claim together."

    fund.mail(
        subject="hello",
        sender="jane@acme.example",
        to=["tom@fund.example"],
        sent_at=clock.now(),
        links=[("acme", "jane", "jane@acme.example")],
    )
    clock.advance(60)
    results = []

    def worker():
        with database.connection_context():
            results.append(make_service(clock, [smtp], chat_fn=chat).maybe_send_digest())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(r is None for r in results) == [False, True]
    assert DigestRun.select().where(DigestRun.status == "sent").count() == 1 and len(smtp_server.received) == 1
    assert scheduler.read_state().last_sent_date == "2026-11-02"
