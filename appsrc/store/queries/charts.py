"""Weekly series for the charts page, in the fund's time zone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from peewee import SQL, Field, Function, fn

from appsrc.matching.direction import INBOUND, OUTBOUND
from appsrc.store.db import is_sqlite
from appsrc.store.models import (
    ActivityProposal,
    Email,
    EmailAccount,
    EmailAccountMessage,
    EmailInvestorLink,
    Investor,
)
from appsrc.store.queries.cache import cached
from appsrc.store.queries.common import QueryError, sent_by_team


# -- charts ---------------------------------------------------------------------------------------------
def _day_expr(column: Field, offset_minutes: int) -> Function:
    """The local calendar day of a UTC timestamp column, as 'YYYY-MM-DD' text. A fixed offset
    (the zone's current one): a daylight-saving change moves at most an hour across a boundary."""
    if is_sqlite():
        return fn.date(column, f"{offset_minutes:+d} minutes").coerce(False)
    return fn.to_char(SQL(f"({column.column_name} + interval '{int(offset_minutes)} minutes')"), "YYYY-MM-DD").coerce(
        False
    )


class WeekWindow(NamedTuple):
    """The local weeks a chart covers: everything its figures depend on besides the data, so
    it is the cache key (the moment of the visit is not: it changes every microsecond)."""

    weeks: tuple[str, ...]  # each week's local Monday, oldest first
    start: datetime  # the first Monday's local midnight, in UTC
    offset_minutes: int  # the zone's offset now (see _day_expr)


def _week_window(now: datetime, tz_name: str, weeks: int) -> WeekWindow:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    local_now = now.astimezone(tz)
    utc_offset = local_now.utcoffset()
    assert utc_offset is not None  # an aware datetime (astimezone) always has one
    offset = int(utc_offset.total_seconds() // 60)
    this_monday = (local_now - timedelta(days=local_now.weekday())).date()
    mondays = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    start_local = datetime.combine(mondays[0], datetime.min.time(), tzinfo=tz)
    return WeekWindow(tuple(m.isoformat() for m in mondays), start_local.astimezone(UTC), offset)


def _week_of(day: str | date) -> str:
    d = day if not isinstance(day, str) else datetime.fromisoformat(day)
    d = d.date() if isinstance(d, datetime) else d
    return (d - timedelta(days=d.weekday())).isoformat()


def _live_email() -> Function:
    return fn.EXISTS(
        EmailAccountMessage.select(SQL("1")).where(
            (EmailAccountMessage.email == Email.id) & EmailAccountMessage.deleted_at.is_null()
        )
    )


def _fold(
    weeks: list[str], rows: Iterable[tuple[str | date, str, int]], top: int | None = None, other: str = "Other"
) -> list[dict[str, Any]]:
    """(day, series, count) rows → weekly series aligned on `weeks`, biggest first."""
    index = {w: i for i, w in enumerate(weeks)}
    series: dict[str, list[int]] = {}
    for day, name, count in rows:
        week = _week_of(day)
        if week in index:
            series.setdefault(name, [0] * len(weeks))[index[week]] += count
    ordered = sorted(series.items(), key=lambda kv: (-sum(kv[1]), str(kv[0])))
    if top is not None and len(ordered) > top:
        rest = [sum(col) for col in zip(*(v for _, v in ordered[top:]), strict=True)]
        ordered = ordered[:top] + [(other, rest)]
    return [{"name": name, "values": values} for name, values in ordered]


def weekly_volume(by: str, now: datetime, tz_name: str, weeks: int = 12, top: int = 8) -> dict[str, Any]:
    """Live captured emails per local week up to `now`'s: `by` is "investor", "member" (per team
    mailbox, each mailbox counting its own copy) or "direction" (inbound vs outbound,
    email-level). Cached five minutes per week window."""
    if by not in ("investor", "member", "direction"):
        raise QueryError("by must be investor, member or direction", "by")
    return _weekly_volume(by, _week_window(now, tz_name, weeks), top)


@cached(300)
def _weekly_volume(by: str, window: WeekWindow, top: int) -> dict[str, Any]:
    week_keys, start, offset = list(window.weeks), window.start, window.offset_minutes
    day = _day_expr(Email.sent_at, offset)
    if by == "investor":
        rows = (
            EmailInvestorLink.select(day, Investor.name, fn.COUNT(EmailInvestorLink.id))
            .join(Email, on=(EmailInvestorLink.email == Email.id))
            .switch(EmailInvestorLink)
            .join(Investor, on=(EmailInvestorLink.investor == Investor.id))
            .where((Email.sent_at >= start) & _live_email())
            .group_by(day, Investor.name)
            .tuples()
        )
        series = _fold(week_keys, rows, top)
    elif by == "member":
        rows = (
            EmailAccountMessage.select(day, EmailAccount.address, fn.COUNT(EmailAccountMessage.id))
            .join(Email, on=(EmailAccountMessage.email == Email.id))
            .switch(EmailAccountMessage)
            .join(EmailAccount, on=(EmailAccountMessage.account == EmailAccount.id))
            .where((Email.sent_at >= start) & EmailAccountMessage.deleted_at.is_null())
            .group_by(day, EmailAccount.address)
            .tuples()
        )
        series = _fold(week_keys, rows, top)
    elif by == "direction":
        outbound = sent_by_team(Email.from_email)
        rows = (
            Email.select(day, outbound, fn.COUNT(Email.id))
            .where((Email.sent_at >= start) & _live_email())
            .group_by(day, outbound)
            .tuples()
        )
        series = _fold(week_keys, ((d, OUTBOUND if o else INBOUND, c) for d, o, c in rows))
        series.sort(key=lambda s: s["name"])
    return {"weeks": week_keys, "series": series}


def approvals_backlog(now: datetime, tz_name: str, weeks: int = 12) -> dict[str, Any]:
    """Pending proposals at the end of each local week up to `now`'s, with how many were created
    and decided. Cached two minutes per week window."""
    return _approvals_backlog(_week_window(now, tz_name, weeks))


@cached(120)
def _approvals_backlog(window: WeekWindow) -> dict[str, Any]:
    week_keys, start, offset = list(window.weeks), window.start, window.offset_minutes
    before_created = ActivityProposal.select().where(ActivityProposal.created_at < start).count()
    before_decided = ActivityProposal.select().where(ActivityProposal.decided_at < start).count()
    created_day = _day_expr(ActivityProposal.created_at, offset)
    decided_day = _day_expr(ActivityProposal.decided_at, offset)
    created = _fold(
        week_keys,
        (
            (d, "created", c)
            for d, c in ActivityProposal.select(created_day, fn.COUNT(ActivityProposal.id))
            .where(ActivityProposal.created_at >= start)
            .group_by(created_day)
            .tuples()
        ),
    )
    decided = _fold(
        week_keys,
        (
            (d, "decided", c)
            for d, c in ActivityProposal.select(decided_day, fn.COUNT(ActivityProposal.id))
            .where(ActivityProposal.decided_at >= start)
            .group_by(decided_day)
            .tuples()
        ),
    )
    created_values = created[0]["values"] if created else [0] * len(week_keys)
    decided_values = decided[0]["values"] if decided else [0] * len(week_keys)
    backlog, level = [], before_created - before_decided
    for c, d in zip(created_values, decided_values, strict=True):
        level += c - d
        backlog.append(level)
    return {"weeks": week_keys, "created": created_values, "decided": decided_values, "pending": backlog}
