"""Paging backward (``last``/``before``) through every connection: the same rows as paging
forward, in the same order, never skipped or repeated, with real page info at both ends."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from marketplace.models import Favorite, Order, Product
from tests.factories import make_category, make_product, make_review, make_user
from tests.helpers import GraphQLClient, error_codes
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id } }"
VARIABLES = "$first: Int, $after: String, $last: Int, $before: String"
LISTING = "query(" + VARIABLES + ", $orderBy: ProductOrder) {{ {field} }}"
UNORDERED = "query(" + VARIABLES + ") {{ {field} }}"
CONNECTIONS = {
    "products": ["products"],
    "categoryProducts": ["category", "products"],
    "reviews": ["product", "reviews"],
    "favorites": ["me", "favorites"],
    "orders": ["me", "orders"],
    "myProducts": ["me", "products"],
}
ARGS = "first: $first, after: $after, last: $last, before: $before"
FIELDS = {
    "products": f"products({ARGS}, orderBy: $orderBy) {{ {PAGE_INFO} }}",
    "categoryProducts": f'category(slug: "root") {{ products({ARGS}, orderBy: $orderBy) {{ {PAGE_INFO} }} }}',
    "reviews": f'product(slug: "reviewed") {{ reviews({ARGS}) {{ {PAGE_INFO} }} }}',
    "favorites": f"me {{ favorites({ARGS}) {{ {PAGE_INFO} }} }}",
    "orders": f"me {{ orders({ARGS}) {{ {PAGE_INFO} }} }}",
    "myProducts": f"me {{ products({ARGS}) {{ {PAGE_INFO} }} }}",
}
ORDERS = ["NEWEST", "PRICE_ASC", "PRICE_DESC", "MOST_VIEWED", "BEST_SELLING", "TOP_RATED", "TRENDING"]
TIE = datetime(2026, 1, 1, tzinfo=UTC)


def document(name: str) -> str:
    return (LISTING if "$orderBy" in FIELDS[name] else UNORDERED).format(field=FIELDS[name])


def page(gql, name: str, **variables) -> dict:
    data = gql.data(document(name), variables)
    for step in CONNECTIONS[name]:
        data = data[step]
    return data


def ids(connection: dict) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


def walk_forward(gql, name: str, size: int, **variables) -> list[str]:
    seen, after = [], None
    while True:
        current = page(gql, name, first=size, after=after, **variables)
        info = current["pageInfo"]
        assert info["hasPreviousPage"] is False  # documented: forward pages do not look back
        seen += ids(current)
        if not info["hasNextPage"]:
            return seen
        assert info["endCursor"] == current["edges"][-1]["cursor"]
        after = info["endCursor"]


def walk_backward(gql, name: str, size: int, **variables) -> list[list[str]]:
    """Pages from the end to the start, each page in the listing's own order."""
    pages, before = [], None
    while True:
        current = page(gql, name, last=size, before=before, **variables)
        info = current["pageInfo"]
        assert info["hasNextPage"] is False
        pages.append(ids(current))
        if current["edges"]:
            assert info["startCursor"] == current["edges"][0]["cursor"]
            assert info["endCursor"] == current["edges"][-1]["cursor"]
        if not info["hasPreviousPage"]:
            return pages
        before = info["startCursor"]


def gid(type_name: str, pk: int) -> str:
    from graph.ids import global_id

    return global_id(type_name, pk)


@pytest.fixture
def catalogue():
    """23 products in a category tree, with ties on every sort key (shared timestamps,
    three prices, four view counts, two sales counts), favorited, reviewed and ordered."""
    owner = make_user()
    root = make_category("Root", slug="root")
    leaf = make_category("Leaf", parent=root)
    products = [make_product(seller=owner, category=leaf if i % 2 else root, price=str(10 + i % 3)) for i in range(23)]
    Product.objects.filter(pk__in=[p.pk for p in products[::2]]).update(created_at=TIE)
    for i, product in enumerate(products):
        ProductMetrics.objects.filter(product=product).update(
            total_views=i % 4, total_sales=i % 2, trending_score=(i % 3) * 0.25
        )
        Favorite.objects.create(user=owner, product=product)
        Order.objects.create(user=owner, total=Decimal(i))
    reviewed = make_product(slug="reviewed")
    for i in range(13):
        make_review(reviewed, rating=1 + i % 5)
    Favorite.objects.filter(user=owner).update(created_at=TIE)
    Order.objects.filter(user=owner, total__lt=12).update(created_at=TIE)
    return owner, products, reviewed


def naive(name: str, order: str, owner, products, reviewed) -> list[str]:
    """The whole listing by a plain sort in Python: what both walks must agree with."""
    if name == "reviews":
        rows = sorted(reviewed.reviews.all(), key=lambda r: (r.created_at, r.pk), reverse=True)
        return [gid("Review", r.pk) for r in rows]
    if name == "orders":
        rows = sorted(owner.orders.all(), key=lambda o: (o.created_at, o.pk), reverse=True)
        return [gid("Order", o.pk) for o in rows]
    if name == "favorites":
        rows = sorted(owner.favorites.all(), key=lambda f: (f.created_at, f.pk), reverse=True)
        return [gid("Product", f.product_id) for f in rows]
    listed = Product.objects.all() if name == "products" else Product.objects.filter(pk__in=[p.pk for p in products])
    fresh = list(listed.select_related("metrics"))
    keys = {
        "NEWEST": lambda p: (p.created_at, p.pk),
        "PRICE_ASC": lambda p: (p.price, p.pk),
        "PRICE_DESC": lambda p: (p.price, p.pk),
        "MOST_VIEWED": lambda p: (p.metrics.total_views, p.pk),
        "BEST_SELLING": lambda p: (p.metrics.total_sales, p.pk),
        "TOP_RATED": lambda p: (p.rating_score, p.pk),
        "TRENDING": lambda p: (p.metrics.trending_score, p.pk),
    }
    rows = sorted(fresh, key=keys[order], reverse=order != "PRICE_ASC")
    return [gid("Product", p.pk) for p in rows]


