"""Cart counters count units: what a seller reads is how many units went into carts and came out.

Every story drives the API (or the service for the rollback case), lets the tracking
executor drain, and reads the product's totals.
"""

import threading

import pytest
from django.db import connection, transaction
from django.test import Client

from graph.ids import global_id
from marketplace.models import Cart, CartItem
from marketplace.services import cart as carts
from tests.factories import make_product, make_user
from tests.helpers import GraphQLClient
from tracking.models import ActivityEvent, EventKind, ProductMetrics

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-9"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { errors { code } } }"
ADD = """mutation($id: ID!, $q: Int!) { addToCart(productId: $id, quantity: $q) {
  cart { totalQuantity } errors { code } } }"""
UPDATE = """mutation($id: ID!, $q: Int!) { updateCartItem(productId: $id, quantity: $q) {
  cart { totalQuantity items { quantity } } errors { code } } }"""
REMOVE = "mutation($id: ID!) { removeFromCart(productId: $id) { cart { totalQuantity } errors { code } } }"


def shopper() -> tuple[GraphQLClient, object]:
    user = make_user()
    gql = GraphQLClient(Client())
    assert gql.data(LOGIN, {"u": user.username, "p": PASSWORD})["login"]["errors"] == []
    return gql, user


def cart_counts(product, executor) -> tuple[int, int]:
    """(units added, units removed) once every queued event is applied."""
    assert executor.flush(10)
    m = ProductMetrics.objects.get(product=product)
    return m.total_cart_additions, m.total_cart_removals


def pid(product) -> str:
    return global_id("Product", product.pk)


def test_adding_three_units_counts_three_additions(tracking_executor):
    gql, _ = shopper()
    mug = make_product(stock=20)

    gql.data(ADD, {"id": pid(mug), "q": 3})
    gql.data(ADD, {"id": pid(mug), "q": 2})

    assert cart_counts(mug, tracking_executor) == (5, 0)
    assert sorted(ActivityEvent.objects.filter(product=mug).values_list("quantity", flat=True)) == [2, 3]


def test_updating_a_line_counts_the_difference_up_as_added_and_down_as_removed(tracking_executor):
    # Given 3 mugs in the cart
    gql, _ = shopper()
    mug = make_product(stock=20)
    gql.data(ADD, {"id": pid(mug), "q": 3})

    # When the shopper raises the line to 5, lowers it to 1, sets it to 1 again, then to 0
    assert gql.data(UPDATE, {"id": pid(mug), "q": 5})["updateCartItem"]["cart"]["totalQuantity"] == 5
    assert gql.data(UPDATE, {"id": pid(mug), "q": 1})["updateCartItem"]["cart"]["totalQuantity"] == 1
    assert gql.data(UPDATE, {"id": pid(mug), "q": 1})["updateCartItem"]["errors"] == []
    emptied = gql.data(UPDATE, {"id": pid(mug), "q": 0})["updateCartItem"]

    # Then 3 + 2 units went in and 4 + 1 came out; setting the same quantity counts nothing
    assert emptied == {"cart": {"totalQuantity": 0, "items": []}, "errors": []}
    assert cart_counts(mug, tracking_executor) == (5, 5)
    kinds = ActivityEvent.objects.filter(product=mug).order_by("id").values_list("kind", "quantity")
    assert list(kinds) == [
        (EventKind.CART_ADD, 3),
        (EventKind.CART_ADD, 2),
        (EventKind.CART_REMOVE, 4),
        (EventKind.CART_REMOVE, 1),
    ]


def test_removing_a_line_counts_its_units_removed(tracking_executor):
    gql, _ = shopper()
    kettle = make_product(stock=10)
    gql.data(ADD, {"id": pid(kettle), "q": 4})

    assert gql.data(REMOVE, {"id": pid(kettle)})["removeFromCart"]["errors"] == []
    again = gql.data(REMOVE, {"id": pid(kettle)})["removeFromCart"]

    assert again["errors"] == [{"code": "NOT_IN_CART"}]
    assert cart_counts(kettle, tracking_executor) == (4, 4)


def test_a_line_no_longer_sold_can_be_set_to_zero(tracking_executor):
    gql, _ = shopper()
    mug = make_product(stock=10)
    gql.data(ADD, {"id": pid(mug), "q": 2})
    mug.is_active = False
    mug.save()

    assert gql.data(UPDATE, {"id": pid(mug), "q": 0})["updateCartItem"]["errors"] == []
    assert gql.data(UPDATE, {"id": pid(mug), "q": 1})["updateCartItem"]["errors"] == [{"code": "NOT_FOUND"}]
    assert cart_counts(mug, tracking_executor) == (2, 2)


