"""What every mutation shares: turning service errors into UserErrors, finding products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from graph.ids import decode_id
from graph.types.errors import UserError, UserErrorCode
from marketplace import selectors
from marketplace.models import Product
from marketplace.services.errors import ServiceError

# Services name what they were given (``product``, ``token``); the client knows the
# argument it sent (``productId``, ``tokenId``). Other field names pass through unchanged.
ARGUMENT_NAMES = {"product": "productId", "token": "tokenId"}


def user_error(exc: ServiceError) -> UserError:
    """The service's error in the API's words: its field becomes the argument's name."""
    return UserError(
        field=ARGUMENT_NAMES.get(exc.field, exc.field), message=exc.message, code=UserErrorCode.of(exc.code)
    )


async def call_service(fn: Callable[..., Any], /, **kwargs) -> tuple[Any, list[UserError]]:
    """Run a (sync) service; a ServiceError becomes ``[UserError]`` instead of an exception."""
    try:
        return await sync_to_async(fn)(**kwargs), []
    except ServiceError as exc:
        return None, [user_error(exc)]


def not_found(field: str = "productId", what: str = "product") -> list[UserError]:
    return [UserError(field=field, message=f"No such {what}.", code=UserErrorCode.NOT_FOUND)]


async def active_product(product_id: str, field: str = "productId") -> Product | None:
    """An active product by global ID (BAD_USER_INPUT for a malformed ID, None when absent)."""
    pk = decode_id(product_id, "Product", field=field)
    return await sync_to_async(selectors.product_by_id)(product_id=pk)


async def any_product(product_id: str, field: str = "productId") -> Product | None:
    """A product by global ID, sold or not (BAD_USER_INPUT for a malformed ID, None when absent)."""
    pk = decode_id(product_id, "Product", field=field)
    return await sync_to_async(selectors.product_by_id)(product_id=pk, active_only=False)


async def own_product(user, product_id: str) -> Product | None:
    """A product the user may manage (theirs, or any for staff); None otherwise."""
    pk = decode_id(product_id, "Product", field="productId")
    return await sync_to_async(selectors.manageable_product)(user=user, product_id=pk)
