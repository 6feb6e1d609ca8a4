"""Sellers manage their own catalogue; shoppers review; figures stay private."""

from decimal import Decimal

import pytest
from django.test import Client

from graph.ids import global_id
from marketplace.models import Order, OrderItem, Product
from tests.factories import make_category, make_product, make_review, make_user
from tests.helpers import GraphQLClient, error_codes
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"
CREATE = """mutation($input: ProductInput!) { createProduct(input: $input) {
  product { id name slug price stock isActive metrics { totalViews totalRevenue } } errors { field code message } } }"""
UPDATE = """mutation($id: ID!, $input: ProductInput!) { updateProduct(productId: $id, input: $input) {
  product { name price stock } errors { field code } } }"""
DEACTIVATE = "mutation($id: ID!) { deactivateProduct(productId: $id) { product { isActive } errors { code } } }"
IMAGE = """mutation($id: ID!, $url: String!) { addProductImage(productId: $id, url: $url, altText: "front") {
  image { url position } errors { field code } } }"""
REVIEW = """mutation($id: ID!, $r: Int!) { addProductReview(productId: $id, rating: $r, title: "t", body: "b") {
  review { rating author { displayName } } errors { field code } } }"""
REVENUE = "query($s: String) { product(slug: $s) { metrics { totalSales totalRevenue } } }"


def logged_in(user=None, **extra) -> GraphQLClient:
    user = user or make_user(**extra)
    gql = GraphQLClient(Client())
    gql.data(LOGIN, {"u": user.username, "p": PASSWORD})
    return gql


def test_a_seller_lists_a_product_with_a_generated_slug_and_metrics_at_once():
    seller = logged_in()
    category = make_category()
    make_product(name="Desk lamp", slug="desk-lamp")

    result = seller.data(
        CREATE,
        {"input": {"name": "Desk lamp", "price": "25.00", "stock": 4, "category": global_id("Category", category.pk)}},
    )["createProduct"]

    assert result["errors"] == []
    product = result["product"]
    assert product["slug"] == "desk-lamp-2" and product["price"] == "25.00" and product["isActive"] is True
    assert product["metrics"] == {"totalViews": 0, "totalRevenue": "0.00"}
    assert ProductMetrics.objects.filter(product__slug="desk-lamp-2").count() == 1


@pytest.mark.parametrize(
    "changes,field,code",
    [
        ({"price": "-1"}, "price", "OUT_OF_RANGE"),
        ({"stock": -3}, "stock", "OUT_OF_RANGE"),
        ({"name": "   "}, "name", "REQUIRED"),
        ({"slug": "Not A Slug"}, "slug", "INVALID"),
        ({"price": "1.999"}, "price", "INVALID"),
    ],
)
def test_product_validation_is_a_user_error(changes, field, code):
    seller = logged_in()
    category = make_category()
    values = {"name": "Lamp", "price": "5", "stock": 1, "category": global_id("Category", category.pk), **changes}
    result = seller.data(CREATE, {"input": values})["createProduct"]
    assert result["product"] is None and [(e["field"], e["code"]) for e in result["errors"]] == [(field, code)]
    assert not Product.objects.exists()


def test_a_taken_slug_is_refused():
    make_product(slug="lamp")
    seller = logged_in()
    category = make_category()
    values = {"name": "Lamp", "slug": "lamp", "price": "5", "category": global_id("Category", category.pk)}
    assert seller.data(CREATE, {"input": values})["createProduct"]["errors"][0]["code"] == "UNIQUE"


def test_sellers_change_only_their_own_products_staff_any():
    owner = make_user()
    product = make_product(seller=owner, price="10.00")
    other = logged_in()
    pid = global_id("Product", product.pk)

    for query, variables in [
        (UPDATE, {"id": pid, "input": {"price": "1.00"}}),
        (DEACTIVATE, {"id": pid}),
        (IMAGE, {"id": pid, "url": "https://img.example.com/x.jpg"}),
    ]:
        result = next(iter(other.data(query, variables).values()))
        assert result["errors"] == [{"code": "NOT_FOUND"}] or result["errors"][0]["code"] == "NOT_FOUND"
    product.refresh_from_db()
    assert product.price == Decimal("10.00") and product.is_active

    staff = logged_in(is_staff=True)
    assert staff.data(UPDATE, {"id": pid, "input": {"price": "12.00"}})["updateProduct"]["product"]["price"] == "12.00"
    owner_gql = logged_in(owner)
    assert owner_gql.data(DEACTIVATE, {"id": pid})["deactivateProduct"]["product"] == {"isActive": False}
    assert (
        owner_gql.data("{ me { products { totalCount edges { node { isActive } } } } }")["me"]["products"]["totalCount"]
        == 1
    )


def test_images_append_in_order_and_need_a_real_url():
    owner = make_user()
    product = make_product(seller=owner)
    gql = logged_in(owner)
    pid = global_id("Product", product.pk)
    first = gql.data(IMAGE, {"id": pid, "url": "https://img.example.com/a.jpg"})["addProductImage"]
    second = gql.data(IMAGE, {"id": pid, "url": "https://img.example.com/b.jpg"})["addProductImage"]
    bad = gql.data(IMAGE, {"id": pid, "url": "javascript:alert(1)"})["addProductImage"]
    assert (first["image"]["position"], second["image"]["position"]) == (0, 1)
    assert bad["errors"] == [{"field": "url", "code": "INVALID"}]


