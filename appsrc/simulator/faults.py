"""Deterministic fault injection. Everything is off until a test turns it on.

Probabilities are drawn from one seeded RNG, so a single-threaded run is reproducible;
`fail_next` and `time_out_next` force exact failures for tests that must not depend on chance
(several sync threads draw from the RNG at once, so their interleaving is not reproducible).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, replace

TIMEOUT_MODES = ("sleep", "close")


@dataclass(frozen=True)
class FaultSettings:
    """inner_429/inner_5xx: per Gmail call (direct or inside a batch).
    timeout: per HTTP request; `sleep` answers only after `timeout_sleep_s`, `close` drops
    the connection unanswered. deleted_before_get: a messages.get finds the message just
    permanently deleted (404 plus a messageDeleted history record).
    empty_history_page: a history page comes back empty but with a nextPageToken."""

    seed: int = 0
    inner_429: float = 0.0
    inner_5xx: float = 0.0
    timeout: float = 0.0
    timeout_mode: str = "sleep"
    timeout_sleep_s: float = 5.0
    deleted_before_get: float = 0.0
    empty_history_page: float = 0.0

    def __post_init__(self):
        if self.timeout_mode not in TIMEOUT_MODES:
            raise ValueError(f"timeout_mode must be one of {TIMEOUT_MODES}")
        for name in ("inner_429", "inner_5xx", "timeout", "deleted_before_get", "empty_history_page"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability between 0 and 1")


@dataclass(frozen=True)
class ForcedFailure:
    status: int
    reason: str | None
    after: bool = False  # the call takes effect first, then the failure is the answer


class Faults:
    """`sim.faults.update(inner_429=0.1)`, `sim.faults.fail_next("users.messages.get", 2, 503)`."""

    def __init__(self) -> None:
        self.settings = FaultSettings()
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self._forced: dict[str, deque[ForcedFailure]] = {}
        self._forced_timeouts: deque[str] = deque()

    def update(self, **changes) -> None:
        """Change settings; giving `seed` restarts the random sequence."""
        with self._lock:
            self.settings = replace(self.settings, **changes)
            if "seed" in changes:
                self._rng = random.Random(self.settings.seed)

    def fail_next(
        self, method: str, count: int = 1, status: int = 503, reason: str | None = None, *, after: bool = False
    ) -> None:
        """The next `count` calls of `method` (e.g. "users.messages.get") fail with `status`;
        with `after`, each call is carried out first (a send sends), as when Gmail acts and its
        answer is lost to a 5xx."""
        with self._lock:
            self._forced.setdefault(method, deque()).extend([ForcedFailure(status, reason, after)] * count)

    def time_out_next(self, count: int = 1, mode: str = "sleep") -> None:
        """The next `count` API requests time out in `mode` (see `FaultSettings.timeout`),
        whatever the configured probability; a `sleep` lasts `timeout_sleep_s`."""
        if mode not in TIMEOUT_MODES:
            raise ValueError(f"mode must be one of {TIMEOUT_MODES}")
        with self._lock:
            self._forced_timeouts.extend([mode] * count)

    def reset(self) -> None:
        with self._lock:
            self.settings = FaultSettings(seed=self.settings.seed)
            self._rng = random.Random(self.settings.seed)
            self._forced.clear()
            self._forced_timeouts.clear()

    def roll(self, name: str) -> bool:
        """True with the probability configured under `name`."""
        probability = getattr(self.settings, name)
        if probability <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < probability

    def timeout_mode(self) -> str | None:
        """How this API request times out, if it does: a forced timeout first, then the dice."""
        with self._lock:
            if self._forced_timeouts:
                return self._forced_timeouts.popleft()
        return self.settings.timeout_mode if self.roll("timeout") else None

    def pick_5xx(self) -> int:
        with self._lock:
            return self._rng.choice((500, 503))

    def take_forced(self, method: str) -> ForcedFailure | None:
        with self._lock:
            queue = self._forced.get(method)
            return queue.popleft() if queue else None
