"""Automatic persisted queries (Apollo's protocol) and HTTP caching of GET queries.

A client first sends only the sha256 of its document; on ``PersistedQueryNotFound`` it sends the
hash with the document, which the server checks and keeps; then the hash alone runs it, over POST
or GET. Anonymous GET answers may be cached by a CDN (``GRAPHQL_GET_MAX_AGE``); personal ones
never by a shared cache; mutations never run over GET.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core.cache import cache

from graph.persisted import KEY_PREFIX, document_hash
from marketplace.services.accounts import issue_token
from tests.factories import make_category, make_product, make_user
from tests.helpers import error_codes

pytestmark = pytest.mark.django_db

LISTING = "query Listing { products(first: 2) { edges { node { name } } } }"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def apq(sha: str, version: int = 1) -> dict:
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


def post(client, body: dict, **headers):
    return client.post("/graphql/", json.dumps(body), content_type="application/json", headers=headers)


def get(client, params: dict, **headers):
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return client.get(f"/graphql/?{urlencode(encoded)}", headers={"Accept": "application/json", **headers})


@pytest.fixture
def catalogue():
    make_product(name="Linen apron", category=make_category("Kitchen"))


def test_an_unknown_hash_asks_the_client_for_the_document(client):
    # When a client sends only the hash of a document the server has never seen
    response = post(client, {"extensions": apq(document_hash(LISTING))})

    # Then it gets exactly what Apollo's link retries on: 200, PersistedQueryNotFound
    assert response.status_code == 200
    body = response.json()
    not_found = {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    assert body["errors"] == [not_found]
    assert body.get("data") is None


def test_a_registered_document_runs_by_its_hash_over_post_and_get(client, catalogue):
    sha = document_hash(LISTING)
    expected = {"products": {"edges": [{"node": {"name": "Linen apron"}}]}}

    # Given a client that sent the hash with its document once (it runs, and is kept)
    registered = post(client, {"query": LISTING, "extensions": apq(sha)})
    assert registered.status_code == 200
    assert registered.json()["data"] == expected
    assert cache.get(KEY_PREFIX + sha) == LISTING

    # When it sends the hash alone, by POST and by GET
    by_post = post(client, {"extensions": apq(sha), "operationName": "Listing"})
    by_get = get(client, {"extensions": apq(sha)})

    # Then both run the kept document
    assert by_post.status_code == by_get.status_code == 200
    assert by_post.json()["data"] == by_get.json()["data"] == expected
    assert "errors" not in by_post.json()
    assert "errors" not in by_get.json()


def test_a_hash_that_does_not_match_its_document_is_refused_and_not_kept(client):
    sha = document_hash("{ categories { name } }")

    response = post(client, {"query": LISTING, "extensions": apq(sha)})

    assert response.status_code == 400
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "sha256Hash does not match the query" in body["errors"][0]["message"]
    assert cache.get(KEY_PREFIX + sha) is None


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ({"persistedQuery": "abc"}, "must be an object"),
        (apq(document_hash(LISTING), version=2), "Unsupported persisted query version 2"),
        (apq("not-a-hash"), "64 hex digits"),
        ({"persistedQuery": {"version": 1}}, "64 hex digits"),
    ],
)
def test_a_malformed_persisted_query_is_the_clients_error(client, extensions, message):
    response = post(client, {"query": LISTING, "extensions": extensions})

    assert response.status_code == 400
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert message in body["errors"][0]["message"]


def test_a_document_beyond_the_token_limit_runs_into_the_limit_and_is_not_kept(client, settings):
    huge = "{ products(first: 1) { edges { node { " + "name " * settings.GRAPHQL_MAX_TOKENS + "} } } }"
    sha = document_hash(huge)

    response = post(client, {"query": huge, "extensions": apq(sha)})

    assert "errors" in response.json()  # the token limit answered, as without a persisted query
    assert cache.get(KEY_PREFIX + sha) is None
    assert post(client, {"extensions": apq(sha)}).json()["errors"][0]["message"] == "PersistedQueryNotFound"


def test_kept_documents_expire_after_the_configured_timeout(client, settings, monkeypatch):
    settings.GRAPHQL_APQ_TIMEOUT = 123
    timeouts = []
    real_aset = cache.aset

    async def spy(key, value, timeout=None, **kwargs):
        timeouts.append((key, timeout))
        return await real_aset(key, value, timeout=timeout, **kwargs)

    monkeypatch.setattr(cache, "aset", spy)
    post(client, {"query": LISTING, "extensions": apq(document_hash(LISTING))})

    assert timeouts == [(KEY_PREFIX + document_hash(LISTING), 123)]


# --- GET and HTTP caches -------------------------------------------------------------------


def test_anonymous_get_answers_are_public_for_the_configured_max_age(client, catalogue, settings):
    settings.GRAPHQL_GET_MAX_AGE = 60

    response = get(client, {"query": LISTING})

    assert response.status_code == 200
    assert "errors" not in response.json()
    assert response["Cache-Control"] == "public, max-age=60"
    vary = {v.strip().lower() for v in response["Vary"].split(",")}
    assert {"authorization", "cookie"} <= vary


def test_by_default_no_get_answer_is_stored(client, catalogue):
    response = get(client, {"query": LISTING})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_get_answers_with_errors_are_never_stored(client, settings):
    settings.GRAPHQL_GET_MAX_AGE = 60

    response = get(client, {"query": "{ products(first: 2) { edges { node { nope } } } }"})

    assert "errors" in response.json()
    assert response["Cache-Control"] == "no-store"


def test_authenticated_get_answers_are_private(client, catalogue, settings):
    settings.GRAPHQL_GET_MAX_AGE = 60
    user = make_user("ada")
    secret, _ = issue_token(user=user)

    by_token = get(client, {"query": "{ me { username } }"}, Authorization=f"Bearer {secret}")
    assert by_token.json()["data"] == {"me": {"username": "ada"}}
    assert by_token["Cache-Control"] == "private, no-store"

    client.force_login(user)
    by_session = get(client, {"query": "{ me { username } }"})
    assert by_session.json()["data"] == {"me": {"username": "ada"}}
    assert by_session["Cache-Control"] == "private, no-store"


def test_post_answers_carry_no_cache_header(client, catalogue, settings):
    settings.GRAPHQL_GET_MAX_AGE = 60

    response = post(client, {"query": LISTING})

    assert "Cache-Control" not in response


def test_mutations_never_run_over_get_even_by_hash(client, catalogue):
    mutation = 'mutation { login(username: "x", password: "y") { token } }'

    by_text = get(client, {"query": mutation})
    assert by_text.status_code == 400
    assert by_text.content.decode() == "mutations are not allowed when using GET"

    # A mutation registered over POST is still refused when its hash comes over GET
    sha = document_hash(mutation)
    assert post(client, {"query": mutation, "extensions": apq(sha)}).status_code == 200
    by_hash = get(client, {"extensions": apq(sha)})
    assert by_hash.status_code == 400
    assert by_hash.content.decode() == "mutations are not allowed when using GET"
