"""Carts: synchronous and immediately consistent. Quantities 1..99, never beyond stock.

A line whose product the seller deactivates stays in the cart: the shopper sees it
marked unavailable (and can remove it) instead of finding it silently gone;
checkout buys the other lines and leaves it (see ``orders.checkout``). Only an
anonymous cart merged at login drops such lines, as it drops sold-out ones.

Every change announces the units it moved (``cart_changed``), inside its transaction,
so the metrics count units, and only changes that commit: an addition of 3 counts 3
units added; ``update_cart_item`` counts the difference (up: added, down: removed, to 0:
the rest removed); removing a line counts its units removed. A merge at login moves
units from one cart to another and counts nothing again, except units it has to drop
(beyond the stock or 99, or no longer sold), which are removed.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from marketplace.models import Cart, CartItem, Product
from marketplace.services.errors import ServiceError

MAX_QUANTITY = 99


def get_cart(*, user=None, session_key: str | None = None, create: bool = False) -> Cart | None:
    """The cart of a user, or of an anonymous visitor's session."""
    lookup = {"user": user} if user is not None else {"session_key": session_key}
    if user is None and not session_key:
        return None
    cart = Cart.objects.filter(**lookup).first()
    if cart is None and create:
        try:
            with transaction.atomic():
                cart = Cart.objects.create(**lookup)
        except IntegrityError:  # created concurrently
            cart = Cart.objects.get(**lookup)
    return cart


def _check_quantity(quantity: int, product: Product) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ServiceError(f"Quantity must be between 1 and {MAX_QUANTITY}.", field="quantity", code="out_of_range")
    if not product.is_active:
        raise ServiceError("This product is no longer sold.", field="productId", code="inactive")
    if quantity > product.stock:
        raise ServiceError(f"Only {product.stock} in stock.", field="quantity", code="insufficient_stock")


def _announce(cart: Cart, product_id: int, *, added: bool, quantity: int) -> None:
    from marketplace.signals import cart_changed

    cart_changed.send(
        sender=Cart,
        product_id=product_id,
        user_id=cart.user_id,
        visitor_key=cart.session_key,
        added=added,
        quantity=quantity,
    )


def add_to_cart(*, cart: Cart, product: Product, quantity: int = 1) -> CartItem:
    """Add ``quantity`` units (to what is already there), within 1..99 and the stock."""
    with transaction.atomic():
        item = CartItem.objects.select_for_update().filter(cart=cart, product=product).first()
        total = quantity + (item.quantity if item else 0)
        if quantity < 1:
            raise ServiceError(f"Quantity must be between 1 and {MAX_QUANTITY}.", field="quantity", code="out_of_range")
        _check_quantity(total, product)
        if item is None:
            item = CartItem.objects.create(cart=cart, product=product, quantity=total)
        else:
            item.quantity = total
            item.save(update_fields=["quantity"])
        _announce(cart, product.pk, added=True, quantity=quantity)
    return item


def update_cart_item(*, cart: Cart, product: Product, quantity: int) -> CartItem | None:
    """Set the quantity of a product already in the cart; 0 removes the line (returns None).

    The line is locked before its quantity is read, so that two concurrent updates
    each count the difference from what the other left."""
    with transaction.atomic():
        item = CartItem.objects.select_for_update().filter(cart=cart, product=product).first()
        if item is None:
            raise ServiceError("This product is not in the cart.", field="productId", code="not_in_cart")
        if quantity == 0:
            item.delete()
            _announce(cart, product.pk, added=False, quantity=item.quantity)
            return None
        _check_quantity(quantity, product)
        change = quantity - item.quantity
        item.quantity = quantity
        item.save(update_fields=["quantity"])
        if change:
            _announce(cart, product.pk, added=change > 0, quantity=abs(change))
    return item


def remove_from_cart(*, cart: Cart, product: Product) -> bool:
    """Remove the line (its units count as removed); False when it was not there."""
    with transaction.atomic():
        item = CartItem.objects.select_for_update().filter(cart=cart, product=product).first()
        if item is None:
            return False
        item.delete()
        _announce(cart, product.pk, added=False, quantity=item.quantity)
    return True


def merge_carts(*, anonymous: Cart | None, user) -> Cart | None:
    """Move an anonymous visitor's cart into the user's at login (quantities add up,
    capped by stock and 99); the anonymous cart is then deleted.

    Moved units were counted when the visitor added them and are not counted again;
    units the merge drops (a line no longer sold or sold out, or beyond the cap) are
    announced as removed from the user's cart."""
    if anonymous is None:
        return get_cart(user=user)
    with transaction.atomic():
        target = get_cart(user=user, create=True)
        for item in anonymous.items.select_related("product"):
            existing = target.items.filter(product=item.product).first()
            wanted = item.quantity + (existing.quantity if existing else 0)
            quantity = min(wanted, MAX_QUANTITY, item.product.stock)
            if quantity < 1 or not item.product.is_active:
                _announce(target, item.product_id, added=False, quantity=item.quantity)
                continue
            CartItem.objects.update_or_create(cart=target, product=item.product, defaults={"quantity": quantity})
            if wanted > quantity:
                _announce(target, item.product_id, added=False, quantity=wanted - quantity)
        anonymous.delete()
    return target
