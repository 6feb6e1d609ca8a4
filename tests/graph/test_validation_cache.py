"""A document seen before is neither analysed nor validated again; its cost still follows
the variables it reads."""

from unittest import mock

import pytest

from graph.validation import cache, limits
from tests.helpers import GraphQLClient, error_codes

LISTING = "query($n: Int, $q: String) { products(first: $n, filter: {search: $q}) { edges { node { name } } } }"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.documents.clear()


@pytest.fixture
def validations():
    with mock.patch.object(limits, "validate", wraps=limits.validate) as spy:
        yield spy


def cost(result: dict) -> int:
    return result["extensions"]["cost"]["requestedQueryCost"]


def test_a_document_seen_before_is_not_validated_again(db, gql: GraphQLClient, validations):
    first = gql(LISTING, {"n": 5})
    calls = validations.call_count
    assert calls > 0 and "errors" not in first
    assert gql(LISTING, {"n": 5}) == first
    assert validations.call_count == calls


def test_the_cost_follows_the_variables_it_reads(db, gql: GraphQLClient, validations):
    small, large = gql(LISTING, {"n": 5}), gql(LISTING, {"n": 50})
    assert cost(large) > cost(small)
    assert cost(gql(LISTING, {"n": 5})) == cost(small)
    assert cost(gql(LISTING, {"n": 5, "q": "lamp"})) > cost(small)  # a search is an expensive field
    assert validations.call_count <= 2  # validation itself ran for the first request only


def test_a_refusal_is_not_remembered_for_other_variables(db, gql: GraphQLClient, settings):
    settings.GRAPHQL_MAX_COST = 100
    assert error_codes(gql(LISTING, {"n": 1000})) == ["QUERY_TOO_COSTLY"]
    assert "errors" not in gql(LISTING, {"n": 5})


def test_true_is_not_one():
    recorder = cache.ReadRecorder({"n": True})
    assert recorder["n"] is True
    assert not cache._agrees(recorder.reads, {"n": 1})
    assert cache._agrees(recorder.reads, {"n": True, "unread": "anything"})


def test_the_caches_are_bounded():
    lru = cache.LRU(2)
    for key in "abc":
        lru.put(key, key)
    assert len(lru) == 2 and lru.get("a") is None and lru.get("c") == "c"
