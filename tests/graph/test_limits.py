"""Every limit holds on both sides of its boundary, and says which limit and value it hit."""

import asyncio
import json
import logging

import pytest
import strawberry
from django.test import Client, override_settings

from graph.cost import operation_cost
from graph.ids import global_id
from graph.masking import MaskServerErrors
from tests.factories import make_category, make_product
from tests.helpers import GraphQLClient, error_codes

pytestmark = pytest.mark.django_db


def nested_categories(depth: int) -> str:
    """A query of depth ``depth`` as graphql-js and strawberry count it: the root
    field is at depth 0, so its deepest field is ``depth`` levels below it."""
    inner = "name"
    for _ in range(depth - 2):  # product is at depth 0, category at 1
        inner = f"parent {{ {inner} }}"
    return '{ product(slug: "x") { category { ' + inner + " } } }"


def test_depth_10_runs_and_11_is_refused(gql):
    assert "errors" not in gql(nested_categories(10))
    result = gql(nested_categories(11))
    assert "exceeds maximum operation depth of 10" in result["errors"][0]["message"]


def test_30_aliases_run_and_31_are_refused(gql):
    def aliases(n):
        return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"

    assert "errors" not in gql(aliases(30))
    assert gql(aliases(31))["errors"][0]["message"] == "31 aliases found. Allowed: 30"


@override_settings(GRAPHQL_MAX_TOKENS=50)
def test_tokens_up_to_the_limit_run_and_more_are_refused(gql):
    def document(fields):  # "{" + fields + "}" = fields + 2 tokens
        return "{ " + " ".join(["__typename"] * fields) + " }"

    assert "errors" not in gql(document(48))
    result = gql(document(49))
    assert "more than 50 tokens" in result["errors"][0]["message"]


def test_query_cost_multiplies_page_sizes_through_the_nesting():
    from graphql import parse

    listing = "{ products(first: 100) { edges { node { name reviews(first: 10) { edges { node { rating } } } } } } }"
    # products 1 + 100 x (edges 1 + node 1 + name 1 + reviews 1 + 10 x (edges 1 + node 1 + rating 1))
    assert operation_cost(parse(listing), None, {}) == 1 + 100 * (3 + 1 + 10 * 3)
    variables = {"n": 5}
    assert (
        operation_cost(parse("query($n: Int) { products(first: $n) { edges { node { name } } } }"), None, variables)
        == 16
    )


def test_the_cost_is_reported_and_the_maximum_holds_on_both_sides(gql, settings):
    make_product()
    query = "{ products(first: 50) { edges { node { name } } } }"  # 1 + 50 x 3 = 151
    result = gql(query)
    assert result["extensions"]["cost"] == {"requested": 151, "maximum": 50_000}

    settings.GRAPHQL_MAX_COST = 151
    assert "errors" not in gql(query)
    settings.GRAPHQL_MAX_COST = 150
    refused = gql(query)
    assert error_codes(refused) == ["QUERY_TOO_COSTLY"]
    assert "Query cost 151 exceeds the maximum of 150" in refused["errors"][0]["message"]
    assert refused["data"] is None


def test_a_costly_nested_listing_is_refused_before_it_runs(gql, django_assert_num_queries):
    query = (
        "{ categories { products(first: 100) { edges { node { "
        "reviews(first: 100) { edges { node { rating } } } } } } } }"
    )
    with django_assert_num_queries(0):
        result = gql(query)
    assert error_codes(result) == ["QUERY_TOO_COSTLY"]


def test_listing_views_take_100_ids_not_101(gql):
    ids = [global_id("Product", make_product().pk) for _ in range(101)]
    mutation = "mutation($ids: [ID!]!) { trackListingView(productIds: $ids) { accepted queued } }"
    assert gql.data(mutation, {"ids": ids[:100]})["trackListingView"] == {"accepted": True, "queued": 100}
    result = gql(mutation, {"ids": ids})
    assert error_codes(result) == ["BAD_USER_INPUT"] and "at most 100" in result["errors"][0]["message"]


