"""What every mutation shares: turning service errors into UserErrors, finding products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from graph.ids import decode_id
from graph.types.commerce import UserError
from marketplace.models import Product
from marketplace.services.errors import ServiceError


async def call_service(fn: Callable[..., Any], /, **kwargs) -> tuple[Any, list[UserError]]:
    """Run a (sync) service; a ServiceError becomes ``[UserError]`` instead of an exception."""
    try:
        return await sync_to_async(fn)(**kwargs), []
    except ServiceError as exc:
        return None, [UserError(field=exc.field, message=exc.message, code=exc.code)]


def not_found(field: str = "productId", what: str = "product") -> list[UserError]:
    return [UserError(field=field, message=f"No such {what}.", code="not_found")]


async def active_product(product_id: str, field: str = "productId") -> Product | None:
    """An active product by global ID (BAD_USER_INPUT for a malformed ID, None when absent)."""
    return await Product.objects.filter(pk=decode_id(product_id, "Product", field=field), is_active=True).afirst()


async def own_product(user, product_id: str) -> Product | None:
    """A product the user may manage (theirs, or any for staff); None otherwise."""
    qs = Product.objects.filter(pk=decode_id(product_id, "Product", field="productId"))
    if not user.is_staff:
        qs = qs.filter(seller=user)
    return await qs.afirst()
