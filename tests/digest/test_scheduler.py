"""The scheduler step and its guards: once per local day at/after the send
hour, DST both ways, the cursor and the claim, retries without moving the cursor, missed days
rolling over, the mid-send crash decision, racing workers, and send-now leaving it all alone."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appsrc.digest import scheduler
from appsrc.digest.policy import update_digest_policy
from appsrc.digest.service import INTERRUPTED, DigestService
from appsrc.mail.mailer import DigestMailer
from appsrc.simulator import GMAIL_COMPOSE
from appsrc.store.db import database
from appsrc.store.models import AppSetting, DigestRun, User
from tests.digest.helpers import (
    Dying,
    ProcessDied,
    enable,
    gmail_transport,
    make_service,
    parsed,
    run_cycles,
    smtp_transport,
)

NY = ZoneInfo("America/New_York")
ADMINS = ["ada@fund.example", "ben@fund.example"]


def at(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def local(moment: datetime) -> datetime:
    return moment.astimezone(NY)


@pytest.fixture
def smtp(smtp_server, tls):
    return smtp_transport(smtp_server, tls)


def scheduled():
    return list(DigestRun.select().where(DigestRun.kind == "scheduled").order_by(DigestRun.id))


def test_disabled_by_default_and_never_before_the_hour(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 20, 0))
    service = make_service(clock, [smtp])
    assert service.maybe_send_digest() is None  # the default policy is off
    enable(21, clock.now())
    assert run_cycles(service, clock, timedelta(minutes=59)) == []
    assert smtp_server.received == [] and DigestRun.select().count() == 0


def test_once_per_local_day_at_the_hour_to_all_active_admins(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 17, 0))
    enable(18, clock.now())
    fund.mail(
        subject="hello",
        sender="jane@acme.example",
        to=["tom@fund.example"],
        sent_at=clock.now(),
        links=[("acme", "jane", "jane@acme.example")],
    )
    service = make_service(clock, [smtp])
    runs = run_cycles(service, clock, timedelta(hours=31), step_s=300)  # until 00:00 two days later
    assert [(r.local_date, local(r.created_at).strftime("%d %H:%M"), r.status) for r in runs] == [
        ("2026-11-02", "02 18:00", "sent"),
        ("2026-11-03", "03 18:00", "sent"),
    ]
    first, second = runs
    assert first.window_end - first.window_start == timedelta(hours=24)  # the first digest ever
    assert second.window_start == first.window_end and second.window_end == second.created_at
    assert [r.rcpt_tos for r in smtp_server.received] == [ADMINS, ADMINS]
    message = parsed(smtp_server.received[0].raw)
    assert message["X-IR-Digest-Run"] == str(first.id) and message["X-IR-Digest-Kind"] == "scheduled"
    assert "1 email" in message["Subject"]
    assert scheduler.read_state() == scheduler.ScheduleState(second.window_end, "2026-11-03")


def test_spring_forward_with_a_send_hour_that_does_not_exist(fund, clock, smtp, smtp_server):
    """New York, 8 March 2026: 02:00 EST jumps to 03:00 EDT. Send hour 2 is met at 03:00."""
    clock.set(at(2026, 3, 7, 1, 0))
    enable(2, clock.now())
    runs = run_cycles(make_service(clock, [smtp]), clock, timedelta(hours=48), step_s=300)
    assert [(r.local_date, local(r.created_at).strftime("%H:%M %Z")) for r in runs] == [
        ("2026-03-07", "02:00 EST"),
        ("2026-03-08", "03:00 EDT"),
        ("2026-03-09", "02:00 EDT"),
    ]
    assert runs[1].window_start == runs[0].window_end and runs[2].window_start == runs[1].window_end
    assert runs[2].window_end - runs[1].window_end == timedelta(hours=23)  # the short local day
    assert len(smtp_server.received) == 3


def test_fall_back_the_repeated_hour_sends_once(fund, clock, smtp, smtp_server):
    """New York, 1 November 2026: 01:00-01:59 happens twice (EDT, then EST)."""
    clock.set(at(2026, 10, 31, 0, 30))
    enable(1, clock.now())
    runs = run_cycles(make_service(clock, [smtp]), clock, timedelta(hours=50), step_s=300)
    assert [(r.local_date, local(r.created_at).strftime("%H:%M %Z")) for r in runs] == [
        ("2026-10-31", "01:00 EDT"),
        ("2026-11-01", "01:00 EDT"),
        ("2026-11-02", "01:00 EST"),
    ]
    assert runs[2].window_end - runs[1].window_end == timedelta(hours=25)


def test_a_failed_send_is_retried_next_cycle_without_moving_the_cursor(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    service = make_service(clock, [smtp])
    [day1] = run_cycles(service, clock, timedelta(minutes=2))
    cursor = scheduler.read_state().last_sent_at
    assert day1.status == "sent" and cursor == day1.window_end
    clock.set(at(2026, 11, 3, 17, 59))
    smtp_server.stop()
    [failed] = run_cycles(service, clock, timedelta(minutes=1))
    assert (failed.status, failed.transport) == ("failed", "smtp") and "could not talk" in failed.error
    assert scheduler.read_state() == scheduler.ScheduleState(cursor, "2026-11-02")  # claim released
    smtp_server.start()
    [retried] = run_cycles(service, clock, timedelta(minutes=1))
    assert retried.status == "sent" and retried.window_start == cursor  # same start: nothing lost
    assert scheduler.read_state() == scheduler.ScheduleState(retried.window_end, "2026-11-03")
    assert len(smtp_server.received) == 2


def test_repeated_failures_back_off(fund, clock, smtp, smtp_server):
    smtp_server.stop()
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    runs = run_cycles(make_service(clock, [smtp]), clock, timedelta(minutes=40))
    assert [local(r.created_at).strftime("%H:%M") for r in runs] == [
        "18:00",
        "18:01",
        "18:03",
        "18:07",
        "18:15",
        "18:31",
    ]
    assert all(r.status == "failed" for r in runs) and scheduler.read_state().last_sent_date is None


def test_a_missed_day_rolls_into_the_next_digest(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    service = make_service(clock, [smtp])
    [day1] = run_cycles(service, clock, timedelta(minutes=2))
    smtp_server.stop()  # down from before the 3rd's send hour until after midnight
    fund.mail(
        subject="sent on the missed day",
        sender="jane@acme.example",
        to=["ada@fund.example"],
        sent_at=at(2026, 11, 3, 12, 0),
        links=[("acme", "jane", "jane@acme.example")],
    )
    failed = run_cycles(service, clock, timedelta(hours=30), step_s=300)  # to 00:01 on the 4th
    assert failed and {r.local_date for r in failed} == {"2026-11-03"} and {r.status for r in failed} == {"failed"}
    smtp_server.start()
    clock.set(at(2026, 11, 4, 17, 55))
    [day3] = run_cycles(service, clock, timedelta(minutes=10))
    assert day3.local_date == "2026-11-04" and day3.window_start == day1.window_end  # two days in one
    assert "sent on the missed day" in parsed(smtp_server.received[-1].raw).get_body(("plain",)).get_content()


@pytest.mark.parametrize("when", ["before", "after"])
def test_process_dying_mid_send_never_gives_a_second_digest_that_day(fund, clock, smtp, smtp_server, when):
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    [day1] = run_cycles(make_service(clock, [smtp]), clock, timedelta(minutes=2))
    clock.set(at(2026, 11, 3, 17, 59, 30))
    with pytest.raises(ProcessDied):
        run_cycles(make_service(clock, [Dying(smtp, when)]), clock, timedelta(minutes=1))
    delivered_on_day2 = len(smtp_server.received) - 1
    assert delivered_on_day2 == (1 if when == "after" else 0)
    [crashed] = [r for r in scheduled() if r.local_date == "2026-11-03"]
    assert crashed.status == "pending"
    # The restarted worker: the rest of the day passes without a second digest.
    restarted = make_service(clock, [smtp])
    assert run_cycles(restarted, clock, timedelta(hours=5), step_s=120) == []
    crashed = DigestRun.get_by_id(crashed.id)
    assert crashed.status == "interrupted" and crashed.error == INTERRUPTED
    assert len(smtp_server.received) == 1 + delivered_on_day2
    # The next day's digest covers the interrupted window too (cursor never moved).
    clock.set(at(2026, 11, 4, 17, 59))
    [day3] = run_cycles(restarted, clock, timedelta(minutes=2))
    assert day3.status == "sent" and day3.window_start == day1.window_end


def test_two_workers_racing_send_one_digest(fund, clock, smtp, smtp_server, tmp_path):
    clock.set(at(2026, 11, 2, 18, 0))
    enable(18, clock.now())
    fund.mail(
        subject="hello",
        sender="jane@acme.example",
        to=["tom@fund.example"],
        sent_at=clock.now(),
        links=[("acme", "jane", "jane@acme.example")],
    )
    barrier = threading.Barrier(2, timeout=10)

    def chat(messages):  # both workers are past the "due" check and building when they meet here
        barrier.wait()
        return "Tom received a note from Acme about the quarter."

    results, errors = [], []

    def worker():
        try:
            with database.connection_context():
                results.append(make_service(clock, [smtp], chat_fn=chat).maybe_send_digest())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors
    assert sorted(r is None for r in results) == [False, True]
    assert len(scheduled()) == 1 and len(smtp_server.received) == 1


def test_toggling_the_policy_applies_on_the_next_cycle(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 18, 30))
    update_digest_policy({"enabled": False, "send_hour": 18}, clock.now(), actor_label="test")
    service = make_service(clock, [smtp])
    assert run_cycles(service, clock, timedelta(minutes=10)) == []
    update_digest_policy({"enabled": True}, clock.now(), actor_label="test")
    assert len(run_cycles(service, clock, timedelta(minutes=1))) == 1


def test_no_active_admin_means_no_claim(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 18, 0))
    enable(18, clock.now())
    User.update(is_admin=False).where(User.email.in_(ADMINS)).execute()
    service = make_service(clock, [smtp])
    assert run_cycles(service, clock, timedelta(minutes=5)) == []
    assert DigestRun.select().count() == 0 and scheduler.read_state().last_sent_date is None
    User.update(is_admin=True).where(User.email == "ben@fund.example").execute()
    [run] = run_cycles(service, clock, timedelta(minutes=1))
    assert run.recipients == ["ben@fund.example"] and smtp_server.received[0].rcpt_tos == ["ben@fund.example"]


def test_send_now_and_preview_never_touch_the_cursor_or_the_claim(fund, clock, smtp, smtp_server):
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    service = make_service(clock, [smtp])
    [day1] = run_cycles(service, clock, timedelta(minutes=2))
    state = scheduler.read_state()
    settings_before = {r.key: r.value for r in AppSetting.select()}
    clock.set(at(2026, 11, 3, 10, 0))
    now_run = service.maybe_send_digest(force=True)
    assert (now_run.kind, now_run.status, now_run.local_date) == ("send-now", "sent", None)
    assert now_run.window_end - now_run.window_start == timedelta(hours=24)
    preview = service.preview()
    assert preview["window_start"] == state.last_sent_at and preview["recipients"] == ADMINS
    assert scheduler.read_state() == state and {r.key: r.value for r in AppSetting.select()} == settings_before
    clock.set(at(2026, 11, 3, 17, 59))
    [day2] = run_cycles(service, clock, timedelta(minutes=2))
    assert day2.window_start == day1.window_end  # the send-now did not suppress or shift it
    assert [parsed(r.raw)["X-IR-Digest-Kind"] for r in smtp_server.received] == ["scheduled", "send-now", "scheduled"]


def test_decide_is_pure_and_explains_itself(db):
    """Each decision is exactly (due, why in words, the fund's local day it is about)."""
    from appsrc.digest.policy import DigestPolicy

    Decision = scheduler.Decision
    state = scheduler.ScheduleState(None, "2026-11-02")
    on = DigestPolicy(True, 18, "database")
    off = DigestPolicy(False, 18, "default")
    # 01:30 UTC on the 3rd is still the 2nd in New York: the local day is the fund's.
    assert scheduler.decide(at(2026, 11, 2, 20, 30), NY, off, state, []) == Decision(False, "disabled", "2026-11-02")
    assert scheduler.decide(at(2026, 11, 3, 17, 59), NY, on, state, []) == Decision(
        False, "before 18:00 local", "2026-11-03"
    )
    assert scheduler.decide(at(2026, 11, 2, 23, 59), NY, on, state, []) == Decision(
        False, "already sent (or claimed) today", "2026-11-02"
    )
    assert scheduler.decide(at(2026, 11, 3, 18, 0), NY, on, state, []) == Decision(True, "due", "2026-11-03")
    assert scheduler.retry_delay(1) == timedelta(minutes=1) and scheduler.retry_delay(20) == timedelta(hours=1)


def test_retries_wait_from_the_latest_failure_and_a_permanent_one_waits_an_hour(db):
    """The latest failure (by when it finished, or began when it never finished) starts the
    wait: a minute after the first, doubling; an hour after one only an admin can fix."""
    from appsrc.digest.policy import DigestPolicy

    on, state, now = DigestPolicy(True, 18, "database"), scheduler.ScheduleState(None, None), at(2026, 11, 3, 19, 0)

    def failure(minutes_ago: float, *, finished: bool = True, kind: str = "transient") -> DigestRun:
        moment = now - timedelta(minutes=minutes_ago)
        return DigestRun(
            created_at=moment - timedelta(seconds=5), finished_at=moment if finished else None, error_kind=kind
        )

    waiting = scheduler.Decision(False, "retrying after 1 failed attempt(s)", "2026-11-03")
    assert scheduler.decide(now, NY, on, state, [failure(0.5)]) == waiting
    assert scheduler.decide(now, NY, on, state, [failure(1.01)]).due is True
    assert scheduler.decide(now, NY, on, state, [failure(0.5, finished=False)]) == waiting  # began 35 s ago
    assert scheduler.decide(now, NY, on, state, [failure(59, kind="permanent")]).due is False
    assert scheduler.decide(now, NY, on, state, [failure(61, kind="permanent")]).due is True
    # Two failures: the latest counts (30 s ago), and the wait has doubled to two minutes.
    two = [failure(90), failure(0.5)]
    assert scheduler.decide(now, NY, on, state, two) == scheduler.Decision(
        False, "retrying after 2 failed attempt(s)", "2026-11-03"
    )
    assert scheduler.decide(now + timedelta(minutes=1), NY, on, state, two).due is False
    assert scheduler.decide(now + timedelta(minutes=1, seconds=31), NY, on, state, two).due is True


def test_the_window_runs_from_the_last_confirmed_send_to_now(db):
    now = at(2026, 11, 3, 18, 0)
    sent = now - timedelta(days=2, hours=3)  # a missed day rolls into this window
    assert scheduler.window_for(now, scheduler.ScheduleState(sent, "2026-11-01")) == (sent, now)
    first = (now - timedelta(hours=24), now)
    assert scheduler.window_for(now, scheduler.ScheduleState(None, None)) == first  # never sent: a day
    # A cursor not in the past (a clock set back) is not trusted: the last day again, never empty.
    assert scheduler.window_for(now, scheduler.ScheduleState(now, "2026-11-03")) == first
    assert scheduler.window_for(now, scheduler.ScheduleState(now + timedelta(hours=1), "2026-11-03")) == first


def start_day_two(sim, clock, tmp_path, smtp, *, grants=None):
    """Day one's digest sent by Gmail; the clock just before day two's send hour."""
    for address in ADMINS:
        sim.add_mailbox(address)
    key = tmp_path / "key.json"
    if grants is not None:
        sim.make_service_account_key(str(key), scopes_granted=grants)
    gmail = gmail_transport(sim, key, clock)
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    service = make_service(clock, [gmail, smtp])
    [day1] = run_cycles(service, clock, timedelta(minutes=2))
    assert (day1.status, day1.transport) == ("sent", "gmail")
    clock.set(at(2026, 11, 3, 17, 59))
    return service, day1


def message_ids(raws) -> list[str]:
    return [parsed(raw)["Message-ID"] for raw in raws]


def test_gmail_503_without_sending_gives_exactly_one_digest_by_smtp(fund, clock, sim, smtp, smtp_server, tmp_path):
    """Gmail answers 503 and did nothing: the sender's mailbox shows no such digest, so the
    SMTP fallback sends it, under the same Message-ID."""
    service, day1 = start_day_two(sim, clock, tmp_path, smtp)
    sim.faults.fail_next("users.messages.send", 1, 503)
    [day2] = run_cycles(service, clock, timedelta(hours=5), step_s=120)
    assert (day2.status, day2.transport, day2.error_kind) == ("sent", "smtp", None)
    assert "was not in the mailbox" in day2.error  # the Gmail attempt, noted on the run
    assert len(sim.sent_messages()) == 1  # day one's only
    [got] = smtp_server.received
    assert message_ids([got.raw]) == [day2.message_id]
    searches = [c.params["q"] for c in sim.calls("users.messages.list")]
    assert {q for q in searches if q.startswith("rfc822msgid:")} == {f"rfc822msgid:{day2.message_id.strip('<>')}"}
    assert scheduler.read_state() == scheduler.ScheduleState(day2.window_end, "2026-11-03")


def test_gmail_503_after_sending_gives_no_smtp_copy(fund, clock, sim, smtp, smtp_server, tmp_path):
    """Gmail sent, then answered 503: the digest is found in the sender's mailbox; sent, once."""
    service, day1 = start_day_two(sim, clock, tmp_path, smtp)
    sim.faults.fail_next("users.messages.send", 1, 503, after=True)
    [day2] = run_cycles(service, clock, timedelta(hours=5), step_s=120)
    assert (day2.status, day2.transport) == ("sent", "gmail")
    assert "found in ada@fund.example's mailbox" in day2.error  # how it was confirmed
    assert smtp_server.received == []
    assert message_ids(m.raw for m in sim.sent_messages()) == [day1.message_id, day2.message_id]
    assert len({day1.message_id, day2.message_id}) == 2


def test_an_unconfirmed_send_is_never_repeated_nor_sent_another_way(fund, clock, sim, smtp, smtp_server, tmp_path):
    """Gmail answers 503 (it may have sent) and the mailbox cannot be searched (no
    gmail.readonly grant): the run is `unconfirmed`, SMTP is not tried, the day stays claimed
    and the cursor stays, so the next digest repeats the window."""
    service, day1 = start_day_two(sim, clock, tmp_path, smtp, grants=[GMAIL_COMPOSE])
    sim.faults.fail_next("users.messages.send", 1, 503)
    runs = run_cycles(service, clock, timedelta(hours=5), step_s=120)
    [unconfirmed] = runs
    assert (unconfirmed.status, unconfirmed.error_kind, unconfirmed.transport) == ("unconfirmed", "ambiguous", "gmail")
    assert "may have been sent" in unconfirmed.error and "could not be searched" in unconfirmed.error
    assert smtp_server.received == [] and [c.status for c in sim.calls("users.messages.send")] == [200, 503]
    assert scheduler.read_state() == scheduler.ScheduleState(day1.window_end, "2026-11-03")
    clock.set(at(2026, 11, 4, 17, 59))
    [day3] = run_cycles(service, clock, timedelta(minutes=2))
    assert day3.status == "sent" and day3.window_start == day1.window_end  # repeated, never lost


def test_a_failure_only_an_admin_can_fix_is_retried_hourly(fund, clock, smtp_server, tls):
    wrong_password = smtp_transport(smtp_server, tls, password="not it")
    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    runs = run_cycles(make_service(clock, [wrong_password]), clock, timedelta(hours=3, minutes=2))
    assert [local(r.created_at).strftime("%H:%M") for r in runs] == ["18:00", "19:00", "20:00", "21:00"]
    assert {(r.status, r.error_kind) for r in runs} == {("failed", "permanent")}
    assert smtp_server.received == []


def test_a_digest_that_cannot_be_built_is_recorded_and_retried(fund, clock, smtp, smtp_server):
    failures = iter([RuntimeError("database went away")] * 2)

    def own_addresses():
        error = next(failures, None)
        if error is not None:
            raise error
        return frozenset({"ada@fund.example"})

    clock.set(at(2026, 11, 2, 17, 59))
    enable(18, clock.now())
    service = DigestService(
        mailer=DigestMailer([smtp], clock), clock=clock, timezone=str(NY), db=database.obj, own_addresses=own_addresses
    )
    runs = run_cycles(service, clock, timedelta(minutes=5))
    assert [(local(r.created_at).strftime("%H:%M"), r.status) for r in runs] == [
        ("18:00", "failed"),
        ("18:01", "failed"),
        ("18:03", "sent"),
    ]
    assert runs[0].error == "could not build the digest (RuntimeError)" and len(smtp_server.received) == 1
