"""The GraphQL layer translates: what services and loaders return, in the API's words."""

from decimal import Decimal

import pytest
from django.test import Client

from graph.ids import global_id
from graph.mutations.common import user_error
from graph.types.errors import UserErrorCode
from marketplace.services.errors import ServiceError
from tests.factories import make_product, make_user
from tests.helpers import GraphQLClient
from tracking.models import ProductMetrics

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { errors { code } } }"


def logged_in(user) -> GraphQLClient:
    gql = GraphQLClient(Client())
    assert gql.data(LOGIN, {"u": user.username, "p": "correct-horse-battery-9"})["login"]["errors"] == []
    return gql


@pytest.mark.parametrize(
    "service_field,argument",
    [("product", "productId"), ("token", "tokenId"), ("price", "price"), (None, None)],
)
def test_a_service_error_names_the_argument_the_client_sent(service_field, argument):
    error = user_error(ServiceError("Nope.", field=service_field, code="not_found"))
    assert (error.field, error.message, error.code) == (argument, "Nope.", UserErrorCode.NOT_FOUND)


@pytest.mark.django_db
def test_each_cart_mutation_of_a_document_shows_the_cart_after_it():
    # Given a shopper and two products
    gql = logged_in(make_user())
    lamp, desk = make_product(stock=5), make_product(stock=5)

    # When one document adds both, then removes the first
    data = gql.data(
        """mutation($lamp: ID!, $desk: ID!) {
          first: addToCart(productId: $lamp, quantity: 1) { cart { totalQuantity items { quantity } } }
          second: addToCart(productId: $desk, quantity: 2) { cart { totalQuantity items { quantity } } }
          third: removeFromCart(productId: $lamp) { cart { totalQuantity items { quantity } } }
        }""",
        {"lamp": global_id("Product", lamp.pk), "desk": global_id("Product", desk.pk)},
    )

    # Then every payload shows the cart as that mutation left it, not as an earlier one read it
    assert [data[k]["cart"]["totalQuantity"] for k in ("first", "second", "third")] == [1, 3, 2]
    assert [[i["quantity"] for i in data[k]["cart"]["items"]] for k in ("first", "second", "third")] == [
        [1],
        [1, 2],
        [2],
    ]


@pytest.mark.django_db
def test_a_listing_shows_each_seller_the_revenue_of_their_own_products_only():
    # Given two products of two sellers, both with sales
    alice, bob = make_user(), make_user()
    mine, theirs = make_product(seller=alice), make_product(seller=bob)
    ProductMetrics.objects.filter(product__in=[mine, theirs]).update(total_revenue=Decimal("30.00"))

    # When alice reads one listing with both products' metrics (one metrics batch)
    edges = logged_in(alice).data("{ products { edges { node { slug metrics { totalRevenue } } } } }")["products"]

    # Then she sees her product's revenue and not bob's
    revenue = {edge["node"]["slug"]: edge["node"]["metrics"]["totalRevenue"] for edge in edges["edges"]}
    assert revenue == {mine.slug: "30.00", theirs.slug: None}
