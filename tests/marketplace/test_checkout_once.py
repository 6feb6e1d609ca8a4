"""One cart, one order: concurrent and repeated checkouts of one shopper's cart.

Real threads, each on its own database connection, against committed data
(``transaction=True``): on PostgreSQL these are the races a double click or a
client retry makes; on SQLite the same tests check that the write lock taken at
BEGIN IMMEDIATE serialises them just the same.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from marketplace.models import Order, OrderItem, Product
from marketplace.services import cart as carts
from marketplace.services import orders
from marketplace.services.errors import ServiceError
from tests.factories import make_product, make_user
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 10


def race(fn, n: int = RACERS) -> list:
    """Run ``fn()`` in ``n`` threads released at once; each outcome is the return value,
    a ServiceError's code, or ``"error: ..."`` for anything else (a deadlock would show)."""
    start = threading.Barrier(n)
    outcomes: list = [None] * n

    def run(i: int) -> None:
        try:
            start.wait()
            outcomes[i] = fn()
        except ServiceError as exc:
            outcomes[i] = exc.code
        except Exception as exc:
            outcomes[i] = f"error: {exc!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def a_cart_of_three_units():
    """A shopper with 2 kettles (20.00) and 1 mug (5.00) in the cart; plenty of stock."""
    user = make_user()
    kettle = make_product(name="Kettle", price="20.00", stock=100)
    mug = make_product(name="Mug", price="5.00", stock=100)
    cart = carts.get_cart(user=user, create=True)
    carts.add_to_cart(cart=cart, product=kettle, quantity=2)
    carts.add_to_cart(cart=cart, product=mug, quantity=1)
    return user, kettle, mug


def assert_bought_once(user, kettle, mug) -> None:
    """Exactly one order; stock and the sales metrics moved once."""
    assert Order.objects.filter(user=user).count() == 1
    assert Order.objects.get(user=user).total == Decimal("45.00")
    kettle.refresh_from_db()
    mug.refresh_from_db()
    assert (kettle.stock, mug.stock) == (98, 99)
    metrics = {m.product_id: (m.total_sales, m.total_revenue) for m in ProductMetrics.objects.all()}
    assert metrics[kettle.pk] == (2, Decimal("40.00"))
    assert metrics[mug.pk] == (1, Decimal("5.00"))
    assert OrderItem.objects.count() == 2


def test_ten_simultaneous_checkouts_of_one_cart_make_one_order():
    # Given a shopper with three units in the cart
    user, kettle, mug = a_cart_of_three_units()

    # When ten checkouts of that cart start at the same moment (a double click, client retries)
    outcomes = race(lambda: orders.checkout(user=user, cart=carts.get_cart(user=user)).pk)

    # Then one made the order and the nine others found the cart empty
    codes = Counter(o if isinstance(o, str) else "order" for o in outcomes)
    assert codes == {"order": 1, "empty_cart": RACERS - 1}, outcomes
    assert_bought_once(user, kettle, mug)