def shopper(owner) -> GraphQLClient:
    client = Client()
    client.force_login(owner)
    return GraphQLClient(client)


CASES = [("products", order) for order in ORDERS] + [
    ("categoryProducts", "NEWEST"),
    ("categoryProducts", "PRICE_DESC"),
    ("reviews", None),
    ("favorites", None),
    ("orders", None),
    ("myProducts", "NEWEST"),
]


@pytest.mark.parametrize("size", [2, 7])
@pytest.mark.parametrize("name,order", CASES)
def test_both_directions_walk_every_row_once_in_the_naive_order(catalogue, name, order, size):
    # Given a listing full of ties
    owner, products, reviewed = catalogue
    gql = shopper(owner)
    variables = {"orderBy": order} if name in ("products", "categoryProducts") else {}

    # When a client walks it forward with first/after and backward with last/before
    forward = walk_forward(gql, name, size, **variables)
    backward = walk_backward(gql, name, size, **variables)

    # Then forward == the backward pages put back in order == a plain ORDER BY
    expected = naive(name, order or "NEWEST", owner, products, reviewed)
    assert forward == [row for chunk in reversed(backward) for row in chunk] == expected
    assert all(0 < len(chunk) <= size for chunk in backward)


def test_last_without_before_is_the_tail_and_before_steps_back(catalogue):
    owner, products, _ = catalogue
    gql = shopper(owner)
    everything = ids(page(gql, "orders", first=100))

    tail = page(gql, "orders", last=5)
    assert ids(tail) == everything[-5:]
    assert tail["pageInfo"]["hasPreviousPage"] is True

    previous = page(gql, "orders", last=5, before=tail["pageInfo"]["startCursor"])
    assert ids(previous) == everything[-10:-5]

    head = page(gql, "orders", last=100)
    assert ids(head) == everything and head["pageInfo"]["hasPreviousPage"] is False


def test_first_with_before_and_last_with_after_stay_between_the_cursors(catalogue):
    owner, _, _ = catalogue
    gql = shopper(owner)
    everything = page(gql, "orders", first=100)
    cursors = [edge["cursor"] for edge in everything["edges"]]
    rows = ids(everything)

    middle = page(gql, "orders", first=3, after=cursors[4], before=cursors[10])
    assert ids(middle) == rows[5:8] and middle["pageInfo"]["hasNextPage"] is True
    end_of_middle = page(gql, "orders", last=3, after=cursors[4], before=cursors[10])
    assert ids(end_of_middle) == rows[7:10] and end_of_middle["pageInfo"]["hasPreviousPage"] is True
    everything_between = page(gql, "orders", last=10, after=cursors[4], before=cursors[10])
    assert ids(everything_between) == rows[5:10] and everything_between["pageInfo"]["hasPreviousPage"] is False


def test_first_and_last_together_or_out_of_range_are_bad_user_input(gql, catalogue):
    query = LISTING.format(field=FIELDS["products"])
    assert error_codes(gql(query, {"first": 2, "last": 2})) == ["BAD_USER_INPUT"]
    assert error_codes(gql(query, {"last": 101})) == ["BAD_USER_INPUT"]
    assert error_codes(gql(query, {"last": -1})) == ["BAD_USER_INPUT"]
    assert error_codes(gql(query, {"last": 2, "before": "garbage"})) == ["BAD_USER_INPUT"]
    reviews = document("reviews")
    assert error_codes(gql(reviews, {"first": 1, "last": 1})) == ["BAD_USER_INPUT"]


def test_a_cursor_from_another_order_is_refused_going_backward_too(gql, catalogue):
    query = LISTING.format(field=FIELDS["products"])
    cursor = page(gql, "products", first=1, orderBy="NEWEST")["pageInfo"]["endCursor"]
    result = gql(query, {"last": 2, "before": cursor, "orderBy": "PRICE_ASC"})
    assert error_codes(result) == ["BAD_USER_INPUT"]


def test_an_empty_listing_has_no_cursors_either_way(gql):
    for variables in ({"first": 5}, {"last": 5}):
        info = page(gql, "products", **variables)["pageInfo"]
        assert info == {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}


def test_every_childs_last_page_comes_from_one_batched_query(gql, django_assert_num_queries):
    # Given a root with three children of different sizes, with tied timestamps
    root = make_category("Home", slug="home")
    children = [make_category(f"Child {i}", parent=root) for i in range(3)]
    for i, child in enumerate(children):
        made = [make_product(category=child) for _ in range(2 + 3 * i)]
        Product.objects.filter(pk__in=[p.pk for p in made[:2]]).update(created_at=TIE)
    menu = """query($first: Int, $last: Int) { categories { children { name
        products(first: $first, last: $last) { pageInfo { hasPreviousPage hasNextPage } edges { node { id } } } } } }"""

    # When the menu asks for each child's last 3 products, then for all of them forward
    with django_assert_num_queries(4):  # roots, children, category tree, one page query for every child
        tails = gql.data(menu, {"last": 3})["categories"][0]["children"]
    everything = gql.data(menu, {"first": 100})["categories"][0]["children"]

    # Then each child's tail is the end of its forward listing
    for tail, whole in zip(tails, everything, strict=True):
        all_ids = ids(whole["products"])
        assert ids(tail["products"]) == all_ids[-3:]
        assert tail["products"]["pageInfo"] == {"hasPreviousPage": len(all_ids) > 3, "hasNextPage": False}
