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

from marketplace.models import Order, OrderItem
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


def test_the_same_key_sent_twice_returns_the_same_order():
    # Given a shopper whose first checkout with a key went through
    user, kettle, mug = a_cart_of_three_units()
    first = orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="order-7f3a")

    # When the client retries with the same key (the answer was lost on the way)
    again = orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="order-7f3a")

    # Then it gets the same order back and nothing was bought twice
    assert again.pk == first.pk
    assert_bought_once(user, kettle, mug)


def test_ten_simultaneous_checkouts_with_one_key_all_answer_with_the_one_order():
    # Given a shopper with three units in the cart
    user, kettle, mug = a_cart_of_three_units()

    # When ten retries of one checkout, all with the same key, arrive at the same moment
    outcomes = race(lambda: orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="k-1").pk)

    # Then every one of them answers with the same order (none sees an empty cart)
    order = Order.objects.get(user=user)
    assert outcomes == [order.pk] * RACERS
    assert order.idempotency_key == "k-1"
    assert_bought_once(user, kettle, mug)


def test_a_key_reused_for_a_different_cart_is_refused():
    # Given an order placed with a key, and then a new cart with something else in it
    user, kettle, mug = a_cart_of_three_units()
    first = orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="k-1")
    carts.add_to_cart(cart=carts.get_cart(user=user), product=mug, quantity=5)

    # When the client (wrongly) sends the old key with the new cart
    with pytest.raises(ServiceError) as refused:
        orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="k-1")

    # Then it is told so, nothing is bought, and a new key buys the new cart
    assert (refused.value.code, refused.value.field) == ("idempotency_key_reused", "idempotencyKey")
    assert Order.objects.filter(user=user).count() == 1
    second = orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="k-2")
    assert second.pk != first.pk and second.total == Decimal("25.00")


def test_keys_belong_to_their_user():
    # Given two shoppers whose clients happen to choose the same key
    alice, *_ = a_cart_of_three_units()
    bob, *_ = a_cart_of_three_units()

    # When both check out with it
    alices = orders.checkout(user=alice, cart=carts.get_cart(user=alice), idempotency_key="same")
    bobs = orders.checkout(user=bob, cart=carts.get_cart(user=bob), idempotency_key="same")

    # Then each gets their own order
    assert alices.pk != bobs.pk and (alices.user_id, bobs.user_id) == (alice.pk, bob.pk)


@pytest.mark.parametrize(
    "key,code",
    [("x" * 101, "too_long"), ("", "invalid"), ("a\x00b", "invalid"), ("a\ud800", "invalid"), ("tab\there", "invalid")],
)
def test_a_malformed_key_is_refused_before_anything_is_bought(key, code):
    user, kettle, mug = a_cart_of_three_units()
    with pytest.raises(ServiceError) as refused:
        orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key=key)
    assert (refused.value.code, refused.value.field) == (code, "idempotencyKey")
    assert not Order.objects.exists()
    assert orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="x" * 100).pk


def test_the_unique_key_settles_a_race_the_lookups_missed(monkeypatch):
    # Given an order that a concurrent request committed with the key after this
    # request had looked for it (simulated: the lookups see nothing)
    user, kettle, mug = a_cart_of_three_units()
    existing = Order.objects.create(user=user, idempotency_key="k-1", total=Decimal("45.00"))
    OrderItem.objects.create(order=existing, product=kettle, quantity=2, unit_price=Decimal("20.00"))
    OrderItem.objects.create(order=existing, product=mug, quantity=1, unit_price=Decimal("5.00"))
    real_replay = orders._replay
    lookups = []

    def blind_twice(**kwargs):
        lookups.append(kwargs["key"])
        return None if len(lookups) <= 2 else real_replay(**kwargs)

    monkeypatch.setattr(orders, "_replay", blind_twice)

    # When this request inserts its own order with that key
    order = orders.checkout(user=user, cart=carts.get_cart(user=user), idempotency_key="k-1")

    # Then the unique constraint refuses the second order and the request answers with the first
    assert order.pk == existing.pk and lookups == ["k-1"] * 3
    assert Order.objects.filter(user=user).count() == 1
    kettle.refresh_from_db()
    assert kettle.stock == 100 and carts.get_cart(user=user).items.count() == 2
