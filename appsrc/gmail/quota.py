"""Token buckets that pace calls to Gmail's quota before Gmail has to say 429.

Gmail allows 15,000 units per user per minute (a 250 units/s moving average with short bursts)
and 1,200,000 per project per minute, shared by every mailbox (Gmail API usage limits).
"""

from __future__ import annotations

import threading
from typing import Protocol

from appsrc.clock import Clock

USER_UNITS_PER_S = 250.0
PROJECT_UNITS_PER_S = 1_200_000 / 60

# Gmail's documented cost of each method in quota units.
COST = {
    "users.getProfile": 1,
    "users.labels.list": 1,
    "users.history.list": 2,
    "users.messages.list": 5,
    "users.messages.get": 5,
    "users.drafts.create": 10,
    "users.messages.send": 100,
}


class Pacer(Protocol):
    """What the client needs of a bucket: this process's `TokenBucket`, or one shared by
    several processes (`store.quota.SharedTokenBucket`)."""

    def acquire(self, units: float) -> float: ...

    def drain(self) -> None: ...


class TokenBucket:
    """`acquire(n)` waits (on the injected clock) until n units are available, then takes them.

    A request larger than the capacity is allowed once the bucket is full, going negative, so a
    batch bigger than the burst still proceeds at the sustained rate.
    """

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate_per_s
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self, units: float) -> float:
        """Take `units`, sleeping as needed; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                needed = min(units, self.capacity)
                if self._tokens >= needed - 1e-6:  # float rounding must not spin on a dust deficit
                    self._tokens -= units
                    return waited
                delay = max((needed - self._tokens) / self.rate, 1e-3)
            self._clock.sleep(delay)
            waited += delay

    def drain(self) -> None:
        """Empty the bucket: Gmail said 429, so our estimate was optimistic."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)
