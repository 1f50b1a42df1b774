"""Thirty simulated days on a frozen clock, against the real servers (Gmail simulator, SMTP with
STARTTLS and AUTH, the LLM stub): restarts at random moments, a DST change (send hour 2 on the
spring-forward day), Gmail down, SMTP down, both down, the LLM down or garbled, and the process
dying mid-send on two days. Exactly one digest per local day; a missed day rolls into the next;
the count-only fallback when the LLM is down; windows chain with nothing lost."""

from __future__ import annotations

import itertools
import random
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appsrc.llm import LlmConfig, make_chat_fn
from appsrc.store.models import DigestRun, Email
from tests.digest.helpers import Dying, ProcessDied, enable, gmail_transport, make_service, parsed, smtp_transport

NY = ZoneInfo("America/New_York")
START = date(2026, 2, 20)  # day 16 is 8 March 2026, New York's spring-forward day
DAYS = 30
SEND_HOUR = 2
GMAIL_DOWN, SMTP_DOWN, BOTH_DOWN, LLM_DOWN, LLM_GARBAGE = 3, 6, 9, 12, 24
CRASH_AFTER_SEND, CRASH_BEFORE_SEND, GMAIL_DOWN_MORNING = 18, 21, 26
DST_DAY = 16


def day_index(moment: datetime) -> int:
    return (moment.astimezone(NY).date() - START).days


