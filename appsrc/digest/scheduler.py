"""The daily schedule's state and decisions: the local day, the cursor and the once-per-day claim.

State lives in `app_settings`: `digest_last_sent_at` is the cursor — the end of the last
window a scheduled digest *confirmed* delivering (the next window starts there) — and
`digest_last_sent_date` the once-per-day guard: the fund's local date (`CRM_TIMEZONE`) whose
scheduled digest has been claimed. The claim is a compare-and-set on that row, written in the same
transaction as the attempt's pending `DigestRun`, so two workers (or a restart racing a slow
send) cannot both send for one day. A failed send releases the claim and leaves the cursor, so the
next cycle retries (after a short back-off that grows with repeated failures) and nothing is lost.

The local day is decided with zoneinfo on the aware UTC `now`, so DST is handled by construction:
on a spring-forward day a send hour that does not exist (02:00 in New York) is met at the first
instant after it (03:00); on a fall-back day the repeated hour cannot send twice (same date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from peewee import IntegrityError

from appsrc.clock import utc
from appsrc.digest.policy import DigestPolicy
from appsrc.store.db import database
from appsrc.store.models import AppSetting, DigestRun

CURSOR_KEY = "digest_last_sent_at"
GUARD_KEY = "digest_last_sent_date"
FIRST_WINDOW = timedelta(hours=24)  # the first digest ever, and send-now, cover the last 24 h
RETRY_FIRST_S = 60  # the next 60 s cycle
RETRY_MAX_S = 3600


@dataclass(frozen=True)
class ScheduleState:
    last_sent_at: datetime | None  # the cursor
    last_sent_date: str | None  # the claimed local date


@dataclass(frozen=True)
class Decision:
    due: bool
    reason: str
    local_date: str


def read_state() -> ScheduleState:
    rows = {r.key: r.value for r in AppSetting.select().where(AppSetting.key.in_([CURSOR_KEY, GUARD_KEY]))}
    cursor = rows.get(CURSOR_KEY)
    try:
        last_sent_at = utc(datetime.fromisoformat(cursor)) if isinstance(cursor, str) else None
    except ValueError:
        last_sent_at = None
    date = rows.get(GUARD_KEY)
    return ScheduleState(last_sent_at, date if isinstance(date, str) else None)


def local_date(now: datetime, tz: tzinfo) -> str:
    return now.astimezone(tz).date().isoformat()


def retry_delay(failures: int) -> timedelta:
    """60 s after the first failure (the next cycle), doubling, at most an hour."""
    return timedelta(seconds=min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** max(0, failures - 1)))


def decide(
    now: datetime, tz: tzinfo, policy: DigestPolicy, state: ScheduleState, failures_today: list[DigestRun]
) -> Decision:
    """Whether a scheduled digest is due now (pure)."""
    local = now.astimezone(tz)
    today = local.date().isoformat()
    if not policy.enabled:
        return Decision(False, "disabled", today)
    if local.hour < policy.send_hour:
        return Decision(False, f"before {policy.send_hour:02d}:00 local", today)
    if state.last_sent_date == today:
        return Decision(False, "already sent (or claimed) today", today)
    if failures_today:
        latest = max(failures_today, key=lambda r: utc(r.finished_at or r.created_at))
        last = utc(latest.finished_at or latest.created_at)
        # A failure only an admin can fix (a wrong password, a missing grant) is retried hourly.
        delay = timedelta(seconds=RETRY_MAX_S) if latest.error_kind == "permanent" else retry_delay(len(failures_today))
        if now < last + delay:
            return Decision(False, f"retrying after {len(failures_today)} failed attempt(s)", today)
    return Decision(True, "due", today)


def window_for(now: datetime, state: ScheduleState) -> tuple[datetime, datetime]:
    """(last confirmed send, now]; the last 24 h the first time. A missed day rolls in here."""
    since = state.last_sent_at if state.last_sent_at is not None and state.last_sent_at < now else now - FIRST_WINDOW
    return since, now


def failures_on(day: str) -> list[DigestRun]:
    return list(
        DigestRun.select().where(
            (DigestRun.kind == "scheduled") & (DigestRun.local_date == day) & (DigestRun.status == "failed")
        )
    )


def _set(key: str, value, now: datetime) -> None:
    if not AppSetting.update(value=value, updated_at=now).where(AppSetting.key == key).execute():
        AppSetting.create(key=key, value=value, updated_at=now)


def claim_day(day: str, now: datetime) -> tuple[bool, str | None]:
    """Compare-and-set the guard to `day`; (won, previous value). Call inside a transaction."""
    row = AppSetting.get_or_none(AppSetting.key == GUARD_KEY)
    if row is None:
        try:
            with database.atomic():  # a savepoint: a lost insert race must not abort the caller
                AppSetting.create(key=GUARD_KEY, value=day, updated_at=now)
        except IntegrityError:
            return False, None
        return True, None
    previous = row.value if isinstance(row.value, str) else None
    if previous == day:
        return False, previous
    condition = AppSetting.value.is_null() if row.value is None else AppSetting.value == row.value
    won = AppSetting.update(value=day, updated_at=now).where((AppSetting.key == GUARD_KEY) & condition).execute()
    return bool(won), previous


def release_day(day: str, previous: str | None, now: datetime) -> None:
    """Undo our claim after a failed send (only if it is still ours)."""
    AppSetting.update(value=previous, updated_at=now).where(
        (AppSetting.key == GUARD_KEY) & (AppSetting.value == day)
    ).execute()


def advance_cursor(until: datetime, now: datetime) -> None:
    _set(CURSOR_KEY, utc(until).isoformat(), now)
