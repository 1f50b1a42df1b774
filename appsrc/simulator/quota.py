"""Gmail's usage limits: per-user and per-project unit buckets and per-user concurrency.

Gmail documents 15,000 units per user per minute (250/s moving average, short bursts
allowed) and 1,200,000 per project per minute. A continuously refilled token bucket
reproduces both the sustained rate and the "Retry after <time>" a client can honour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

METHOD_UNITS = {
    "users.getProfile": 1,
    "users.labels.list": 1,
    "users.history.list": 2,
    "users.messages.list": 5,
    "users.messages.get": 5,
    "users.messages.attachments.get": 5,
    "users.drafts.create": 10,
    "users.drafts.send": 100,
    "users.messages.send": 100,
}


def retry_after_text(moment: float) -> str:
    """Gmail's timestamp style: 2026-11-25T10:00:01.123Z."""
    stamp = datetime.fromtimestamp(moment, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@dataclass
class QuotaDenial:
    status: int
    reason: str
    message: str


class _Bucket:
    __slots__ = ("level", "updated_at")

    def __init__(self, level: float, now: float):
        self.level = level
        self.updated_at = now

    def refill(self, rate: float, burst: float, now: float) -> None:
        self.level = min(burst, self.level + max(0.0, now - self.updated_at) * rate)
        self.updated_at = now


@dataclass
class QuotaSettings:
    """Gmail's published numbers by default. `enabled=False` stops limiting (units are still
    counted in the call log); `max_concurrent_per_user=None` disables the concurrency limit."""

    enabled: bool = True
    user_units_per_s: float = 250.0
    user_burst: float = 15_000.0
    project_units_per_s: float = 20_000.0
    project_burst: float = 1_200_000.0
    max_concurrent_per_user: int | None = None


class QuotaLimiter:
    """Live buckets and in-flight counters; `settings` changes only through `update()`."""

    def __init__(self, clock: Callable[[], float]):
        self.settings = QuotaSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, _Bucket] = {}
        self._projects: dict[str, _Bucket] = {}
        self._in_flight: dict[str, int] = {}

    def update(self, **changes) -> None:
        """E.g. `update(enabled=False)` for functional tests, `update(user_burst=500)` to provoke 429s."""
        with self._lock:
            self.settings = replace(self.settings, **changes)

    def reset(self) -> None:
        """Refill every bucket, e.g. between benchmark phases."""
        with self._lock:
            self._users.clear()
            self._projects.clear()

    def charge(self, user: str, project: str, units: int) -> QuotaDenial | None:
        """Take units from both buckets, or neither and say when enough will be back."""
        settings = self.settings
        if not settings.enabled or units <= 0:
            return None
        now = self._clock()
        with self._lock:
            user_bucket = self._users.setdefault(user, _Bucket(settings.user_burst, now))
            project_bucket = self._projects.setdefault(project, _Bucket(settings.project_burst, now))
            user_bucket.refill(settings.user_units_per_s, settings.user_burst, now)
            project_bucket.refill(settings.project_units_per_s, settings.project_burst, now)
            if project_bucket.level < units:
                wait = (units - project_bucket.level) / settings.project_units_per_s
                return QuotaDenial(
                    429, "rateLimitExceeded", f"Rate Limit Exceeded.  Retry after {retry_after_text(now + wait)}"
                )
            if user_bucket.level < units:
                wait = (units - user_bucket.level) / settings.user_units_per_s
                return QuotaDenial(
                    429,
                    "userRateLimitExceeded",
                    f"User-rate limit exceeded.  Retry after {retry_after_text(now + wait)}",
                )
            user_bucket.level -= units
            project_bucket.level -= units
        return None

    def try_enter(self, user: str) -> bool:
        """Claim an in-flight slot for a user; False when the concurrency limit is reached."""
        with self._lock:
            current = self._in_flight.get(user, 0)
            limit = self.settings.max_concurrent_per_user
            if limit is not None and current >= limit:
                return False
            self._in_flight[user] = current + 1
            return True

    def leave(self, user: str) -> None:
        with self._lock:
            remaining = self._in_flight[user] - 1
            if remaining:
                self._in_flight[user] = remaining
            else:
                del self._in_flight[user]


CONCURRENCY_DENIAL = QuotaDenial(429, "rateLimitExceeded", "Too many concurrent requests for user.")
