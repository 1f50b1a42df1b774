"""An admin's decisions on conversations waiting on the fund's reply (the rule is the read model
`store/queries/awaiting.py`): the policy, "handled", "snooze until a day", and undoing either.

Each write is audited in its own transaction with the change: all or nothing. A mark belongs
to the conversation and covers it through its newest inbound message at the time: a newer one
from the investor opens the case again (a snooze ends then, as in Gmail). Marking again
replaces the mark.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appsrc.crm import audit
from appsrc.crm.validation import ValidationError
from appsrc.store.db import database
from appsrc.store.models import AppSetting, AwaitingMark, User
from appsrc.store.queries.awaiting import (
    BUSINESS_DAYS_RANGE,
    LOOKBACK_DAYS_RANGE,
    POLICY_KEY,
    AwaitingPolicy,
    awaiting_case,
    awaiting_policy,
    local_midnight,
    min_lookback_days,
    thread_key_of,
)

MAX_SNOOZE_DAYS = 365
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class NotWaiting(LookupError):
    """The email is not an open message of a waiting case (or has no mark to undo): 404."""

    def __init__(self, message: str, field: str = "email_id") -> None:
        super().__init__(message)
        self.field = field


# -- the policy ---------------------------------------------------------------------------------
def _whole(body: dict, name: str, bounds: tuple[int, int], default: int) -> int:
    value = body.get(name, default)
    if type(value) is not int or not bounds[0] <= value <= bounds[1]:
        raise ValidationError(f"{name} must be a whole number from {bounds[0]} to {bounds[1]}", field=name)
    return value


def update_policy(body: object, now: datetime, *, actor: User | None = None) -> AwaitingPolicy:
    """`{"business_days"?, "lookback_days"?}`: what is left out keeps its value. Strict: an
    unknown field, a non-integer or an out-of-range value is refused naming it."""
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"business_days", "lookback_days"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]}", field=unknown[0])
    before = awaiting_policy()
    days = _whole(body, "business_days", BUSINESS_DAYS_RANGE, before["business_days"])
    lookback = _whole(body, "lookback_days", LOOKBACK_DAYS_RANGE, before["lookback_days"])
    if lookback < min_lookback_days(days):
        raise ValidationError(
            f"lookback_days must be at least {min_lookback_days(days)} to hold a wait of {days} business days",
            field="lookback_days",
        )
    policy: AwaitingPolicy = {"business_days": days, "lookback_days": lookback}
    with database.atomic():
        AppSetting.insert(key=POLICY_KEY, value=dict(policy), updated_at=now).on_conflict(
            conflict_target=[AppSetting.key], update={AppSetting.value: dict(policy), AppSetting.updated_at: now}
        ).execute()
        audit.record(
            "awaiting.policy",
            now,
            actor=actor,
            target_type="setting",
            target_id=POLICY_KEY,
            detail={"policy": dict(policy), "previous": dict(before)},
        )
    return policy


# -- marks --------------------------------------------------------------------------------------
def _case(email_id: int, now: datetime, tz_name: str) -> dict:
    case = awaiting_case(email_id, now, tz_name)
    if case is None:
        raise NotWaiting("this email is not waiting on a reply")
    return case


def _covered_through(case: dict) -> datetime:
    """The newest open message's send time: what a mark covers."""
    return datetime.fromisoformat(case["last_inbound_at"].replace("Z", "+00:00"))


def _mark(case: dict, state: str, now: datetime, actor: User | None, **values) -> None:
    row = {
        "thread_key": case["thread_id"],
        "state": state,
        "email": case["email_id"],
        "covers_through": _covered_through(case),
        "snoozed_until": None,
        "created_by": actor.id if actor is not None else None,
        "created_at": now,
        **values,
    }
    AwaitingMark.delete().where(AwaitingMark.thread_key == case["thread_id"]).execute()
    AwaitingMark.insert(**row).execute()


def _audit(action: str, now: datetime, actor: User | None, thread_key: str, detail: dict) -> None:
    audit.record(action, now, actor=actor, target_type="conversation", target_id=thread_key, detail=detail)


def mark_handled(email_id: int, now: datetime, tz_name: str, *, actor: User | None = None) -> dict:
    """Close the case through its newest open message; a newer inbound message reopens it."""
    with database.atomic():
        case = _case(email_id, now, tz_name)
        _mark(case, "handled", now, actor)
        _audit("awaiting.handled", now, actor, case["thread_id"], {"email_id": case["email_id"]})
    return {"thread_id": case["thread_id"], "state": "handled", "covers_through": case["last_inbound_at"]}


def parse_until(raw: object, now: datetime, tz_name: str) -> date:
    """A snooze's day: `YYYY-MM-DD`, after today (local) and within a year."""
    if not isinstance(raw, str) or not _DATE.fullmatch(raw.strip()):
        raise ValidationError("until must be a day as YYYY-MM-DD", field="until")
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError("until must be a day as YYYY-MM-DD", field="until") from None
    today = now.astimezone(ZoneInfo(tz_name)).date()
    if day <= today:
        raise ValidationError("until must be a day after today", field="until")
    if day > today + timedelta(days=MAX_SNOOZE_DAYS):
        raise ValidationError(f"until must be within {MAX_SNOOZE_DAYS} days", field="until")
    return day


def snooze(email_id: int, until: object, now: datetime, tz_name: str, *, actor: User | None = None) -> dict:
    """Hide the case until the local midnight starting `until`; it returns then if unanswered,
    or sooner if the investor writes again."""
    day = parse_until(until, now, tz_name)
    moment = local_midnight(day, ZoneInfo(tz_name))
    with database.atomic():
        case = _case(email_id, now, tz_name)
        _mark(case, "snoozed", now, actor, snoozed_until=moment)
        _audit("awaiting.snoozed", now, actor, case["thread_id"], {"email_id": case["email_id"], "until": str(day)})
    return {
        "thread_id": case["thread_id"],
        "state": "snoozed",
        "until": str(day),
        "covers_through": case["last_inbound_at"],
    }


def clear_mark(email_id: int, now: datetime, *, actor: User | None = None) -> dict:
    """Undo "handled" or a snooze on this email's conversation: the rule alone decides again."""
    with database.atomic():
        thread_key = thread_key_of(email_id)
        mark = AwaitingMark.get_or_none(AwaitingMark.thread_key == thread_key) if thread_key is not None else None
        if mark is None:
            raise NotWaiting("this email's conversation is neither handled nor snoozed")
        AwaitingMark.delete().where(AwaitingMark.id == mark.id).execute()
        _audit("awaiting.cleared", now, actor, mark.thread_key, {"email_id": email_id, "was": mark.state})
    return {"thread_id": mark.thread_key, "state": None, "was": mark.state}
