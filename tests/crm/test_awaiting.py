"""The awaiting-reply rule (`store/queries/awaiting.py`) and an admin's marks on it
(`crm/awaiting.py`): business days in the fund's time zone, a teammate's reply ending a case,
handled and its reopening, snoozes and their return, and the mail that never waits. The store
tests run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appsrc.crm import awaiting as crm_awaiting
from appsrc.crm.validation import ValidationError
from appsrc.store.models import AuditEvent, AwaitingMark, EmailAccount, EmailAccountMessage, Investor, User
from appsrc.store.queries.awaiting import (
    awaiting_case,
    awaiting_cases,
    awaiting_marks,
    awaiting_policy,
    awaiting_summary,
    business_days_waited,
    waiting_cutoff,
)
from tests.crm.fixtures import *

ADA, BOB = "ada@fund.example", "bob@fund.example"
NY, PARIS, UTC_NAME = ZoneInfo("America/New_York"), ZoneInfo("Europe/Paris"), "UTC"


def at(tz: ZoneInfo, *parts: int) -> datetime:
    """A local wall-clock time in `tz`, as UTC."""
    return datetime(*parts, tzinfo=tz).astimezone(UTC)


# -- business days (pure) -----------------------------------------------------------------------
def test_friday_evening_has_waited_two_business_days_by_tuesday_evening():
    sent = at(PARIS, 2026, 11, 6, 19, 0)  # a Friday
    assert business_days_waited(sent, at(PARIS, 2026, 11, 7, 19, 0), PARIS) == 0  # Saturday
    assert business_days_waited(sent, at(PARIS, 2026, 11, 9, 18, 59), PARIS) == 0  # Monday, before 19:00
    assert business_days_waited(sent, at(PARIS, 2026, 11, 9, 19, 0), PARIS) == 1
    assert business_days_waited(sent, at(PARIS, 2026, 11, 10, 8, 0), PARIS) == 1  # Tuesday morning
    assert business_days_waited(sent, at(PARIS, 2026, 11, 10, 19, 0), PARIS) == 2
    assert business_days_waited(sent, at(PARIS, 2026, 11, 13, 19, 0), PARIS) == 5  # a week on
    assert business_days_waited(sent, sent - timedelta(hours=1), PARIS) == 0  # never negative


def test_a_weekend_message_starts_waiting_on_monday_midnight():
    for sent in (at(PARIS, 2026, 11, 7, 10, 0), at(PARIS, 2026, 11, 8, 23, 0)):  # Saturday, Sunday
        assert business_days_waited(sent, at(PARIS, 2026, 11, 10, 23, 59), PARIS) == 1  # Tuesday night
        assert business_days_waited(sent, at(PARIS, 2026, 11, 11, 0, 0), PARIS) == 2  # Wednesday 00:00


def test_the_local_date_counts_where_utc_is_already_the_next_day():
    sent = at(NY, 2026, 11, 6, 23, 30)  # Friday night in New York: Saturday 04:30 UTC
    assert sent.weekday() == 5
    # Local Friday 23:30: Monday 23:30 is one business day, Tuesday 23:30 two.
    assert business_days_waited(sent, at(NY, 2026, 11, 9, 23, 30), NY) == 1
    assert business_days_waited(sent, at(NY, 2026, 11, 10, 23, 29), NY) == 1
    assert business_days_waited(sent, at(NY, 2026, 11, 10, 23, 30), NY) == 2
    # Tuesday 20:00 in New York is Wednesday 01:00 UTC: one business day locally; counted on UTC
    # dates (Saturday, so from Monday 00:00 UTC) it would already be two.
    assert business_days_waited(sent, at(NY, 2026, 11, 10, 20, 0), NY) == 1
    assert business_days_waited(sent, at(NY, 2026, 11, 10, 20, 0), ZoneInfo("UTC")) == 2


def test_daylight_saving_does_not_move_the_boundary():
    """New York leaves daylight saving on Sunday 1 November 2026: 09:00 Friday to 09:00 Tuesday is
    two business days on the wall clock, though 97 hours passed rather than 96."""
    sent = at(NY, 2026, 10, 30, 9, 0)
    two_days = at(NY, 2026, 11, 3, 9, 0)
    assert two_days - sent == timedelta(hours=97)
    assert business_days_waited(sent, two_days, NY) == 2
    assert business_days_waited(sent, two_days - timedelta(minutes=1), NY) == 1
    # Into daylight saving (Sunday 8 March 2026): 23 hours a day fewer, the same count.
    sent = at(NY, 2026, 3, 6, 9, 0)
    assert business_days_waited(sent, at(NY, 2026, 3, 10, 9, 0), NY) == 2
    assert business_days_waited(sent, at(NY, 2026, 3, 10, 8, 59), NY) == 1


@pytest.mark.parametrize("tz", [PARIS, NY, ZoneInfo("Asia/Tokyo"), ZoneInfo("UTC")])
def test_the_cutoff_is_exactly_the_latest_message_that_has_waited_long_enough(tz):
    """The SQL bound and the count agree: sent at the cutoff waits N days, a second later N-1."""
    start = at(tz, 2026, 10, 26, 0, 0)
    for hours in range(0, 24 * 14, 7):
        now = start + timedelta(hours=hours, minutes=13)
        for days in (1, 2, 5):
            cutoff = waiting_cutoff(now, tz, days)
            assert business_days_waited(cutoff, now, tz) >= days, (now, days)
            assert business_days_waited(cutoff + timedelta(seconds=1), now, tz) < days, (now, days)


# -- the rule in the store (both databases) ------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, settings):
    if request.param == "postgres":
        return settings.replace(database_url=request.getfixturevalue("postgres_url"))
    return settings


FRIDAY = datetime(2026, 10, 30, 17, 0, tzinfo=UTC)  # Friday 17:00 UTC
TUESDAY = datetime(2026, 11, 3, 17, 0, tzinfo=UTC)  # two business days later


@pytest.fixture
def lps(world):
    w = world
    w.acme = w.investor("Acme Capital", "acme.example")
    w.jane = w.contact(w.acme, "Jane Roe", "jane@acme.example")
    w.old = w.investor("Old Partners", "old.example", graveyard=True)
    return w


def listed(now: datetime, tz: str = UTC_NAME) -> list[tuple[int, int]]:
    return [(item["email_id"], item["business_days"]) for item in awaiting_cases(now, tz)["items"]]


def test_an_investors_unanswered_mail_waits_after_two_business_days(lps):
    w = lps
    ask = w.email("Capital call", "jane@acme.example", [ADA, BOB], sent_at=FRIDAY)
    assert listed(TUESDAY - timedelta(seconds=1)) == []
    result = awaiting_cases(TUESDAY, UTC_NAME)
    assert result["total"] == 1 and result["lp_count"] == 1 and not result["truncated"]
    assert result["policy"] == {"business_days": 2, "lookback_days": 14, "timezone": "UTC"}
    (item,) = result["items"]
    assert item == {
        "email_id": ask.id,
        "thread_id": ask.thread_key,
        "investor": {"id": w.acme.id, "name": "Acme Capital", "graveyard": False},
        "investors": [{"id": w.acme.id, "name": "Acme Capital", "graveyard": False}],
        "contact_email": "jane@acme.example",
        "contact_name": "Jane Roe",
        "subject": "Capital call",
        "waiting_since": "2026-10-30T17:00:00Z",
        "last_inbound_at": "2026-10-30T17:00:00Z",
        "business_days": 2,
        "open_messages": 1,
        "mailbox": ADA,  # the first live mailbox by address
        "gmail_url": f"https://mail.google.com/mail/?authuser=ada%40fund.example#all/t{ask.id}",
    }
    assert awaiting_summary(TUESDAY, UTC_NAME) == {"cases": 1, "lps": 1}
    # In Tokyo it is already Wednesday 02:00: still two whole business days (Saturday 02:00 start).
    assert listed(TUESDAY, "Asia/Tokyo") == [(ask.id, 2)]


def test_a_teammates_reply_ends_the_case_and_an_earlier_one_does_not(lps):
    w = lps
    first = w.email("Hello", ADA, ["jane@acme.example"], sent_at=FRIDAY - timedelta(days=1))
    ask = w.email("Re: Hello", "jane@acme.example", [ADA], sent_at=FRIDAY, reply_to=first)
    assert listed(TUESDAY) == [(ask.id, 2)]
    # Bob answers from his own mailbox; capture storing it is all it takes.
    w.email("Re: Hello", BOB, ["jane@acme.example"], sent_at=TUESDAY - timedelta(hours=1), reply_to=first)
    assert listed(TUESDAY) == []
    # Jane writes again: a new wait starts from her new message.
    again = w.email("Re: Hello", "jane@acme.example", [BOB], sent_at=TUESDAY, reply_to=first)
    assert listed(TUESDAY + timedelta(days=1)) == []
    assert listed(TUESDAY + timedelta(days=2)) == [(again.id, 2)]


def test_a_reply_counts_even_when_its_mailbox_deleted_it(lps):
    w = lps
    ask = w.email("Question", "jane@acme.example", [ADA], sent_at=FRIDAY)
    w.email(
        "Re: Question",
        ADA,
        ["jane@acme.example"],
        sent_at=FRIDAY + timedelta(hours=1),
        reply_to=ask,
        seen_by={ADA: True},
    )
    assert listed(TUESDAY) == []


def test_several_open_messages_wait_from_the_oldest_and_point_at_the_newest(lps):
    w = lps
    ask = w.email("Docs", "jane@acme.example", [ADA], sent_at=FRIDAY)
    nudge = w.email("Re: Docs", "jane@acme.example", [ADA], sent_at=FRIDAY + timedelta(days=3), reply_to=ask)
    (item,) = awaiting_cases(TUESDAY, UTC_NAME)["items"]
    assert (item["email_id"], item["waiting_since"], item["open_messages"]) == (nudge.id, "2026-10-30T17:00:00Z", 2)
    assert awaiting_case(ask.id, TUESDAY, UTC_NAME)["email_id"] == nudge.id  # either message finds the case


def test_bulk_deleted_and_deleted_investors_mail_never_waits_and_the_graveyard_does(lps):
    w = lps
    w.email("Newsletter", "news@acme.example", [ADA], sent_at=FRIDAY, is_bulk=True)
    w.email("Gone", "jane@acme.example", [ADA, BOB], sent_at=FRIDAY, seen_by={ADA: True, BOB: True})
    partly = w.email("Kept by Bob", "jane@acme.example", [ADA, BOB], sent_at=FRIDAY, seen_by={ADA: True, BOB: False})
    old = w.email("We are back", "sam@old.example", [ADA], sent_at=FRIDAY + timedelta(minutes=1))
    stranger = w.email("Unrelated", "someone@else.example", [ADA], sent_at=FRIDAY)
    assert listed(TUESDAY + timedelta(minutes=1)) == [(partly.id, 2), (old.id, 2)]
    assert awaiting_cases(TUESDAY, UTC_NAME)["items"][0]["mailbox"] == BOB  # the live one
    assert stranger.id not in dict(listed(TUESDAY))
    Investor.update(deleted_at=TUESDAY).where(Investor.id == w.old.id).execute()
    assert listed(TUESDAY + timedelta(minutes=1)) == [(partly.id, 2)]


def test_handled_closes_the_case_until_a_newer_inbound_message(lps):
    w = lps
    ask = w.email("Meeting?", "jane@acme.example", [ADA], sent_at=FRIDAY)
    assert crm_awaiting.mark_handled(ask.id, TUESDAY, UTC_NAME, actor=w.ada)["state"] == "handled"
    assert listed(TUESDAY + timedelta(days=7)) == []
    event = AuditEvent.get(AuditEvent.action == "awaiting.handled")
    assert (event.actor_id, event.target_id, event.detail) == (w.ada.id, ask.thread_key, {"email_id": ask.id})
    with pytest.raises(crm_awaiting.NotWaiting):  # no longer a case
        crm_awaiting.mark_handled(ask.id, TUESDAY, UTC_NAME, actor=w.ada)
    later = w.email("Re: Meeting?", "jane@acme.example", [ADA], sent_at=TUESDAY + timedelta(hours=1), reply_to=ask)
    thursday = TUESDAY + timedelta(days=2, hours=1)
    (item,) = awaiting_cases(thursday, UTC_NAME)["items"]
    assert (item["email_id"], item["waiting_since"], item["open_messages"]) == (later.id, "2026-11-03T18:00:00Z", 1)
    # Undo: the rule alone decides again, and the first message waits once more.
    assert crm_awaiting.clear_mark(ask.id, thursday, actor=w.ada)["was"] == "handled"
    assert awaiting_cases(thursday, UTC_NAME)["items"][0]["waiting_since"] == "2026-10-30T17:00:00Z"
    with pytest.raises(crm_awaiting.NotWaiting):
        crm_awaiting.clear_mark(ask.id, thursday, actor=w.ada)


def test_a_snooze_hides_the_case_until_the_local_day_and_it_returns_if_unanswered(lps):
    w = lps
    ask = w.email("Side letter", "jane@acme.example", [ADA], sent_at=FRIDAY)
    # Sent Friday 13:00 in New York; on Tuesday at 13:00 (18:00 UTC), snoozed until Thursday.
    crm_awaiting.snooze(ask.id, "2026-11-05", TUESDAY + timedelta(hours=1), "America/New_York", actor=w.ada)
    assert AwaitingMark.get().snoozed_until == at(NY, 2026, 11, 5, 0, 0)
    assert listed(at(NY, 2026, 11, 4, 23, 59), "America/New_York") == []
    assert listed(at(NY, 2026, 11, 5, 0, 0), "America/New_York") == [(ask.id, 3)]
    # Snoozed again, then answered meanwhile: it does not come back.
    crm_awaiting.snooze(ask.id, "2026-11-09", at(NY, 2026, 11, 5, 1, 0), "America/New_York", actor=w.ada)
    assert AwaitingMark.select().count() == 1  # one mark per conversation
    w.email("Re: Side letter", BOB, ["jane@acme.example"], sent_at=at(NY, 2026, 11, 6, 9, 0), reply_to=ask)
    assert listed(at(NY, 2026, 11, 10, 0, 0), "America/New_York") == []


def test_the_investor_writing_again_ends_a_snooze(lps):
    """As in Gmail: the snooze covered the messages there were; a new one waits on its own."""
    w = lps
    ask = w.email("Side letter", "jane@acme.example", [ADA], sent_at=FRIDAY)
    crm_awaiting.snooze(ask.id, "2026-11-20", TUESDAY, UTC_NAME, actor=w.ada)
    assert AwaitingMark.get().covers_through == FRIDAY
    assert [m["reopened"] for m in awaiting_marks(TUESDAY)] == [False]
    nudge = w.email("Re: Side letter", "jane@acme.example", [ADA], sent_at=TUESDAY + timedelta(hours=2), reply_to=ask)
    assert [m["reopened"] for m in awaiting_marks(TUESDAY + timedelta(hours=3))] == [True]  # "they wrote again"
    assert listed(TUESDAY + timedelta(days=1, hours=3)) == []  # the nudge has waited one day
    thursday = TUESDAY + timedelta(days=2, hours=2)
    (item,) = awaiting_cases(thursday, UTC_NAME)["items"]
    assert (item["email_id"], item["waiting_since"], item["open_messages"]) == (nudge.id, "2026-11-03T19:00:00Z", 1)
    assert awaiting_summary(thursday, UTC_NAME) == {"cases": 1, "lps": 1}
    # Snoozing again covers the nudge too.
    crm_awaiting.snooze(nudge.id, "2026-11-20", thursday, UTC_NAME, actor=w.ada)
    assert listed(thursday) == [] and AwaitingMark.get().covers_through == TUESDAY + timedelta(hours=2)
    assert [m["reopened"] for m in awaiting_marks(thursday)] == [False]


def test_mail_only_a_paused_or_departed_teammates_mailbox_holds_does_not_wait(lps):
    """The desk sees replies only in the mailboxes it captures: mail held by no such mailbox
    would wait for ever, so it is not listed (nor counted on the Overview or in the digest)."""
    w = lps
    to_bob = w.email("For Bob", "jane@acme.example", [BOB], sent_at=FRIDAY)
    to_both = w.email("For both", "jane@acme.example", [ADA, BOB], sent_at=FRIDAY + timedelta(minutes=1))
    assert listed(TUESDAY + timedelta(minutes=1)) == [(to_bob.id, 2), (to_both.id, 2)]
    bob_box = w.mailbox(BOB)
    EmailAccount.update(paused_at=TUESDAY).where(EmailAccount.id == bob_box.id).execute()
    assert listed(TUESDAY + timedelta(minutes=1)) == [(to_both.id, 2)]
    EmailAccount.update(paused_at=None).where(EmailAccount.id == bob_box.id).execute()
    User.update(is_active=False).where(User.id == w.bob.id).execute()
    assert listed(TUESDAY + timedelta(minutes=1)) == [(to_both.id, 2)]
    assert awaiting_summary(TUESDAY + timedelta(minutes=1), UTC_NAME) == {"cases": 1, "lps": 1}
    with pytest.raises(crm_awaiting.NotWaiting):
        crm_awaiting.mark_handled(to_bob.id, TUESDAY, UTC_NAME, actor=w.ada)
    # Ada's mailbox removed, Bob back: the item opens Gmail as the mailbox still captured.
    User.update(is_active=True).where(User.id == w.bob.id).execute()
    EmailAccount.update(removed_at=TUESDAY).where(EmailAccount.id == w.mailbox(ADA).id).execute()
    items = awaiting_cases(TUESDAY + timedelta(minutes=1), UTC_NAME)["items"]
    assert [(i["email_id"], i["mailbox"]) for i in items] == [(to_bob.id, BOB), (to_both.id, BOB)]
    assert "authuser=bob%40fund.example" in items[1]["gmail_url"]


def test_a_snooze_day_must_be_a_later_day_within_a_year(lps):
    w = lps
    ask = w.email("Side letter", "jane@acme.example", [ADA], sent_at=FRIDAY)
    for bad in ("2026-11-03", "2026-11-02", "2027-11-04", "tomorrow", "2026-13-01", "2026-11-4", 20261105, None):
        with pytest.raises(ValidationError) as raised:
            crm_awaiting.snooze(ask.id, bad, TUESDAY, UTC_NAME, actor=w.ada)
        assert raised.value.field == "until", bad
    assert AwaitingMark.select().count() == 0 and not AuditEvent.select().where(
        AuditEvent.action.startswith("awaiting.")
    )


def test_the_policy_decides_the_wait_and_the_lookback(lps):
    w = lps
    ask = w.email("Call", "jane@acme.example", [ADA], sent_at=FRIDAY)
    monday = TUESDAY - timedelta(days=1)
    assert listed(monday) == []
    crm_awaiting.update_policy({"business_days": 1}, monday, actor=w.ada)
    assert listed(monday) == [(ask.id, 1)]
    assert awaiting_policy() == {"business_days": 1, "lookback_days": 14}
    assert listed(FRIDAY + timedelta(days=14, seconds=-1)) == [(ask.id, 9)]
    assert listed(FRIDAY + timedelta(days=14)) == []  # beyond the lookback
    crm_awaiting.update_policy({"lookback_days": 60}, monday, actor=w.ada)
    assert listed(FRIDAY + timedelta(days=31)) == [(ask.id, 21)]
    for body, field in (
        ({"business_days": 0}, "business_days"),
        ({"business_days": "2"}, "business_days"),
        ({"business_days": True}, "business_days"),
        ({"lookback_days": 400}, "lookback_days"),
        ({"business_days": 20, "lookback_days": 20}, "lookback_days"),
        ({"days": 3}, "days"),
        ([], "body"),
    ):
        with pytest.raises(ValidationError) as raised:
            crm_awaiting.update_policy(body, monday, actor=w.ada)
        assert raised.value.field == field, body
    assert awaiting_policy() == {"business_days": 1, "lookback_days": 60}
    assert AuditEvent.select().where(AuditEvent.action == "awaiting.policy").count() == 2


def test_only_live_sightings_give_the_gmail_link(lps):
    w = lps
    ask = w.email("Call", "jane@acme.example", [ADA, BOB], sent_at=FRIDAY)
    EmailAccountMessage.update(deleted_at=FRIDAY).where(
        (EmailAccountMessage.email == ask.id) & (EmailAccountMessage.account == w.mailbox(ADA).id)
    ).execute()
    (item,) = awaiting_cases(TUESDAY, UTC_NAME)["items"]
    assert item["mailbox"] == BOB and item["gmail_url"].startswith("https://mail.google.com/mail/?authuser=bob%40")
