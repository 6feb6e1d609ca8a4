"""Fixed-window rate limits through Django's cache (local memory by default; any
shared cache in production makes them global across processes)."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(scope: str, key: str, *, limit: int, window: int = 60) -> bool:
    """Count one attempt; True while within ``limit`` per ``window`` seconds."""
    if limit <= 0:
        return True
    bucket = int(time.time() // window)
    cache_key = f"ratelimit:{scope}:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window + 1)
        count = 1
    return count <= limit


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def visitor(request, user) -> str:
    """Who is acting: the user, else the session, else the address."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        return f"session:{session.session_key}"
    return f"addr:{client_address(request)}"
