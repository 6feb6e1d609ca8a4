"""Checkout: the cart becomes an order in one transaction, once, without overselling.

Two guarantees protect a shopper's money:

- One cart, one order. The cart row is locked first and its lines are read after
  the lock, so concurrent checkouts of one cart (a double click, a client retry)
  queue on that lock and every one but the first finds the cart empty.
- One key, one order. A client may send an idempotency key; a checkout repeated
  with a key the user already used returns that order instead of placing another.
  The key is stored on the order under a unique constraint (user, key), so it is
  honoured for as long as the order exists (payment APIs promise 24 hours), and
  the constraint settles the last race: the loser reads the winner's order.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from marketplace.models import Cart, CartItem, Order, OrderItem, Product
from marketplace.services.errors import ServiceError
from marketplace.signals import order_placed

IDEMPOTENCY_KEY_MAX_LENGTH = 100


def checkout(*, user, cart: Cart | None, idempotency_key: str | None = None) -> Order:
    """Turn ``cart`` into an Order for ``user``, or return the order ``idempotency_key`` already made.

    In one transaction: lock the cart, read its lines, lock their products
    (ascending id, one lock order for every buyer), check and decrement stock,
    capture unit prices, remove the bought lines, and announce ``order_placed``
    so the metrics record the sale in this same transaction. Racing checkouts of
    one cart serialise on the cart lock; racing buyers of one product on the
    product locks (SQLite: both on the database write lock taken at BEGIN
    IMMEDIATE), so a cart is bought once and stock never goes below zero.

    Lines whose product was deactivated are not bought: they stay in the cart
    (shown as unavailable) and the rest is bought, as the cart's subtotal promised.
    A cart with nothing left to buy is ``empty_cart``.

    ``FOR NO KEY UPDATE`` on products, not ``FOR UPDATE``: it excludes other buyers
    just the same but not the foreign-key checks (``KEY SHARE``) of rows that
    reference the product. With ``FOR UPDATE`` a tracking batch holding a metrics
    row lock waited at commit for its deferred FK check on the product, while the
    buyer holding the product waited for that metrics row: a deadlock PostgreSQL
    detected in tests. The cart is locked ``FOR UPDATE`` on purpose: a line added
    while the checkout runs waits for it instead of vanishing with the bought ones.
    """
    if idempotency_key is not None:
        _validate_key(idempotency_key)
        replayed = _replay(user=user, cart=cart, key=idempotency_key)
        if replayed is not None:
            return replayed
    if cart is None:
        raise ServiceError("The cart is empty.", field="cart", code="empty_cart")
    try:
        return _place_order(user=user, cart=cart, key=idempotency_key)
    except IntegrityError:
        # Only a concurrent checkout with the same key can get here (the cart lock
        # orders checkouts of one cart): answer with the order it made.
        replayed = _replay(user=user, cart=cart, key=idempotency_key) if idempotency_key is not None else None
        if replayed is None:
            raise
        return replayed


def _validate_key(key: str) -> None:
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ServiceError(
            f"An idempotency key has at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
            field="idempotencyKey",
            code="too_long",
        )
    # Printable excludes NUL and control characters and lone surrogates, which
    # PostgreSQL cannot store in a text column.
    if not key or not key.isprintable():
        raise ServiceError(
            "An idempotency key is 1 to 100 printable characters (a UUID, say).",
            field="idempotencyKey",
            code="invalid",
        )


def _replay(*, user, cart: Cart | None, key: str) -> Order | None:
    """The order ``key`` already made for ``user``, if any; an error when the cart now
    holds other lines than that order bought (the key is being reused for a new purchase)."""
    order = Order.objects.filter(user=user, idempotency_key=key).first()
    if order is None:
        return None
    wanted = _buyable_lines(cart) if cart is not None else {}
    bought = dict(order.items.values_list("product_id", "quantity"))
    if wanted and wanted != bought:
        raise ServiceError(
            "This idempotency key was already used for another purchase; send a new key for a new order.",
            field="idempotencyKey",
            code="idempotency_key_reused",
        )
    return order


def _buyable_lines(cart: Cart) -> dict[int, int]:
    """``{product_id: quantity}`` of the cart's lines whose product is still sold."""
    lines = cart.items.filter(product__is_active=True).values_list("product_id", "quantity")
    return dict(lines)


def _place_order(*, user, cart: Cart, key: str | None) -> Order:
    with transaction.atomic():
        if not Cart.objects.select_for_update().filter(pk=cart.pk).exists():
            raise ServiceError("The cart is empty.", field="cart", code="empty_cart")
        if key is not None:
            # A checkout with the same key held the cart lock before us and committed.
            replayed = _replay(user=user, cart=cart, key=key)
            if replayed is not None:
                return replayed
        items = list(CartItem.objects.select_for_update().filter(cart=cart).order_by("product_id"))
        products = {
            p.pk: p
            for p in Product.objects.select_for_update(no_key=True)
            .filter(pk__in=[i.product_id for i in items])
            .order_by("pk")
        }
        items = [item for item in items if products[item.product_id].is_active]
        if not items:
            raise ServiceError("The cart has nothing that can be bought.", field="cart", code="empty_cart")
        for item in items:
            product = products[item.product_id]
            if item.quantity > product.stock:
                raise ServiceError(
                    f"Only {product.stock} of {product.name} left in stock.", field="cart", code="insufficient_stock"
                )
        order = Order.objects.create(user=user, idempotency_key=key)
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
        CartItem.objects.filter(pk__in=[item.pk for item in items]).delete()
        order_placed.send(sender=Order, order=order, items=lines)
    return order
