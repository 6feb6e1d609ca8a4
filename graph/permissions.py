"""Who may do what. Missing authentication and permission are GraphQL errors with
``extensions.code`` UNAUTHENTICATED / FORBIDDEN; someone else's object answers as
if it did not exist (no error that would confirm it does)."""

from __future__ import annotations

from strawberry.types import Info

from graph.errors import Forbidden, Unauthenticated


def current_user(info: Info):
    """The authenticated user, or None (resolved once per request in the context)."""
    user = info.context.user
    return user if user is not None and user.is_authenticated else None


def require_user(info: Info):
    user = current_user(info)
    if user is None:
        raise Unauthenticated("Log in (session) or send an API token (Authorization: Bearer) to do this.")
    return user


def require_staff(info: Info):
    user = require_user(info)
    if not user.is_staff:
        raise Forbidden("Only staff may do this.")
    return user


def can_see_revenue(user, seller_id: int | None) -> bool:
    """Revenue is the product's seller's and staff's to see (``totalRevenue``, ``history``)."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_staff or (seller_id is not None and seller_id == user.pk)
