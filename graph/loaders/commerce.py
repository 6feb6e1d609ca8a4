"""Loaders for what a shopper owns: cart lines and order lines."""

from __future__ import annotations

from graph.loaders.base import Loader
from marketplace import selectors
from marketplace.models import CartItem, OrderItem


class OrderItemsByOrderIdLoader(Loader):
    context_key = "order_items_by_order_id"

    def load_batch(self, keys: list[int]) -> list[list[OrderItem]]:
        items = selectors.order_items_for(keys)
        return [items.get(key, []) for key in keys]


class CartItemsByCartIdLoader(Loader):
    """A cart's lines with their products. A mutation that changes a cart clears its key
    (``clear(cart.pk)``), so that a payload never shows the lines from before the change."""

    context_key = "cart_items_by_cart_id"

    def load_batch(self, keys: list[int]) -> list[list[CartItem]]:
        items = selectors.cart_items_for(keys)
        return [items.get(key, []) for key in keys]