def test_thirty_days(fund, clock, sim, smtp_server, tls, llm, tmp_path):
    rng = random.Random(30)
    clock.set(datetime(2026, 2, 20, 0, 0, tzinfo=NY))
    enable(SEND_HOUR, clock.now())
    key = tmp_path / "dwd" / "service_account.json"
    for address in ("ada@fund.example", "ben@fund.example"):
        sim.add_mailbox(address)
    chat_fn = make_chat_fn(LlmConfig(llm.url, "spark", 2.0))
    # Delegation tokens outlive our restarts only to keep the test quick; everything the digest
    # keeps (policy, cursor, claim, attempts) is rebuilt from the database at every boot.
    gmail = gmail_transport(sim, key, clock)  # quota pacing and retry waits on the frozen clock
    running = {"gmail": True}

    def boot(dying: str | None = None):
        """A fresh process: new service, mailer and transports over the same database."""
        transports = [Dying(gmail, dying) if dying else gmail, smtp_transport(smtp_server, tls)]
        return make_service(clock, transports, chat_fn=chat_fn, llm_timeout_s=2.0)

    def set_outages(day: int, hour: int) -> None:
        gmail_down = day in (GMAIL_DOWN, BOTH_DOWN) or (day == GMAIL_DOWN_MORNING and hour < 12)
        smtp_down = day in (SMTP_DOWN, BOTH_DOWN)
        if gmail_down and running["gmail"]:
            sim.stop()
        if not gmail_down and not running["gmail"]:
            sim.start()
        running["gmail"] = not gmail_down
        if smtp_down and smtp_server.running:
            smtp_server.stop()
        if not smtp_down and not smtp_server.running:
            smtp_server.start()
        llm.mode = "down" if day == LLM_DOWN else "garbage" if day == LLM_GARBAGE else "fast"

    service = boot()
    crashed_days: set[int] = set()
    restarts = 0
    last_mail_hour = None
    end = datetime.combine(START + timedelta(days=DAYS), datetime.min.time(), NY)
    while clock.now() < end:
        clock.advance(rng.randrange(2, 21) * 60)
        now_local = clock.now().astimezone(NY)
        day = day_index(clock.now())
        set_outages(day, now_local.hour)
        hour_key = now_local.replace(minute=0, second=0, microsecond=0)
        if hour_key != last_mail_hour:  # about one email an hour, captured as it is sent
            last_mail_hour = hour_key
            sender, holder = rng.choice(
                [
                    ("jane@acme.example", "ada@fund.example"),
                    ("carl@beta.example", "tom@fund.example"),
                    ("ben@fund.example", "ben@fund.example"),
                ]
            )
            investor = (
                ("beta", "carl", "carl@beta.example")
                if "beta" in sender or holder == "ben@fund.example"
                else ("acme", "jane", "jane@acme.example")
            )
            to = ["carl@beta.example"] if sender == "ben@fund.example" else [holder]
            fund.mail(
                subject=f"day {day} {now_local:%H:%M}",
                sender=sender,
                to=to,
                sent_at=clock.now(),
                holders={holder: sender == holder},
                links=[investor],
            )
        if rng.random() < 0.03:
            service, restarts = boot(), restarts + 1
        if day in (CRASH_AFTER_SEND, CRASH_BEFORE_SEND) and day not in crashed_days and now_local.hour >= SEND_HOUR:
            crashed_days.add(day)
            try:
                boot("after" if day == CRASH_AFTER_SEND else "before").maybe_send_digest()
            except ProcessDied:
                service, restarts = boot(), restarts + 1  # the supervisor restarts the process
                continue
            raise AssertionError("the dying transport should have been reached")
        service.maybe_send_digest()
    set_outages(-1, 12)

    assert restarts >= 10
    runs = {r.id: r for r in DigestRun.select().where(DigestRun.kind == "scheduled")}
    delivered = [(m, "smtp") for m in (parsed(r.raw) for r in smtp_server.received)]
    delivered += [(parsed(m.raw), "gmail") for m in sim.sent_messages()]
    assert all(m["X-IR-Digest-Kind"] == "scheduled" for m, _ in delivered)
    ids = [int(m["X-IR-Digest-Run"]) for m, _ in delivered]
    assert len(ids) == len(set(ids)), "a run was delivered twice"

    per_day: dict[int, list] = {d: [] for d in range(DAYS)}
    for message, transport in delivered:
        run = runs[int(message["X-IR-Digest-Run"])]
        per_day[(date.fromisoformat(run.local_date) - START).days].append((run, message, transport))
    missing = {d for d, got in per_day.items() if not got}
    assert missing == {BOTH_DOWN, CRASH_BEFORE_SEND}, missing
    assert all(len(got) == 1 for got in per_day.values() if got), "two digests on one local day"

    # Windows chain through confirmed sends; a missed or interrupted day rolls into the next.
    sent = sorted((r for r in runs.values() if r.status == "sent"), key=lambda r: r.window_end)
    for previous, current in itertools.pairwise(sent):
        assert current.window_start == previous.window_end
    after_missed = per_day[BOTH_DOWN + 1][0][0]
    assert after_missed.window_start == per_day[BOTH_DOWN - 1][0][0].window_end
    assert after_missed.window_end - after_missed.window_start > timedelta(hours=47)
    crash_after = per_day[CRASH_AFTER_SEND][0][0]
    assert DigestRun.get_by_id(crash_after.id).status == "interrupted"
    assert per_day[CRASH_AFTER_SEND + 1][0][0].window_start == crash_after.window_start  # repeated, never lost
    assert per_day[CRASH_BEFORE_SEND + 1][0][0].window_start == per_day[CRASH_BEFORE_SEND - 1][0][0].window_end
    assert DigestRun.select().where(DigestRun.status == "pending").count() == 0

    # Each digest counts exactly the mail of its window (rolled-over days count double).
    for got in per_day.values():
        for run, message, _ in got:
            expected = (
                Email.select().where((Email.sent_at > run.window_start) & (Email.sent_at <= run.window_end)).count()
            )
            assert re.search(rf": {expected} emails?, ", message["Subject"]), (message["Subject"], expected)

    # Transports: Gmail preferred, SMTP when Gmail is down.
    assert {t for _, _, t in per_day[GMAIL_DOWN]} == {"smtp"} and "gmail: " in per_day[GMAIL_DOWN][0][0].error
    assert {t for _, _, t in per_day[SMTP_DOWN]} == {"gmail"}
    assert {t for _, _, t in per_day[GMAIL_DOWN_MORNING]} == {"smtp"}
    assert {t for d in (0, 1, 2, 4, 5, 7) for _, _, t in per_day[d]} == {"gmail"}
    assert (
        DigestRun.select()
        .where((DigestRun.local_date == str(START + timedelta(days=BOTH_DOWN))) & (DigestRun.status == "failed"))
        .count()
        >= 5
    )  # kept retrying, backing off

    # LLM: narrative paragraphs from the stub, the count-only fallback when it is down or garbled.
    def text(day):
        return per_day[day][0][1].get_body(("plain",)).get_content()

    assert "Regarding " in text(0) and "Regarding " in text(LLM_DOWN + 1)
    for day in (LLM_DOWN, LLM_GARBAGE):
        assert "Regarding " not in text(day) and re.search(r": \d+ sent, \d+ received", text(day))

    # DST: the send hour that does not exist (02:00 on 8 March) is met at 03:00 EDT, once.
    [(dst_run, _, _)] = per_day[DST_DAY]
    assert dst_run.local_date == "2026-03-08"
    assert dst_run.created_at.astimezone(NY).strftime("%H %Z") == "03 EDT"
