"""Call records for assertions, bounded so 100k-message benchmarks keep flat memory.

Counters are exact for the whole run; only the detailed records live in a ring.

Mail operations (every draft call, every call that is not a GET: sends, inserts, label changes)
are also kept apart, for audits: `clear()` never touches them, so a test cannot wipe a send or a
drafts.send from the record. Their per-method counts are exact; the first `mail_capacity` records
are kept in full, which reads never crowd out.
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
    def __init__(self, capacity: int, mail_capacity: int = 10_000):
        self._lock = threading.Lock()
        self._records: deque[CallRecord] = deque(maxlen=capacity)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._units: Counter[str | None] = Counter()
        self._mail_capacity = mail_capacity
        self._mail_records: list[CallRecord] = []
        self._mail_counts: Counter[str] = Counter()

    def add(self, record: CallRecord, *, mail_operation: bool = False) -> None:
        with self._lock:
            self._records.append(record)
            self._counts[(record.method, record.status)] += 1
            self._units[record.user] += record.units
            if mail_operation:
                self._mail_counts[record.method] += 1
                if len(self._mail_records) < self._mail_capacity:
                    self._mail_records.append(record)

    def mail_operations(self) -> list[CallRecord]:
        """Every mail operation since the simulator started (the first `mail_capacity`)."""
        with self._lock:
            return list(self._mail_records)

    def mail_operation_counts(self) -> Counter[str]:
        """Exact counts per method of every mail operation since the simulator started."""
        with self._lock:
            return Counter(self._mail_counts)

    def records(self, method: str | None = None, user: str | None = None) -> list[CallRecord]:
        with self._lock:
            return [
                r for r in self._records if (method is None or r.method == method) and (user is None or r.user == user)
            ]

    def count(self, method: str | None = None, status: int | None = None) -> int:
        """Exact totals since the last clear, even for records the ring has dropped."""
        with self._lock:
            return sum(
                n
                for (m, s), n in self._counts.items()
                if (method is None or m == method) and (status is None or s == status)
            )

    def units(self, user: str | None = None) -> int:
        with self._lock:
            return self._units[user] if user is not None else sum(self._units.values())

    def clear(self) -> None:
        """Forget the ring, counters and units; never the mail operations."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self._units.clear()
