"""Checkout: the cart becomes an order in one transaction, without overselling."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from marketplace.models import Cart, Order, OrderItem, Product
from marketplace.services.errors import ServiceError
from marketplace.signals import order_placed


def checkout(*, user, cart: Cart | None) -> Order:
    """Turn ``cart`` into an Order for ``user``.

    In one transaction: lock the products (ascending id, one lock order for every
    buyer), check and decrement stock, capture unit prices, empty the cart, and
    announce ``order_placed`` so the metrics record the sale in this same
    transaction. Racing buyers serialise on the product locks (SQLite: on the
    database write lock taken at BEGIN IMMEDIATE), so stock never goes below zero.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: it excludes other buyers just the
    same but not the foreign-key checks (``KEY SHARE``) of rows that reference the
    product. With ``FOR UPDATE`` a tracking batch holding a metrics row lock waited
    at commit for its deferred FK check on the product, while the buyer holding the
    product waited for that metrics row: a deadlock PostgreSQL detected in tests.
    """
    with transaction.atomic():
        items = list(cart.items.order_by("product_id")) if cart is not None else []
        if not items:
            raise ServiceError("The cart is empty.", field="cart", code="empty_cart")
        products = {
            p.pk: p
            for p in Product.objects.select_for_update(no_key=True)
            .filter(pk__in=[i.product_id for i in items])
            .order_by("pk")
        }
        for item in items:
            product = products[item.product_id]
            if not product.is_active:
                raise ServiceError(f"{product.name} is no longer sold.", field="cart", code="inactive")
            if item.quantity > product.stock:
                raise ServiceError(
                    f"Only {product.stock} of {product.name} left in stock.", field="cart", code="insufficient_stock"
                )
        order = Order.objects.create(user=user)
        lines = []
        total = Decimal("0")
        for item in items:
            product = products[item.product_id]
            product.stock -= item.quantity
            product.save(update_fields=["stock", "updated_at"])
            lines.append(OrderItem(order=order, product=product, quantity=item.quantity, unit_price=product.price))
            total += product.price * item.quantity
        OrderItem.objects.bulk_create(lines)
        order.total = total
        order.save(update_fields=["total"])
        cart.items.all().delete()
        order_placed.send(sender=Order, order=order, items=lines)
    return order