def test_a_refused_change_counts_nothing(tracking_executor):
    # Given 2 of 3 kettles in the cart
    gql, _ = shopper()
    kettle = make_product(stock=3)
    gql.data(ADD, {"id": pid(kettle), "q": 2})

    # When the shopper asks for more than the stock, or a negative quantity
    assert gql.data(UPDATE, {"id": pid(kettle), "q": 4})["updateCartItem"]["errors"] == [{"code": "INSUFFICIENT_STOCK"}]
    assert gql.data(UPDATE, {"id": pid(kettle), "q": -1})["updateCartItem"]["errors"] == [{"code": "OUT_OF_RANGE"}]
    assert gql.data(ADD, {"id": pid(kettle), "q": 2})["addToCart"]["errors"] == [{"code": "INSUFFICIENT_STOCK"}]

    # Then only the first addition counts
    assert cart_counts(kettle, tracking_executor) == (2, 0)


def test_a_change_rolled_back_after_it_was_announced_counts_nothing(tracking_executor):
    # Given a cart holding 2 mugs
    user = make_user()
    mug = make_product(stock=10)
    cart = carts.get_cart(user=user, create=True)
    carts.add_to_cart(cart=cart, product=mug, quantity=2)

    # When each kind of change succeeds in the service but its transaction rolls back
    for change in (
        lambda: carts.add_to_cart(cart=cart, product=mug, quantity=5),
        lambda: carts.update_cart_item(cart=cart, product=mug, quantity=7),
        lambda: carts.update_cart_item(cart=cart, product=mug, quantity=0),
        lambda: carts.remove_from_cart(cart=cart, product=mug),
    ):
        with pytest.raises(RuntimeError), transaction.atomic():
            change()
            raise RuntimeError("the request failed after the cart change")

    # Then the cart is as it was and only the committed addition counts
    assert CartItem.objects.get(cart=cart).quantity == 2
    assert cart_counts(mug, tracking_executor) == (2, 0)


def test_merging_an_anonymous_cart_at_login_moves_units_without_counting_them_again(tracking_executor):
    # Given a visitor who put 3 mugs in an anonymous cart
    user = make_user()
    mug = make_product(stock=10)
    visitor = GraphQLClient(Client())
    visitor.data(ADD, {"id": pid(mug), "q": 3})
    assert cart_counts(mug, tracking_executor) == (3, 0)

    # When they log in
    assert visitor.data(LOGIN, {"u": user.username, "p": PASSWORD})["login"]["errors"] == []

    # Then the units are in the user's cart and counted once
    assert Cart.objects.get(user=user).items.get().quantity == 3
    assert cart_counts(mug, tracking_executor) == (3, 0)


def test_units_a_merge_must_drop_count_as_removed(tracking_executor):
    # Given a user whose cart holds 5 of 6 lamps and 1 vase, and a visitor with 3 lamps and 2 vases
    user = make_user()
    lamp, vase = make_product(stock=6), make_product(stock=10)
    users_cart = carts.get_cart(user=user, create=True)
    carts.add_to_cart(cart=users_cart, product=lamp, quantity=5)
    carts.add_to_cart(cart=users_cart, product=vase, quantity=1)
    visitor = GraphQLClient(Client())
    visitor.data(ADD, {"id": pid(lamp), "q": 3})
    visitor.data(ADD, {"id": pid(vase), "q": 2})
    # and the vase is no longer sold when the visitor logs in
    vase.is_active = False
    vase.save()

    visitor.data(LOGIN, {"u": user.username, "p": PASSWORD})

    # Then the lamp line holds the 6 in stock: 2 units dropped; the visitor's vases are dropped
    assert dict(Cart.objects.get(user=user).items.values_list("product_id", "quantity")) == {lamp.pk: 6, vase.pk: 1}
    assert cart_counts(lamp, tracking_executor) == (8, 2)
    assert cart_counts(vase, tracking_executor) == (3, 2)


def test_concurrent_updates_of_one_line_count_what_each_changed(tracking_executor):
    # Given 10 units of a product in a cart
    user = make_user()
    item = make_product(stock=99)
    cart = carts.get_cart(user=user, create=True)
    carts.add_to_cart(cart=cart, product=item, quantity=10)

    # When 8 threads set the line to different quantities at once
    failures = []

    def update(quantity: int) -> None:
        try:
            carts.update_cart_item(cart=cart, product=item, quantity=quantity)
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=update, args=(q,)) for q in (3, 40, 7, 25, 1, 60, 12, 33)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then what went in minus what came out is exactly what the line holds
    assert failures == []
    added, removed = cart_counts(item, tracking_executor)
    assert added - removed == CartItem.objects.get(cart=cart).quantity