def test_catalogue_mutations_need_a_login():
    anonymous = GraphQLClient(Client())
    category = make_category()
    result = anonymous(CREATE, {"input": {"name": "x", "price": "1", "category": global_id("Category", category.pk)}})
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert error_codes(anonymous(REVIEW, {"id": global_id("Product", make_product().pk), "r": 5})) == [
        "UNAUTHENTICATED"
    ]


def test_one_review_per_user_rating_1_to_5_and_the_rating_follows_at_once():
    product = make_product()
    pid = global_id("Product", product.pk)
    alice, bob = logged_in(), logged_in()

    assert alice.data(REVIEW, {"id": pid, "r": 5})["addProductReview"]["errors"] == []
    assert bob.data(REVIEW, {"id": pid, "r": 2})["addProductReview"]["errors"] == []
    assert alice.data(REVIEW, {"id": pid, "r": 4})["addProductReview"]["errors"] == [
        {"field": "productId", "code": "DUPLICATE"}
    ]
    assert bob.data(REVIEW, {"id": pid, "r": 6})["addProductReview"]["errors"][0]["code"] == "OUT_OF_RANGE"
    carol = logged_in()
    assert carol.data(REVIEW, {"id": pid, "r": 0})["addProductReview"]["errors"] == [
        {"field": "rating", "code": "OUT_OF_RANGE"}
    ]
    rating = alice.data("query($s: String) { product(slug: $s) { rating { average count } } }", {"s": product.slug})
    assert rating["product"]["rating"] == {"average": 3.5, "count": 2}


def test_revenue_is_visible_to_the_seller_and_staff_only():
    seller = make_user()
    product = make_product(seller=seller)
    ProductMetrics.objects.filter(product=product).update(total_sales=3, total_revenue=Decimal("30.00"))

    def revenue(gql):
        return gql.data(REVENUE, {"s": product.slug})["product"]["metrics"]

    assert revenue(GraphQLClient(Client())) == {"totalSales": 3, "totalRevenue": None}
    assert revenue(logged_in()) == {"totalSales": 3, "totalRevenue": None}
    assert revenue(logged_in(seller)) == {"totalSales": 3, "totalRevenue": "30.00"}
    assert revenue(logged_in(is_staff=True)) == {"totalSales": 3, "totalRevenue": "30.00"}


def test_tracking_status_is_for_staff_only():
    query = "{ trackingStatus { enqueued processed queueDepth } }"
    assert error_codes(GraphQLClient(Client())(query)) == ["UNAUTHENTICATED"]
    assert error_codes(logged_in()(query)) == ["FORBIDDEN"]
    assert logged_in(is_staff=True).data(query)["trackingStatus"]["queueDepth"] == 0


VERIFIED = "query($s: String) { product(slug: $s) { reviews { edges { node { rating verifiedPurchase } } } } }"


def test_a_seller_cannot_review_their_own_product():
    seller = make_user()
    product = make_product(seller=seller)
    result = logged_in(seller).data(REVIEW, {"id": global_id("Product", product.pk), "r": 5})["addProductReview"]
    assert result == {"review": None, "errors": [{"field": "productId", "code": "OWN_PRODUCT"}]}
    assert not product.reviews.exists()


def test_reviews_from_buyers_are_marked_verified_purchases():
    # Given a product that one shopper bought and another did not
    product = make_product(stock=5)
    pid = global_id("Product", product.pk)
    buyer, browser = make_user(), make_user()
    buyer_gql = logged_in(buyer)
    buyer_gql.data("mutation($id: ID!) { addToCart(productId: $id, quantity: 1) { errors { code } } }", {"id": pid})
    assert buyer_gql.data("mutation { checkout { errors { code } } }")["checkout"]["errors"] == []

    # When both review it
    buyer_gql.data(REVIEW, {"id": pid, "r": 5})
    logged_in(browser).data(REVIEW, {"id": pid, "r": 2})

    # Then only the buyer's review is a verified purchase
    reviews = logged_in().data(VERIFIED, {"s": product.slug})["product"]["reviews"]["edges"]
    assert sorted((e["node"]["rating"], e["node"]["verifiedPurchase"]) for e in reviews) == [(2, False), (5, True)]


def test_a_cancelled_order_does_not_verify_a_review():
    product = make_product()
    user = make_user()
    order = Order.objects.create(user=user, status=Order.Status.CANCELLED, total=Decimal("10.00"))
    OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=Decimal("10.00"))
    review = "mutation($id: ID!) { addProductReview(productId: $id, rating: 4) { review { verifiedPurchase } } }"
    result = logged_in(user).data(review, {"id": global_id("Product", product.pk)})["addProductReview"]
    assert result == {"review": {"verifiedPurchase": False}}


MARKED_REVIEWS = """query($s: String) { product(slug: $s) { reviews { edges { node {
  verifiedPurchase author { displayName } } } } } }"""


@pytest.mark.parametrize("reviews", [2, 8])
def test_the_verified_mark_costs_no_query_per_review(gql, django_assert_num_queries, reviews):
    # Given a product with reviews, half of them from buyers
    product = make_product()
    for i in range(reviews):
        review = make_review(product, rating=1 + i % 5)
        review.verified_purchase = i % 2 == 0
        review.save(update_fields=["verified_purchase"])

    # When a shopper reads the reviews with their authors and marks
    # (the product, its page of reviews, the authors in one batch)
    with django_assert_num_queries(3):
        edges = gql.data(MARKED_REVIEWS, {"s": product.slug})["product"]["reviews"]["edges"]

    # Then every review came back with its mark
    assert sorted(e["node"]["verifiedPurchase"] for e in edges) == [False] * (reviews // 2) + [True] * (reviews // 2)
