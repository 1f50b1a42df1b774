"""Gmail's project-wide quota shared by every worker process, in PostgreSQL.

One row (`quota_bucket`) is the project's token bucket. A worker takes a *chunk* of units from
it in one atomic UPDATE (refill by the database's own clock, then subtract, only if enough is
there), keeps it as a local allowance, and spends it call by call: N workers together draw at
most the bucket's rate, and a call costs a database round trip only once per chunk. When the
row has too little, the worker sleeps for as long as the refill needs. On a 429 the shared
bucket is drained too, so every worker backs off, not just the one Gmail answered.

The per-user quota needs no sharing: a mailbox is synced by one worker at a time (its lease).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from appsrc.clock import Clock
from appsrc.store.db import database

MIN_CHUNK = 50.0


@contextlib.contextmanager
def _connected() -> Iterator[None]:
    """The calling thread's connection: a sync thread's own (left open), or one for this call."""
    if not database.is_closed():
        yield
        return
    with database.connection_context():
        yield


class SharedTokenBucket:
    """The project bucket across processes; the same `acquire`/`drain` as `gmail.quota.TokenBucket`."""

    def __init__(self, name: str, rate_per_s: float, capacity: float, clock: Clock, *, chunk: float | None = None):
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.name = name
        self.rate = rate_per_s
        self.capacity = capacity
        self.chunk = max(MIN_CHUNK, chunk if chunk is not None else rate_per_s / 50)
        self._clock = clock
        self._local = 0.0
        self._lock = threading.Lock()
        self._ensure_row()

    def _ensure_row(self) -> None:
        with _connected():
            database.execute_sql(
                "INSERT INTO quota_bucket (name, tokens, updated_at) VALUES (%s, %s, clock_timestamp()) "
                "ON CONFLICT (name) DO NOTHING",
                (self.name, self.capacity),
            )

    def _take(self, units: float) -> tuple[bool, float]:
        """Take `units` from the shared row if there; else how long until there would be."""
        refilled = "LEAST(%s, tokens + %s * EXTRACT(EPOCH FROM (clock_timestamp() - updated_at)))"
        with _connected():
            cursor = database.execute_sql(
                f"UPDATE quota_bucket SET tokens = {refilled} - %s, updated_at = clock_timestamp() "
                f"WHERE name = %s AND {refilled} >= %s RETURNING tokens",
                (self.capacity, self.rate, units, self.name, self.capacity, self.rate, units),
            )
            if cursor.fetchone() is not None:
                return True, 0.0
            cursor = database.execute_sql(
                f"SELECT {refilled} FROM quota_bucket WHERE name = %s", (self.capacity, self.rate, self.name)
            )
            row = cursor.fetchone()
        available = float(row[0]) if row else 0.0
        return False, max((units - available) / self.rate, 1e-3)

    def acquire(self, units: float) -> float:
        """Take `units`, sleeping as needed; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                if self._local >= units - 1e-6:
                    self._local -= units
                    return waited
                want = max(self.chunk, units - self._local)
                taken, delay = self._take(min(want, self.capacity))
                if taken:
                    self._local += min(want, self.capacity)
                    if self._local >= units - 1e-6 or want >= self.capacity:
                        self._local -= units
                        return waited
                    continue
            self._clock.sleep(delay)
            waited += delay

    def drain(self) -> None:
        """Gmail said 429: our estimate was optimistic, for every worker."""
        with self._lock:
            self._local = min(self._local, 0.0)
            with _connected():
                database.execute_sql(
                    "UPDATE quota_bucket SET tokens = LEAST(tokens, 0), updated_at = clock_timestamp() WHERE name = %s",
                    (self.name,),
                )
