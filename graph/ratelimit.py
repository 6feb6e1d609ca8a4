"""Who a tracking rate limit counts: the limiter itself is ``marketplace.ratelimit``."""

from __future__ import annotations

from marketplace.ratelimit import client_address, hit

__all__ = ["hit", "visitor"]


def visitor(request, user) -> str:
    """Who is acting: the user, else the session, else the address."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        return f"session:{session.session_key}"
    return f"addr:{client_address(request)}"
