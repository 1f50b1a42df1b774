"""Call records for assertions, bounded so 100k-message benchmarks keep flat memory.

Counters are exact for the whole run; only the detailed records live in a ring.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call: Gmail method name (`users.messages.get`, `oauth2.token`, ...)."""

    time: float
    user: str | None
    method: str
    params: dict = field(hash=False)
    status: int
    units: int
    in_batch: bool


class CallLog:
    def __init__(self, capacity: int):
        self._lock = threading.Lock()
        self._records: deque[CallRecord] = deque(maxlen=capacity)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._units: Counter[str | None] = Counter()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._counts[(record.method, record.status)] += 1
            self._units[record.user] += record.units

    def records(self, method: str | None = None, user: str | None = None) -> list[CallRecord]:
        with self._lock:
            return [
                r for r in self._records
                if (method is None or r.method == method) and (user is None or r.user == user)
            ]

    def count(self, method: str | None = None, status: int | None = None) -> int:
        """Exact totals since the last clear, even for records the ring has dropped."""
        with self._lock:
            return sum(
                n for (m, s), n in self._counts.items()
                if (method is None or m == method) and (status is None or s == status)
            )

    def units(self, user: str | None = None) -> int:
        with self._lock:
            return self._units[user] if user is not None else sum(self._units.values())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._units.clear()
