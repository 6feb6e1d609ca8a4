"""The cart a request acts on: the logged-in user's, or else the anonymous visitor's
(found by session). The cart query and the cart mutations share it."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.permissions import current_user
from marketplace.models import Cart
from marketplace.services import cart as carts


async def request_cart(info: Info, *, create: bool) -> Cart | None:
    """The user's cart, or the anonymous visitor's (by session; created when asked)."""
    user = current_user(info)
    if user is not None:
        return await sync_to_async(carts.get_cart)(user=user, create=create)
    session = info.context.request.session
    if session.session_key is None:
        if not create:
            return None
        await session.acreate()
    return await sync_to_async(carts.get_cart)(session_key=session.session_key, create=create)
