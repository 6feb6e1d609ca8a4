"""Relay's object identification: every Node refetches by its global ID through ``node``
and ``nodes``, answering null for what the viewer may not see, in a constant number of
SQL queries however many IDs are asked for."""

from decimal import Decimal

import pytest
from django.test import Client

from graph.ids import global_id
from marketplace.models import Order
from tests.factories import make_category, make_product, make_review, make_user
from tests.helpers import GraphQLClient, error_codes

pytestmark = pytest.mark.django_db

NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Product { name } ... on Category { slug } ... on Seller { displayName }
  ... on Review { rating } ... on Order { total } } }"""
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Product { name } } }"


def logged_in(user) -> GraphQLClient:
    client = Client()
    client.force_login(user)
    return GraphQLClient(client)


def test_every_node_type_refetches_by_the_id_the_api_gave_it(gql):
    # Given one object of each Node type, and the IDs the API shows for them
    seller = make_user(first_name="Ada", last_name="Lovelace")
    product = make_product(name="Lamp", seller=seller)
    review = make_review(product, rating=4)
    shown = gql.data(
        "query($s: String!) { product(slug: $s) {"
        " id category { id } seller { id } reviews { edges { node { id } } } } }",
        {"s": product.slug},
    )["product"]

    # When a client refetches each by node(id:)
    def node(id_):
        return gql.data(NODE, {"id": id_})["node"]

    # Then each comes back as its own type, with the same ID
    assert node(shown["id"]) == {"__typename": "Product", "id": shown["id"], "name": "Lamp"}
    assert node(shown["category"]["id"])["slug"] == product.category.slug
    assert node(shown["seller"]["id"])["displayName"] == "Ada Lovelace"
    review_id = shown["reviews"]["edges"][0]["node"]["id"]
    assert review_id == global_id("Review", review.pk)
    assert node(review_id) == {"__typename": "Review", "id": review_id, "rating": 4}


def test_an_order_is_a_node_for_its_owner_and_staff_only():
    owner, stranger = make_user(), make_user()
    staff = make_user(is_staff=True)
    order = Order.objects.create(user=owner, total=Decimal("12.50"))
    variables = {"id": global_id("Order", order.pk)}

    assert logged_in(owner).data(NODE, variables)["node"] == {
        "__typename": "Order",
        "id": variables["id"],
        "total": "12.50",
    }
    assert logged_in(staff).data(NODE, variables)["node"]["total"] == "12.50"
    assert logged_in(stranger).data(NODE, variables)["node"] is None
    assert GraphQLClient(Client()).data(NODE, variables)["node"] is None


def test_what_the_public_cannot_see_is_null(gql):
    hidden = make_product(is_active=False)
    review_of_hidden = make_review(hidden)
    gone = make_user(is_active=False)
    ids = [
        global_id("Product", hidden.pk),
        global_id("Review", review_of_hidden.pk),
        global_id("Seller", gone.pk),
        global_id("Product", 999_999),
        global_id("Category", 999_999),
    ]
    assert gql.data(NODES, {"ids": ids})["nodes"] == [None] * 5
    for id_ in ids:
        assert gql.data(NODE, {"id": id_})["node"] is None


def test_nodes_answers_in_the_order_asked_with_nulls_in_place(gql):
    a, b = make_product(name="A"), make_product(name="B")
    category = make_category()
    ids = [global_id("Product", b.pk), global_id("Product", 999_999), global_id("Category", category.pk)]
    ids.append(global_id("Product", a.pk))
    assert [n and n.get("name", n["__typename"]) for n in gql.data(NODES, {"ids": ids})["nodes"]] == [
        "B",
        None,
        "Category",
        "A",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "not base64 at all!",
        "UHJvZHVjdA==",  # "Product" without a colon
        global_id("Product", 0),
        "UHJvZHVjdDphYmM=",  # "Product:abc"
        global_id("Cart", 1),  # a real type, not a Node
        global_id("NoSuchType", 1),
        "42",  # a bare database id names no type
    ],
)
def test_malformed_ids_and_non_node_types_are_bad_user_input(gql, bad):
    assert error_codes(gql(NODE, {"id": bad})) == ["BAD_USER_INPUT"]
    assert error_codes(gql(NODES, {"ids": [global_id("Product", 1), bad]})) == ["BAD_USER_INPUT"]


def test_nodes_takes_at_most_100_ids(gql):
    product = make_product()
    assert len(gql.data(NODES, {"ids": [global_id("Product", product.pk)] * 100})["nodes"]) == 100
    assert error_codes(gql(NODES, {"ids": [global_id("Product", product.pk)] * 101})) == ["BAD_USER_INPUT"]


# one query per Node type asked for, however many IDs: products, categories (with their
# parents primed), sellers
NODES_QUERIES = 3


@pytest.mark.parametrize("size", [10, 100])
def test_nodes_costs_the_same_queries_at_10_and_100_ids(gql, django_assert_num_queries, size):
    # Given products in a few categories from a few sellers
    sellers = [make_user() for _ in range(3)]
    categories = [make_category() for _ in range(4)]
    products = [make_product(seller=sellers[i % 3], category=categories[i % 4]) for i in range(size)]
    ids = [global_id("Product", p.pk) for p in products]
    query = """query($ids: [ID!]!) { nodes(ids: $ids) {
        id ... on Product { name category { name } seller { displayName } } } }"""

    # When a client refetches them all by ID
    with django_assert_num_queries(NODES_QUERIES):
        nodes = gql.data(query, {"ids": ids})["nodes"]

    # Then each came back, in order
    assert [n["id"] for n in nodes] == ids
    assert all(n["category"]["name"] and n["seller"]["displayName"] for n in nodes)


def test_the_cost_of_nodes_grows_with_the_ids_asked_for(gql):
    # Each ID runs what is selected under it: 100 products with 100 reviews each is too costly
    ids = [global_id("Product", n) for n in range(1, 101)]
    deep = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Product {
        reviews(first: 100) { edges { node { rating author { displayName } } } } } } }"""
    assert error_codes(gql(deep, {"ids": ids})) == ["QUERY_TOO_COSTLY"]
    assert "errors" not in gql(deep, {"ids": ids[:10]})
