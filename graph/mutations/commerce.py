"""Favorites, cart and checkout."""

from __future__ import annotations

from typing import Annotated

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.carts import request_cart
from graph.loaders.commerce import CartItemsByCartIdLoader
from graph.mutations.common import active_product, any_product, call_service, not_found
from graph.permissions import require_user
from graph.types.catalogue import ProductType
from graph.types.commerce import CartType, OrderType
from graph.types.errors import UserError, UserErrorCode
from marketplace.models import Cart
from marketplace.services import cart as carts
from marketplace.services import favorites, orders

IDEMPOTENCY_KEY_HELP = (
    "A key the client chooses per purchase (1 to 100 printable characters, a UUID say). Checking out again "
    "with a key you already used returns that order instead of placing a new one; the same key with a cart "
    "holding other lines is the error idempotency_key_reused."
)


@strawberry.type
class FavoritePayload:
    product: ProductType | None
    is_favorite: bool
    errors: list[UserError]


@strawberry.type
class CartPayload:
    cart: CartType | None
    errors: list[UserError]


@strawberry.type
class CheckoutPayload:
    order: OrderType | None
    errors: list[UserError]


async def _favorite(info: Info, product_id: strawberry.ID, *, add: bool) -> FavoritePayload:
    user = require_user(info)
    product = await active_product(product_id)
    if product is None:
        return FavoritePayload(product=None, is_favorite=False, errors=not_found())
    service = favorites.add_favorite if add else favorites.remove_favorite
    await sync_to_async(service)(user=user, product=product)
    return FavoritePayload(product=product, is_favorite=add, errors=[])


def cart_payload(info: Info, cart: Cart | None, errors: list[UserError]) -> CartPayload:
    """The cart as it is now: lines an earlier mutation of the same document loaded are
    forgotten, so that the payload shows this mutation's outcome."""
    if cart is not None:
        CartItemsByCartIdLoader(info.context).clear(cart.pk)
    return CartPayload(cart=cart, errors=errors)


@strawberry.type
class CommerceMutation:
    @strawberry.mutation(description="Favorite a product. Idempotent.")
    async def add_favorite(self, info: Info, product_id: strawberry.ID) -> FavoritePayload:
        return await _favorite(info, product_id, add=True)

    @strawberry.mutation(description="Un-favorite a product. Idempotent.")
    async def remove_favorite(self, info: Info, product_id: strawberry.ID) -> FavoritePayload:
        return await _favorite(info, product_id, add=False)

    @strawberry.mutation(description="Add units of a product to the cart (1..99 in all, never beyond stock).")
    async def add_to_cart(self, info: Info, product_id: strawberry.ID, quantity: int = 1) -> CartPayload:
        product = await active_product(product_id)
        if product is None:
            return CartPayload(cart=None, errors=not_found())
        cart = await request_cart(info, create=True)
        _, errors = await call_service(carts.add_to_cart, cart=cart, product=product, quantity=quantity)
        return cart_payload(info, cart, errors)

    @strawberry.mutation(
        description="Set the quantity of a product in the cart (1..99, never beyond stock); 0 removes the line. "
        "Metrics count the difference in units: up is an addition, down a removal."
    )
    async def update_cart_item(self, info: Info, product_id: strawberry.ID, quantity: int) -> CartPayload:
        # Like removeFromCart, a line whose product is no longer sold can still be set to 0.
        product = await (any_product if quantity == 0 else active_product)(product_id)
        cart = await request_cart(info, create=False)
        if product is None or cart is None:
            return cart_payload(info, cart, not_found())
        _, errors = await call_service(carts.update_cart_item, cart=cart, product=product, quantity=quantity)
        return cart_payload(info, cart, errors)

    @strawberry.mutation(description="Remove a product from the cart.")
    async def remove_from_cart(self, info: Info, product_id: strawberry.ID) -> CartPayload:
        product = await any_product(product_id)  # a product no longer sold can still leave a cart
        cart = await request_cart(info, create=False)
        if product is None or cart is None:
            return cart_payload(info, cart, not_found())
        removed, errors = await call_service(carts.remove_from_cart, cart=cart, product=product)
        if not errors and not removed:
            errors = [
                UserError(field="productId", message="This product is not in the cart.", code=UserErrorCode.NOT_IN_CART)
            ]
        return cart_payload(info, cart, errors)

    @strawberry.mutation(
        description="Buy what is in the cart: one order, stock and metrics updated at once. Lines whose "
        "product is no longer sold stay in the cart and are not bought."
    )
    async def checkout(
        self,
        info: Info,
        idempotency_key: Annotated[str | None, strawberry.argument(description=IDEMPOTENCY_KEY_HELP)] = None,
    ) -> CheckoutPayload:
        user = require_user(info)
        cart = await request_cart(info, create=False)
        order, errors = await call_service(orders.checkout, user=user, cart=cart, idempotency_key=idempotency_key)
        return CheckoutPayload(order=order, errors=errors)
