"""A short-lived cache for counts and chart series, timed by the appliance's clock.

Counts and weekly series over a million emails are too slow to recompute on every page view,
and a figure a minute old is fine there; lists an admin acts on are never cached. Each cached
read has its own bounded `cachetools.TTLCache` (expired entries go first, then the least
recently used), keyed by the database it read and its arguments. Its timer is the injected
clock's `monotonic`, so tests move time instead of waiting (`use_clock`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import cachetools
import cachetools.keys

from appsrc.clock import Clock, SystemClock
from appsrc.store.db import database

MAX_ENTRIES = 512  # per cached read

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_clock: Clock = SystemClock()
_caches: list[cachetools.TTLCache[Any, Any]] = []
_lock = threading.Lock()


def use_clock(clock: Clock) -> None:
    """Time the caches by `clock` from now on (and start them empty: old expiry times were
    measured on another clock)."""
    global _clock
    _clock = clock
    clear_cache()


def clear_cache() -> None:
    with _lock:
        for cache in _caches:
            cache.clear()


def entries() -> int:
    """How many figures are cached, over every cached read."""
    with _lock:
        return sum(len(cache) for cache in _caches)


def now() -> datetime:
    """The appliance's time, for reads that compare with it (a lease's expiry)."""
    return _clock.now()


def _timer() -> float:
    return _clock.monotonic()


def _key(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """The arguments, and which database answered (tests and tools open several)."""
    return (id(database.obj), getattr(database.obj, "database", None), cachetools.keys.hashkey(*args, **kwargs))


def new_cache(ttl_s: float) -> cachetools.TTLCache[Any, Any]:
    """A cache of its own for values no decorated read returns (see `remember`)."""
    cache: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(maxsize=MAX_ENTRIES, ttl=ttl_s, timer=_timer)
    with _lock:
        _caches.append(cache)
    return cache


def remember(cache: cachetools.TTLCache[Any, Any], key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """`cache`'s value for `key` in this database, computing and keeping it when missing."""
    full_key = _key(*key)
    with _lock:
        if full_key in cache:
            kept: T = cache[full_key]  # what `compute` returned for this key
            return kept
    value = compute()
    with _lock:
        cache[full_key] = value
    return value


def cached(ttl_s: float) -> Callable[[F], F]:
    """Cache a read for `ttl_s` seconds of the injected clock."""

    def decorate(func: F) -> F:
        cache = new_cache(ttl_s)
        wrapper = cachetools.cached(cache, key=_key, lock=_lock)(func)
        wrapper.uncached = func  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
