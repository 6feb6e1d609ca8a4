"""What a storefront sees when it lists, filters, orders and pages through products."""

from decimal import Decimal

import pytest

from graph.ids import global_id
from tests.factories import make_category, make_product, make_review, make_user
from tests.helpers import error_codes
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db

PAGE = """
query($first: Int, $after: String, $filter: ProductFilter, $orderBy: ProductOrder) {
  products(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name slug price } }
  }
}
"""


def names(result) -> list[str]:
    return [edge["node"]["name"] for edge in result["products"]["edges"]]


def walk(gql, order: str, first: int, **variables) -> list[str]:
    """Every page of a listing, following endCursor until hasNextPage is false."""
    seen, after = [], None
    while True:
        page = gql.data(PAGE, {"first": first, "after": after, "orderBy": order, **variables})["products"]
        seen += [edge["node"]["slug"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize(
    "order", ["NEWEST", "PRICE_ASC", "PRICE_DESC", "MOST_VIEWED", "BEST_SELLING", "TOP_RATED", "TRENDING"]
)
def test_paging_through_any_order_never_skips_or_repeats_a_product(gql, order):
    # Given products with many ties on every sort key
    category = make_category()
    products = [make_product(category=category, price=str(10 + i % 3)) for i in range(23)]
    for i, product in enumerate(products):
        ProductMetrics.objects.filter(product=product).update(
            total_views=i % 4, total_sales=i % 2, trending_score=(i % 3) * 0.5
        )
        if i % 5 == 0:
            make_review(product, rating=1 + i % 5)

    # When a client walks the listing 4 at a time
    slugs = walk(gql, order, 4)

    # Then it sees each product exactly once
    assert sorted(slugs) == sorted(p.slug for p in products)
    assert len(slugs) == len(set(slugs))


def test_orders_sort_by_what_they_say(gql):
    cheap = make_product(name="Cheap", price="1.00")
    dear = make_product(name="Dear", price="99.00")
    popular = make_product(name="Popular", price="50.00")
    ProductMetrics.objects.filter(product=popular).update(total_views=100, total_sales=7)
    ProductMetrics.objects.filter(product=dear).update(total_views=5, total_sales=9)
    make_review(cheap, rating=5)
    make_review(dear, rating=2)

    def first(order):
        return names(gql.data(PAGE, {"orderBy": order}))[0]

    assert first("PRICE_ASC") == "Cheap"
    assert first("PRICE_DESC") == "Dear"
    assert first("MOST_VIEWED") == "Popular"
    assert first("BEST_SELLING") == "Dear"
    assert first("TOP_RATED") == "Cheap"
    assert first("NEWEST") == "Popular"


def test_only_active_products_are_listed_or_found(gql):
    make_product(name="Live")
    hidden = make_product(name="Hidden", is_active=False)
    assert names(gql.data(PAGE)) == ["Live"]
    assert gql.data("query($s: String) { product(slug: $s) { name } }", {"s": hidden.slug})["product"] is None


def test_a_category_filter_includes_descendant_categories(gql):
    home = make_category("Home", slug="home")
    kitchen = make_category("Kitchen", parent=home, slug="kitchen")
    knives = make_category("Knives", parent=kitchen, slug="knives")
    make_product(name="Sofa", category=home)
    make_product(name="Kettle", category=kitchen)
    make_product(name="Chef knife", category=knives)
    make_product(name="Novel")

    by_slug = gql.data(PAGE, {"filter": {"category": "kitchen"}})
    by_id = gql.data(PAGE, {"filter": {"category": global_id("Category", home.pk)}})

    assert sorted(names(by_slug)) == ["Chef knife", "Kettle"]
    assert by_slug["products"]["totalCount"] == 2
    assert sorted(names(by_id)) == ["Chef knife", "Kettle", "Sofa"]
    assert names(gql.data(PAGE, {"filter": {"category": "no-such-category"}})) == []


def test_search_price_seller_and_stock_filters_combine(gql):
    alice = make_user()
    make_product(name="Red kettle", price="30.00", seller=alice, stock=3)
    make_product(name="Blue kettle", price="80.00", seller=alice, stock=0)
    make_product(name="Plain mug", description="Goes with any kettle", price="8.00", stock=5)

    assert sorted(names(gql.data(PAGE, {"filter": {"search": "KETTLE"}}))) == ["Blue kettle", "Plain mug", "Red kettle"]
    assert names(gql.data(PAGE, {"filter": {"search": "kettle", "minPrice": "10", "maxPrice": "50"}})) == ["Red kettle"]
    seller_filter = {"seller": global_id("Seller", alice.pk), "inStock": True}
    assert names(gql.data(PAGE, {"filter": seller_filter})) == ["Red kettle"]
    assert names(gql.data(PAGE, {"filter": {"inStock": False}})) == ["Blue kettle"]


def test_search_with_sql_metacharacters_is_just_text(gql):
    make_product(name="100% cotton_shirt")
    make_product(name="Other")
    for term in ["100%", "_shirt", "'; DROP TABLE marketplace_product; --", "%", "\\"]:
        result = gql(PAGE, {"filter": {"search": term}})
        assert "errors" not in result
    assert names(gql.data(PAGE, {"filter": {"search": "100%"}})) == ["100% cotton_shirt"]
    assert names(gql.data(PAGE, {"filter": {"search": "%"}})) == []  # no word in it: matches nothing


def test_a_product_page_by_id_or_slug(gql):
    product = make_product(name="Lamp", price="12.50")
    make_review(product, rating=4)
    make_review(product, rating=5)
    query = """query($id: ID, $slug: String) { product(id: $id, slug: $slug) {
        id name price inStock rating { average count } reviews(first: 1) {
          pageInfo { hasNextPage endCursor } edges { node { rating author { displayName } } } } } }"""

    by_id = gql.data(query, {"id": global_id("Product", product.pk)})["product"]
    by_slug = gql.data(query, {"slug": product.slug})["product"]

    assert by_id == by_slug
    assert by_id["price"] == "12.50" and Decimal(by_id["price"]) == product.price
    assert by_id["rating"] == {"average": 4.5, "count": 2}
    assert by_id["reviews"]["pageInfo"]["hasNextPage"] is True
    second = gql.data(
        "query($s: String, $a: String) { product(slug: $s) { reviews(first: 1, after: $a) { edges { node { rating } } "
        "pageInfo { hasNextPage } } } }",
        {"s": product.slug, "a": by_id["reviews"]["pageInfo"]["endCursor"]},
    )["product"]["reviews"]
    assert len(second["edges"]) == 1 and second["pageInfo"]["hasNextPage"] is False


def test_unknown_ids_and_slugs_give_null(gql):
    query = "query($id: ID, $slug: String) { product(id: $id, slug: $slug) { name } }"
    assert gql.data(query, {"id": global_id("Product", 999999)})["product"] is None
    assert gql.data(query, {"slug": "nothing-here"})["product"] is None


BAD_INPUTS = [
    ("first above 100", PAGE, {"first": 101}, "first must be between 0 and 100"),
    ("negative first", PAGE, {"first": -1}, "first must be between 0 and 100"),
    ("malformed cursor", PAGE, {"after": "not-a-cursor!"}, "cursor is malformed"),
    ("cursor of base64 junk", PAGE, {"after": "e30="}, "cursor is malformed"),
    ("minPrice above maxPrice", PAGE, {"filter": {"minPrice": "9", "maxPrice": "1"}}, "greater than"),
    ("negative price", PAGE, {"filter": {"minPrice": "-1"}}, "0 or more"),
    ("seller id of another type", PAGE, {"filter": {"seller": global_id("Product", 1)}}, "expected a Seller ID"),
    ("both id and slug", 'query { product(id: "1", slug: "x") { name } }', {}, "exactly one of id and slug"),
    ("neither id nor slug", "query { product { name } }", {}, "exactly one of id and slug"),
    (
        "id of the wrong type",
        "query($id: ID) { product(id: $id) { name } }",
        {"id": global_id("Category", 1)},
        "expected a Product ID",
    ),
    ("garbage id", 'query { product(id: "%%%") { name } }', {}, "not a valid Product ID"),
    ("category by both", 'query { category(id: "1", slug: "x") { name } }', {}, "exactly one of id and slug"),
]


@pytest.mark.parametrize("case,query,variables,message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_clear_client_error(gql, case, query, variables, message):
    make_product()
    result = gql(query, variables)
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    assert message in result["errors"][0]["message"]


def test_a_cursor_from_another_order_is_refused(gql):
    make_product()
    make_product()
    cursor = gql.data(PAGE, {"first": 1, "orderBy": "PRICE_ASC"})["products"]["pageInfo"]["endCursor"]
    result = gql(PAGE, {"first": 1, "after": cursor, "orderBy": "NEWEST"})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert "belongs to the order PRICE_ASC" in result["errors"][0]["message"]


def test_first_zero_returns_no_edges_but_the_total(gql):
    make_product()
    page = gql.data(PAGE, {"first": 0})["products"]
    assert page["edges"] == [] and page["totalCount"] == 1 and page["pageInfo"]["hasNextPage"] is True
