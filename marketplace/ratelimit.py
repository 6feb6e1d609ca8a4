"""Fixed-window rate limits whose counters flooding cannot reset.

Django's local-memory cache forgets its least recently used keys under pressure: a flood
of junk usernames used to evict a real user's login counter and hand out a fresh
allowance. Here each scope keeps its counters in a bounded table that, when full, lets a
new key take over one of the *lightest* keys and inherit its count (the Space-Saving
algorithm, Metwally et al. 2005). A count is therefore never below the truth: flooding
can only make new keys start higher, never bring a counted key back to zero. Memory is
bounded by ``RATE_LIMIT_KEYS`` per scope.

The tables live in the process: with several worker processes each counts on its own,
so the effective limit is the setting times the number of processes (README, "Rate
limits").
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from django.conf import settings


class HeavyKeyCounter:
    """Counts per key in at most ``capacity`` keys, never under-counting a key it holds."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._counts: dict[str, int] = {}
        self._by_count: dict[int, dict[str, None]] = defaultdict(dict)  # insertion-ordered sets
        self._floor = 0  # no key has a count below this

    def incr(self, key: str) -> int:
        count = self._counts.get(key)
        if count is not None:
            del self._by_count[count][key]
        elif len(self._counts) >= self.capacity:
            count = self._evict_lightest()
        else:
            count = 0
            self._floor = 0
        count += 1
        self._counts[key] = count
        self._by_count[count][key] = None
        return count

    def _evict_lightest(self) -> int:
        while not self._by_count.get(self._floor):
            self._floor += 1
        bucket = self._by_count[self._floor]
        victim = next(iter(bucket))
        del bucket[victim]
        del self._counts[victim]
        return self._floor

    def __len__(self) -> int:
        return len(self._counts)


class _Limiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, int], tuple[int, HeavyKeyCounter]] = {}
        self.clock = time.time  # tests pin it, so that no window ends in the middle of one

    def hit(self, scope: str, key: str, *, window: int) -> int:
        bucket = int(self.clock() // window)
        with self._lock:
            current = self._tables.get((scope, window))
            if current is None or current[0] != bucket:  # a new window starts from zero
                current = (bucket, HeavyKeyCounter(settings.RATE_LIMIT_KEYS))
                self._tables[(scope, window)] = current
            return current[1].incr(key)

    def reset(self) -> None:
        with self._lock:
            self._tables.clear()


_limiter = _Limiter()


def hit(scope: str, key: str, *, limit: int, window: int = 60) -> bool:
    """Count one attempt; True while within ``limit`` per ``window`` seconds (0 = no limit)."""
    if limit <= 0:
        return True
    return _limiter.hit(scope, key, window=window) <= limit


def reset() -> None:
    """Forget every counter and restore the clock (tests)."""
    _limiter.reset()
    _limiter.clock = time.time


def pin_clock(now: float) -> None:
    """Stop the windows' clock at ``now`` (tests)."""
    _limiter.clock = lambda: now


def client_address(request) -> str:
    """The client's address as the ASGI server reports it. Behind a proxy, uvicorn puts the
    ``X-Forwarded-For`` address here only for proxies listed in ``--forwarded-allow-ips``."""
    return request.META.get("REMOTE_ADDR") or "unknown"
