"""Injectable time: production uses `SystemClock`; tests use `FrozenClock` and advance it.

Every datetime handed out is timezone-aware UTC. Convert to the fund's zone only to render or to
decide "the local day".
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FrozenClock:
    """A clock that only moves when told to; `sleep` advances it instantly."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._mono = 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, seconds))
            self._mono += max(0.0, seconds)

    def set(self, moment: datetime) -> None:
        with self._lock:
            moment = moment.astimezone(UTC)
            self._mono += max(0.0, (moment - self._now).total_seconds())
            self._now = moment


def utc(moment: datetime) -> datetime:
    """Aware UTC from any datetime; a naive one is taken to already be UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 date-time as people and programs write it, its offset kept (naive when it has
    none). RFC 3339 allows a lower-case "z" for UTC, which Python's parser refuses. Raises
    ValueError for anything else."""
    text = text.strip()
    return datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
