"""Loaders for what a shopper owns."""

from __future__ import annotations

from graph.loaders.base import Loader
from marketplace import selectors
from marketplace.models import OrderItem


class OrderItemsByOrderIdLoader(Loader):
    context_key = "order_items_by_order_id"

    def load_batch(self, keys: list[int]) -> list[list[OrderItem]]:
        items = selectors.order_items_for(keys)
        return [items.get(key, []) for key in keys]