def test_bodies_above_the_size_limit_get_413(client, settings):
    settings.REQUEST_MAX_BYTES = 2000
    small = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 1000}})
    large = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 3000}})
    assert client.post("/graphql/", small, content_type="application/json").status_code == 200
    response = client.post("/graphql/", large, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["errors"][0]["message"] == "Request body larger than 2,000 bytes."


def test_batched_operations_are_refused(client):
    body = json.dumps([{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    response = client.post("/graphql/", body, content_type="application/json")
    assert 400 <= response.status_code < 500


def test_tracking_is_rate_limited_per_visitor_and_counted(gql, settings, tracking_executor):
    settings.TRACKING_RATE_LIMIT = 3
    product = make_product()
    mutation = "mutation($id: ID!) { trackProductView(productId: $id) { accepted reason } }"
    receipts = [gql.data(mutation, {"id": global_id("Product", product.pk)})["trackProductView"] for _ in range(4)]
    assert receipts[:3] == [{"accepted": True, "reason": None}] * 3
    assert receipts[3] == {"accepted": False, "reason": "rate_limited"}
    assert tracking_executor.stats().rate_limited == 1 and tracking_executor.stats().enqueued == 3
    # another visitor has a budget of its own
    other = GraphQLClient(Client(REMOTE_ADDR="10.0.0.2"))
    assert other.data(mutation, {"id": global_id("Product", product.pk)})["trackProductView"]["accepted"] is True


def production_schema():
    from strawberry.schema.config import StrawberryConfig

    from graph.mutations.accounts import AccountMutation
    from graph.queries import Query
    from graph.schema import extensions

    with override_settings(DEBUG=False, GRAPHQL_INTROSPECTION=False):
        return strawberry.Schema(
            query=Query,
            mutation=AccountMutation,
            extensions=extensions(),
            config=StrawberryConfig(disable_field_suggestions=True),
        )


def test_production_can_turn_introspection_off_and_gives_no_field_suggestions():
    schema = production_schema()
    introspection = asyncio.run(schema.execute("{ __schema { types { name } } }"))
    assert introspection.errors and "introspection" in introspection.errors[0].message.lower()
    typo = asyncio.run(schema.execute("{ prodcts { totalCount } }"))
    assert "Cannot query field 'prodcts'" in typo.errors[0].message
    assert "Did you mean" not in typo.errors[0].message


def test_production_masks_resolver_faults_with_a_request_id_in_the_log(caplog):
    @strawberry.type
    class Faulty:
        @strawberry.field
        def boom(self) -> int:
            raise RuntimeError("secret database password in this message")

        @strawberry.field
        def bad_input(self) -> int:
            from graph.errors import BadUserInput

            raise BadUserInput("first must be between 0 and 100, got 500.")

    schema = strawberry.Schema(query=Faulty, extensions=[MaskServerErrors])
    with caplog.at_level(logging.ERROR, logger="graph.errors"):
        masked = asyncio.run(schema.execute("{ boom }")).errors[0]
    assert masked.message == "Internal server error."
    request_id = masked.extensions["requestId"]
    assert masked.extensions["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in json.dumps(masked.formatted)
    assert request_id in caplog.text and "secret database password" in caplog.text  # the log has the whole story

    readable = asyncio.run(schema.execute("{ badInput }")).errors[0]
    assert (
        readable.message == "first must be between 0 and 100, got 500."
        and readable.extensions["code"] == "BAD_USER_INPUT"
    )
    invalid = asyncio.run(schema.execute("{ nope }")).errors[0]
    assert "Cannot query field 'nope'" in invalid.message


def test_a_category_listing_deeper_than_allowed_names_the_limit(gql):
    make_category()
    result = gql(nested_categories(12))
    assert "maximum operation depth of 10" in result["errors"][0]["message"]
