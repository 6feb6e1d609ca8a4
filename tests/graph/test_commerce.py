"""Favorites, carts and checkout, as a shopper experiences them."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from graph.ids import global_id
from marketplace.models import Cart, Favorite, Order, OrderItem, Product
from marketplace.services import cart as carts
from marketplace.services import orders
from marketplace.services.errors import ServiceError
from tests.factories import make_product, make_user
from tests.helpers import GraphQLClient, error_codes
from tracking.models import ProductMetrics

PASSWORD = "correct-horse-battery-9"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token errors { code } } }"
FAVORITE = "mutation($id: ID!) { %s(productId: $id) { isFavorite product { isFavorite } errors { code } } }"
ADD = """mutation($id: ID!, $q: Int!) { addToCart(productId: $id, quantity: $q) {
  cart { totalQuantity subtotal items { quantity lineTotal product { name } } } errors { field code message } } }"""
UPDATE = """mutation($id: ID!, $q: Int!) { updateCartItem(productId: $id, quantity: $q) {
  cart { totalQuantity } errors { field code } } }"""
REMOVE = "mutation($id: ID!) { removeFromCart(productId: $id) { cart { totalQuantity } errors { code } } }"
CHECKOUT = """mutation { checkout { order { id total status items { quantity unitPrice lineTotal product { name } } }
  errors { field code message } } }"""
CART = "{ cart { totalQuantity items { quantity product { name } } } }"


def shopper(name: str = None) -> tuple[GraphQLClient, object]:
    user = make_user(name)
    gql = GraphQLClient(Client())
    assert gql.data(LOGIN, {"u": user.username, "p": PASSWORD})["login"]["errors"] == []
    return gql, user


def pid(product) -> str:
    return global_id("Product", product.pk)


@pytest.mark.django_db(transaction=True)
def test_favorites_are_idempotent_and_counted_exactly(tracking_executor):
    gql, user = shopper()
    product = make_product()

    for _ in range(3):
        added = gql.data(FAVORITE % "addFavorite", {"id": pid(product)})["addFavorite"]
    other, _ = shopper()
    other.data(FAVORITE % "addFavorite", {"id": pid(product)})
    removed = other.data(FAVORITE % "removeFavorite", {"id": pid(product)})["removeFavorite"]
    other.data(FAVORITE % "removeFavorite", {"id": pid(product)})
    assert tracking_executor.flush(10)

    assert added == {"isFavorite": True, "product": {"isFavorite": True}, "errors": []}
    assert removed["isFavorite"] is False and removed["product"]["isFavorite"] is False
    assert Favorite.objects.filter(product=product).count() == 1
    assert ProductMetrics.objects.get(product=product).total_favorites == 1
    page = gql.data("{ me { favorites { totalCount edges { node { name } } } } }")["me"]["favorites"]
    assert page["totalCount"] == 1 and page["edges"][0]["node"]["name"] == product.name


@pytest.mark.django_db
def test_favorites_need_a_login_and_a_real_product():
    anonymous = GraphQLClient(Client())
    product = make_product()
    assert error_codes(anonymous(FAVORITE % "addFavorite", {"id": pid(product)})) == ["UNAUTHENTICATED"]
    gql, _ = shopper()
    missing = gql.data(FAVORITE % "addFavorite", {"id": global_id("Product", 10**9)})["addFavorite"]
    assert missing["errors"] == [{"code": "NOT_FOUND"}]
    assert error_codes(gql(FAVORITE % "addFavorite", {"id": "garbage"})) == ["BAD_USER_INPUT"]


@pytest.mark.django_db
def test_a_cart_follows_every_change_at_once():
    gql, _ = shopper()
    kettle = make_product(name="Kettle", price="20.00", stock=5)
    mug = make_product(name="Mug", price="4.50", stock=50)

    gql.data(ADD, {"id": pid(kettle), "q": 2})
    gql.data(ADD, {"id": pid(kettle), "q": 1})
    cart = gql.data(ADD, {"id": pid(mug), "q": 4})["addToCart"]["cart"]
    assert cart["totalQuantity"] == 7 and Decimal(cart["subtotal"]) == Decimal("78.00")

    assert gql.data(UPDATE, {"id": pid(mug), "q": 1})["updateCartItem"]["cart"]["totalQuantity"] == 4
    assert gql.data(REMOVE, {"id": pid(kettle)})["removeFromCart"]["cart"]["totalQuantity"] == 1
    assert gql.data(CART)["cart"]["items"] == [{"quantity": 1, "product": {"name": "Mug"}}]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "quantity,stock,code",
    [(0, 5, "OUT_OF_RANGE"), (100, 500, "OUT_OF_RANGE"), (-1, 5, "OUT_OF_RANGE"), (6, 5, "INSUFFICIENT_STOCK")],
)
def test_cart_quantities_stay_within_1_to_99_and_the_stock(quantity, stock, code):
    gql, _ = shopper()
    product = make_product(stock=stock)
    result = gql.data(ADD, {"id": pid(product), "q": quantity})["addToCart"]
    assert [e["code"] for e in result["errors"]] == [code]
    assert result["cart"]["totalQuantity"] == 0


@pytest.mark.django_db
def test_adding_beyond_stock_in_two_steps_is_refused_too():
    gql, _ = shopper()
    product = make_product(stock=3)
    gql.data(ADD, {"id": pid(product), "q": 2})
    result = gql.data(ADD, {"id": pid(product), "q": 2})["addToCart"]
    assert result["errors"][0]["code"] == "INSUFFICIENT_STOCK" and result["cart"]["totalQuantity"] == 2


@pytest.mark.django_db
def test_inactive_products_cannot_be_added():
    gql, _ = shopper()
    product = make_product(is_active=False)
    assert gql.data(ADD, {"id": pid(product), "q": 1})["addToCart"]["errors"][0]["code"] == "NOT_FOUND"


@pytest.mark.django_db
def test_an_anonymous_cart_merges_into_the_users_at_login():
    user = make_user()
    product = make_product(stock=10)
    visitor = GraphQLClient(Client())
    visitor.data(ADD, {"id": pid(product), "q": 3})
    assert visitor.data(CART)["cart"]["totalQuantity"] == 3

    visitor.data(LOGIN, {"u": user.username, "p": PASSWORD})

    assert visitor.data(CART)["cart"]["totalQuantity"] == 3
    assert Cart.objects.get(user=user).items.get().quantity == 3
    assert not Cart.objects.filter(user__isnull=True).exists()


@pytest.mark.django_db
def test_nobody_sees_another_shoppers_cart_or_orders():
    alice, _ = shopper()
    bob, _ = shopper()
    product = make_product(stock=10)
    alice.data(ADD, {"id": pid(product), "q": 2})
    alice.data(CHECKOUT)
    alice.data(ADD, {"id": pid(product), "q": 1})

    assert bob.data(CART)["cart"] is None
    assert bob.data("{ me { orders { edges { node { id } } } } }")["me"]["orders"]["edges"] == []
    assert bob.data(REMOVE, {"id": pid(product)})["removeFromCart"]["errors"] == [{"code": "NOT_FOUND"}]


@pytest.mark.django_db
def test_checkout_turns_the_cart_into_an_order_with_exact_sales_and_revenue():
    gql, user = shopper()
    kettle = make_product(name="Kettle", price="19.99", stock=5)
    mug = make_product(name="Mug", price="4.50", stock=9)
    gql.data(ADD, {"id": pid(kettle), "q": 2})
    gql.data(ADD, {"id": pid(mug), "q": 3})

    order = gql.data(CHECKOUT)["checkout"]

    assert order["errors"] == []
    assert Decimal(order["order"]["total"]) == Decimal("53.48")
    assert {(i["product"]["name"], i["quantity"], i["unitPrice"]) for i in order["order"]["items"]} == {
        ("Kettle", 2, "19.99"),
        ("Mug", 3, "4.50"),
    }
    kettle.refresh_from_db()
    mug.refresh_from_db()
    assert (kettle.stock, mug.stock) == (3, 6)
    assert gql.data(CART)["cart"]["totalQuantity"] == 0
    # Money is recorded in the order's transaction, not queued
    kettle_metrics = ProductMetrics.objects.get(product=kettle)
    assert (kettle_metrics.total_sales, kettle_metrics.total_revenue) == (2, Decimal("39.98"))
    orders_page = gql.data("{ me { orders { edges { node { total } } } } }")["me"]["orders"]["edges"]
    assert [Decimal(e["node"]["total"]) for e in orders_page] == [Decimal("53.48")]


@pytest.mark.django_db
def test_checkout_refuses_an_empty_cart_stock_that_ran_out_and_anonymous_buyers():
    gql, _ = shopper()
    assert gql.data(CHECKOUT)["checkout"]["errors"][0]["code"] == "EMPTY_CART"
    product = make_product(stock=2)
    gql.data(ADD, {"id": pid(product), "q": 2})
    Product.objects.filter(pk=product.pk).update(stock=1)  # someone else bought one meanwhile
    result = gql.data(CHECKOUT)["checkout"]
    assert result["order"] is None and result["errors"][0]["code"] == "INSUFFICIENT_STOCK"
    assert Order.objects.count() == 0 and ProductMetrics.objects.get(product=product).total_sales == 0
    assert error_codes(GraphQLClient(Client())(CHECKOUT)) == ["UNAUTHENTICATED"]


@pytest.mark.django_db(transaction=True)
def test_thirty_buyers_racing_for_the_last_five_units_never_oversell():
    # Given 5 units left and 30 buyers who each hold one in their cart
    product = make_product(price="10.00", stock=5)
    buyers = [make_user() for _ in range(30)]
    for buyer in buyers:
        carts.add_to_cart(cart=carts.get_cart(user=buyer, create=True), product=product, quantity=1)
    start = threading.Barrier(len(buyers))
    outcomes: list[str] = []

    def buy(user):
        try:
            start.wait()
            orders.checkout(user=user, cart=carts.get_cart(user=user))
            outcomes.append("bought")
        except ServiceError as exc:
            outcomes.append(exc.code)
        except Exception as exc:  # a deadlock or a lock timeout would show up here
            outcomes.append(f"error: {exc!r}")
        finally:
            connection.close()

    # When they all check out at once, each on its own database connection
    threads = [threading.Thread(target=buy, args=(b,)) for b in buyers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    # Then exactly five bought, the stock is 0, and the metrics equal the orders
    product.refresh_from_db()
    assert sorted(outcomes) == ["bought"] * 5 + ["insufficient_stock"] * 25
    assert product.stock == 0
    assert sum(OrderItem.objects.filter(product=product).values_list("quantity", flat=True)) == 5
    metrics = ProductMetrics.objects.get(product=product)
    assert (metrics.total_sales, metrics.total_revenue) == (5, Decimal("50.00"))


@pytest.mark.django_db
def test_a_cart_reads_its_lines_once_whatever_fields_are_asked(django_assert_num_queries):
    gql, _ = shopper()
    for product in [make_product(stock=5) for _ in range(3)]:
        gql.data(ADD, {"id": pid(product), "q": 1})
    # session + user, the cart, its lines with products
    with django_assert_num_queries(4):
        cart = gql.data("{ cart { totalQuantity subtotal items { quantity lineTotal product { name } } } }")["cart"]
    assert cart["totalQuantity"] == 3 and len(cart["items"]) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("order_count", [2, 8])
def test_an_order_history_costs_the_same_queries_at_2_and_8_orders(django_assert_num_queries, order_count):
    # Given a shopper with several orders of two lines each
    gql, user = shopper()
    products = [make_product() for _ in range(2)]
    for _ in range(order_count):
        order = Order.objects.create(user=user, total=Decimal("30.00"))
        for product in products:
            OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=Decimal("15.00"))

    # When they read their order history with every line
    # (session + user, the orders page, all their lines with products in one query)
    with django_assert_num_queries(4):
        data = gql.data("{ me { orders(first: 20) { edges { node { total items { quantity product { name } } } } } } }")

    # Then every order came back with its lines
    edges = data["me"]["orders"]["edges"]
    assert len(edges) == order_count and all(len(edge["node"]["items"]) == 2 for edge in edges)


KEYED_CHECKOUT = """mutation($key: String) { checkout(idempotencyKey: $key) { order { id total }
  errors { field code } } }"""


@pytest.mark.django_db
def test_a_checkout_retried_with_its_key_answers_with_the_same_order():
    # Given a shopper who checked out with a key
    gql, user = shopper()
    product = make_product(price="8.00", stock=10)
    gql.data(ADD, {"id": pid(product), "q": 2})
    first = gql.data(KEYED_CHECKOUT, {"key": "3f0c9a2e-retry"})["checkout"]

    # When the client sends the same checkout again (it never saw the answer)
    again = gql.data(KEYED_CHECKOUT, {"key": "3f0c9a2e-retry"})["checkout"]

    # Then the answer is the same order, and one order exists
    assert first["errors"] == [] and again == first
    assert Order.objects.filter(user=user).count() == 1
    product.refresh_from_db()
    assert product.stock == 8


@pytest.mark.django_db
def test_a_key_reused_for_another_cart_or_malformed_is_a_user_error():
    gql, user = shopper()
    product = make_product(stock=10)
    gql.data(ADD, {"id": pid(product), "q": 1})
    gql.data(KEYED_CHECKOUT, {"key": "k-1"})
    gql.data(ADD, {"id": pid(product), "q": 3})

    reused = gql.data(KEYED_CHECKOUT, {"key": "k-1"})["checkout"]
    too_long = gql.data(KEYED_CHECKOUT, {"key": "k" * 101})["checkout"]
    empty = gql.data(KEYED_CHECKOUT, {"key": ""})["checkout"]

    assert reused == {"order": None, "errors": [{"field": "idempotencyKey", "code": "IDEMPOTENCY_KEY_REUSED"}]}
    assert too_long == {"order": None, "errors": [{"field": "idempotencyKey", "code": "TOO_LONG"}]}
    assert empty == {"order": None, "errors": [{"field": "idempotencyKey", "code": "INVALID"}]}
    assert Order.objects.filter(user=user).count() == 1


LINES = "{ cart { totalQuantity subtotal items { quantity available product { name } } } }"


@pytest.mark.django_db
def test_a_deactivated_product_stays_in_the_cart_as_unavailable_and_is_not_bought():
    # Given a cart with a kettle and a mug, and the mug's seller stops selling it
    gql, user = shopper()
    kettle = make_product(name="Kettle", price="20.00", stock=5)
    mug = make_product(name="Mug", price="4.50", stock=9)
    gql.data(ADD, {"id": pid(kettle), "q": 1})
    gql.data(ADD, {"id": pid(mug), "q": 2})
    Product.objects.filter(pk=mug.pk).update(is_active=False)

    # Then the cart shows the mug as unavailable and leaves it out of the totals
    cart = gql.data(LINES)["cart"]
    assert cart["items"] == [
        {"quantity": 1, "available": True, "product": {"name": "Kettle"}},
        {"quantity": 2, "available": False, "product": {"name": "Mug"}},
    ]
    assert (cart["totalQuantity"], Decimal(cart["subtotal"])) == (1, Decimal("20.00"))

    # When the shopper checks out, the kettle is bought at the subtotal shown, the mug stays
    order = gql.data(CHECKOUT)["checkout"]
    assert order["errors"] == [] and Decimal(order["order"]["total"]) == Decimal("20.00")
    assert [i["product"]["name"] for i in order["order"]["items"]] == ["Kettle"]
    assert gql.data(LINES)["cart"]["items"] == [{"quantity": 2, "available": False, "product": {"name": "Mug"}}]
    mug.refresh_from_db()
    assert mug.stock == 9

    # And a cart of unavailable lines only has nothing to buy; removing the line still works
    assert gql.data(CHECKOUT)["checkout"]["errors"][0]["code"] == "EMPTY_CART"
    assert gql.data(REMOVE, {"id": pid(mug)})["removeFromCart"] == {"cart": {"totalQuantity": 0}, "errors": []}


FAVORITES = "{ me { favorites { totalCount edges { node { name isActive } } } } }"


@pytest.mark.django_db
def test_a_deactivated_product_leaves_shoppers_favorites_but_not_its_sellers_or_staffs():
    # Given a product favorited by a shopper, by its own seller and by a staff member
    seller = make_user()
    product = make_product(seller=seller, name="Lamp")
    other = make_product(name="Desk")
    fans = {"shopper": make_user(), "seller": seller, "staff": make_user(is_staff=True)}
    for fan in fans.values():
        Favorite.objects.create(user=fan, product=product)
    Favorite.objects.create(user=fans["shopper"], product=other)

    # When the seller deactivates it
    Product.objects.filter(pk=product.pk).update(is_active=False)

    # Then the shopper's favorites no longer show it (nor count it); its seller and staff still do
    def favorites(user):
        gql = GraphQLClient(Client())
        gql.data(LOGIN, {"u": user.username, "p": PASSWORD})
        return gql.data(FAVORITES)["me"]["favorites"]

    assert favorites(fans["shopper"]) == {"totalCount": 1, "edges": [{"node": {"name": "Desk", "isActive": True}}]}
    for who in ("seller", "staff"):
        assert favorites(fans[who]) == {"totalCount": 1, "edges": [{"node": {"name": "Lamp", "isActive": False}}]}
    # The favorite itself is kept: it shows again if the product is sold again
    Product.objects.filter(pk=product.pk).update(is_active=True)
    assert favorites(fans["shopper"])["totalCount"] == 2


@pytest.mark.django_db
def test_orders_keep_a_deactivated_product_in_their_history():
    gql, _ = shopper()
    product = make_product(name="Kettle", stock=5)
    gql.data(ADD, {"id": pid(product), "q": 1})
    gql.data(CHECKOUT)
    Product.objects.filter(pk=product.pk).update(is_active=False)
    history = gql.data("{ me { orders { edges { node { items { quantity product { name isActive } } } } } } }")
    items = history["me"]["orders"]["edges"][0]["node"]["items"]
    assert items == [{"quantity": 1, "product": {"name": "Kettle", "isActive": False}}]
