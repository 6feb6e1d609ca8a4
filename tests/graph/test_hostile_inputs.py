"""Hostile requests against the live server, as production runs it (DEBUG off).

Each request below must get a clear refusal: a 4xx, or a GraphQL error whose message a
person can read (a limit names its value, a client error carries ``extensions.code``). Never
a 5xx, never a traceback, never the masked "Internal server error." of a resolver fault.
After each one the server must still be up and answer a normal query, and nothing may have
been counted: the tracking executor has queued no event, and the sum of every
ProductMetrics counter in the database is the same after all of them as before (a real view
at the end proves that sum does move when an event is counted).

One server receives every request in turn (each is a subtest), so a request that wedges or
kills it shows up in the ones after it too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from marketplace.models import Category, Product
from tests.graph.fuzz.checks import CLIENT_ERROR_CODES, STACK_TRACE, error_codes, payload_of
from tests.graph.fuzz.seed import Seeded, metrics_total, seed_marketplace
from tests.graph.fuzz.server import PRODUCTION, serving
from tracking.models import ProductMetrics

TEN_MB = 10 * 1024 * 1024
HEALTHY_QUERY = "{ products(first: 2) { totalCount edges { node { id name metrics { totalViews } } } } }"
STATUS_QUERY = "{ trackingStatus { enqueued processed failed dropped discarded queueDepth } }"
TRACK_VIEW = "mutation($id: ID!, $source: String) { trackProductView(productId: $id, source: $source) { accepted } }"


@pytest.fixture
def seeded(transactional_db) -> Seeded:
    return seed_marketplace()


@pytest.fixture
def api(seeded):
    """The live server in production mode (DEBUG=0), started once the data is committed."""
    with serving(PRODUCTION) as server:
        yield server


@pytest.fixture
def http(api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60) as client:
        yield client


# --- what a clear refusal is --------------------------------------------------------------


def describe(response: httpx.Response) -> str:
    body = response.text
    return f"HTTP {response.status_code} {response.headers.get('content-type')}: {body[:600]}"


def assert_clear_answer(response: httpx.Response, server_log: Callable[[], str]) -> None:
    """A 4xx, or a GraphQL answer whose every error is readable and the client's doing."""
    assert response.status_code < 500, f"a server error: {describe(response)}"
    assert not STACK_TRACE.search(response.text), f"a stack trace in the answer: {describe(response)}"
    if 400 <= response.status_code < 500:
        assert response.text.strip(), f"a {response.status_code} with an empty body"
        return
    payload = payload_of(response)
    assert isinstance(payload, dict), f"not a GraphQL response: {describe(response)}"
    for error in payload.get("errors") or []:
        message = error.get("message") or ""
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR" or message == "Internal server error.":
            request_id = (error.get("extensions") or {}).get("requestId", "")
            logged = logged_fault(server_log(), request_id)
            pytest.fail(f"a resolver fault (masked): {describe(response)}\nin the server log: {logged}", pytrace=False)
        assert message.strip(), f"an error without a message: {describe(response)}"
        # a resolver's error (it has a path) must say it is the client's; validation errors have no path
        assert code in CLIENT_ERROR_CODES or "path" not in error, f"an error not marked as a client error: {error}"


def logged_fault(log: str, request_id: str) -> str:
    """The log line naming ``request_id`` and the exception that ends its traceback."""
    lines = log.splitlines()
    start = next((i for i, line in enumerate(lines) if request_id and request_id in line), None)
    if start is None:
        return "(not found)"
    end = start + 1
    while end < len(lines) and not re.match(r"\d{4}-\d\d-\d\d |INFO:", lines[end]):
        end += 1
    return f"{lines[start]} ... {lines[end - 1].strip()}"


def messages(response: httpx.Response) -> str:
    payload = payload_of(response)
    if isinstance(payload, dict) and payload.get("errors"):
        return " | ".join(e.get("message", "") for e in payload["errors"])
    return response.text


def graphql(client: httpx.Client, query: str, variables: dict | None = None, **headers) -> httpx.Response:
    return client.post("/graphql/", json={"query": query, "variables": variables or {}}, headers=headers)


def tracking_status(client: httpx.Client, seeded: Seeded) -> dict:
    response = graphql(client, STATUS_QUERY, Authorization=f"Bearer {seeded.tokens['staff']}")
    return response.json()["data"]["trackingStatus"]


def wait_for_tracking(client: httpx.Client, seeded: Seeded, timeout: float = 10) -> dict:
    """Until the server's executor has applied (or failed) every event it queued."""
    deadline = time.monotonic() + timeout
    while True:
        status = tracking_status(client, seeded)
        settled = status["processed"] + status["failed"] + status["dropped"] + status["discarded"]
        if status["queueDepth"] == 0 and settled >= status["enqueued"] or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


# --- the hostile requests -------------------------------------------------------------------


@dataclass
class Hostile:
    name: str
    send: Callable[[httpx.Client, Seeded], httpx.Response]
    expect: Callable[[httpx.Response], None] = lambda response: None


def _post_raw(body: bytes, content_type: str = "application/json"):
    return lambda client, seeded: client.post("/graphql/", content=body, headers={"Content-Type": content_type})


def _post_query(query: str, variables: dict | None = None):
    return lambda client, seeded: graphql(client, query, variables)


def _client_error(code: str):
    def expect(response):
        errors = payload_of(response).get("errors") or []
        assert [e.get("extensions", {}).get("code") for e in errors] == [code], describe(response)

    return expect


def _status(*allowed: int):
    def expect(response):
        assert response.status_code in allowed, f"expected HTTP {allowed}, got {describe(response)}"

    return expect


def _refused_mentioning(*words: str):
    """A GraphQL error (or a 4xx) whose message names what was wrong, e.g. the limit's value."""

    def expect(response):
        _refused(response)
        text = messages(response)
        missing = [w for w in words if w.lower() not in text.lower()]
        assert not missing, f"the message does not mention {missing}: {text[:400]}"

    return expect


def _codes(*allowed: str):
    def expect(response):
        codes = error_codes(payload_of(response))
        assert codes and set(codes) <= set(allowed), f"expected codes {allowed}, got {codes}: {describe(response)}"

    return expect


def _no_errors(response):
    assert "errors" not in (payload_of(response) or {}), describe(response)


def _refused(response):
    assert response.status_code >= 400 or (payload_of(response) or {}).get("errors"), f"accepted: {describe(response)}"


def _chunked_ten_mb():
    def body() -> Iterator[bytes]:
        yield b'{"query": "{ __typename }", "padding": "'
        for _ in range(TEN_MB // 65536):
            yield b"x" * 65536
        yield b'"}'

    # no Content-Length: the size is only known once the body has been read
    return lambda client, seeded: client.post("/graphql/", content=body(), headers={"Content-Type": "application/json"})


def _nested(depth: int) -> str:
    return "{ categories { " + "children { " * (depth - 1) + "id" + " }" * (depth - 1) + " } }"


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


def _fragment_cycle(length: int) -> str:
    fragments = " ".join(f"fragment F{i} on Category {{ id ...F{(i + 1) % length} }}" for i in range(length))
    return "{ categories { ...F0 } } " + fragments


def _search(term: str, expected_count: int):
    query = "query($s: String) { products(first: 100, filter: {search: $s}) { totalCount edges { node { name } } } }"

    def send(client, seeded):
        return graphql(client, query, {"s": term})

    def expect(response):
        payload = payload_of(response)
        assert "errors" not in payload, describe(response)
        found = payload["data"]["products"]["totalCount"]
        assert found == expected_count, f"search {term!r} found {found} products, expected {expected_count}"

    return send, expect


def _batched_tracking(client, seeded):
    operation = {"query": TRACK_VIEW, "variables": {"id": seeded.product_ids[1]}}
    return client.post("/graphql/", json=[operation, operation, operation])


def _get_mutation(client, seeded):
    query = f'mutation {{ trackProductView(productId: "{seeded.product_ids[1]}") {{ accepted }} }}'
    return client.get("/graphql/", params={"query": query}, headers={"Accept": "application/json"})


def _by_id(product_id: str):
    query = "query($id: ID) { product(id: $id) { id } }"
    return lambda client, seeded: graphql(client, query, {"id": product_id})


def _tracking_by_id(product_id: str):
    return lambda client, seeded: graphql(client, TRACK_VIEW, {"id": product_id})


# --- crafted input: nested JSON, lone surrogates, over-long values, costly documents ----------

LONE_SURROGATE = "a\ud800"  # valid JSON escape, but no UTF-8 text: the body must be refused


def _post_json_text(text: str):
    """A body given as JSON text, so that it can hold escapes json.dumps would not write."""
    return _post_raw(text.encode())


def _nested_json(depth: int, where: str) -> bytes:
    nested = "[" * depth + "1" + "]" * depth
    if where == "body":
        return ('{"query": "{ __typename }", "extensions": ' + nested + "}").encode()
    return ('{"query": "query($ids: [ID!]) { __typename }", "variables": {"ids": ' + nested + "}}").encode()


def _nested_object_variables(depth: int) -> bytes:
    nested = '{"search": ' * depth + '"x"' + "}" * depth
    query = "query($f: ProductFilter) { products(filter: $f) { totalCount } }"
    return ('{"query": "' + query + '", "variables": {"f": ' + nested + "}}").encode()


def _with_surrogate(query: str, variables: str):
    """A POST whose variables (JSON text) hold a lone surrogate escape."""
    return _post_json_text(json.dumps({"query": query})[:-1] + ', "variables": ' + variables + "}")


def _tracking_variables(seeded: Seeded, source_json: str) -> str:
    """Variables as JSON text for TRACK_VIEW, with ``source_json`` written as is."""
    return '{"id": "' + seeded.product_ids[1] + '", "source": "' + source_json + '"}'


def _as(identity: str, query: str, variables_of: Callable[[Seeded], dict]):
    def send(client, seeded):
        headers = {"Authorization": f"Bearer {seeded.tokens[identity]}"}
        return graphql(client, query, variables_of(seeded), **headers)

    return send


def _user_error(mutation: str, field: str):
    """The mutation answers with a UserError on ``field`` (its validation ran), not a fault."""

    def expect(response):
        payload = payload_of(response)
        assert "errors" not in payload, describe(response)
        errors = payload["data"][mutation]["errors"]
        assert [e["field"] for e in errors] == [field], describe(response)

    return expect


UPDATE_PRODUCT = (
    "mutation($id: ID!, $input: ProductInput!) { updateProduct(productId: $id, input: $input) "
    "{ product { id } errors { field code message } } }"
)
ADD_IMAGE = (
    "mutation($id: ID!, $url: String!, $alt: String) { addProductImage(productId: $id, url: $url, altText: $alt) "
    "{ image { url } errors { field code message } } }"
)


def _fan_out(levels: int) -> str:
    fragments = " ".join(f"fragment F{i} on Category {{ id name ...F{i + 1} ...F{i + 1} }}" for i in range(levels - 1))
    return "{ categories { ...F0 } } " + fragments + f" fragment F{levels - 1} on Category {{ id }}"


SEARCH = 'products(first: 1, filter: {search: "lamp"}) { edges { node { id } } }'
NESTED_LISTING = (
    "query($f: Int = 100) { products(first: $f) { edges { node { name slug price category { "
    "products(first: $f) { edges { node { name slug price } } } } } } } }"
)


CASES = [
    Hostile("malformed JSON", _post_raw(b'{"query": "{ products { totalCount }'), _status(400)),
    Hostile(
        "wrong content type (text/plain)", _post_raw(b'{"query": "{ __typename }"}', "text/plain"), _status(400, 415)
    ),
    Hostile(
        "wrong content type (form)",
        _post_raw(b"query=%7B__typename%7D", "application/x-www-form-urlencoded"),
        _status(400, 415),
    ),
    Hostile("empty body", _post_raw(b""), _status(400)),
    Hostile(
        "10 MB body",
        _post_raw(b'{"query": "{ __typename }", "padding": "' + b"x" * TEN_MB + b'"}'),
        lambda r: (_status(413)(r), _codes("PAYLOAD_TOO_LARGE")(r)),
    ),
    Hostile(
        "10 MB body, chunked (no Content-Length)",
        _chunked_ten_mb(),
        lambda r: (_status(413)(r), _codes("PAYLOAD_TOO_LARGE")(r)),
    ),
    Hostile("50-level nested query", _post_query(_nested(50)), _refused_mentioning("depth", "10")),
    Hostile("260 aliases", _post_query(_aliases(260)), _refused_mentioning("alias", "30")),
    Hostile("80-fragment cycle", _post_query(_fragment_cycle(80)), _refused_mentioning("Cannot spread fragment")),
    Hostile("search: SQL injection", *_search("' OR '1'='1", 0)),
    Hostile("search: statement terminator and comment", *_search("'; --", 0)),  # no word in it: matches nothing
    Hostile("search: LIKE wildcard %", *_search("%", 0)),
    Hostile("search: LIKE wildcard _", *_search("_", 0)),
    Hostile("search: backslash and quotes", *_search("\\'\"`;/*", 0)),
    Hostile("JSON array body (batched mutations)", _batched_tracking, _refused),
    Hostile("GET with a mutation", _get_mutation, _refused),
    Hostile(
        "first: 1000",
        _post_query("{ products(first: 1000) { edges { node { id } } } }"),
        lambda r: (_codes("BAD_USER_INPUT")(r), _refused_mentioning("100")(r)),
    ),
    Hostile(
        "first: 2**31 - 1",
        _post_query("{ products(first: 2147483647) { edges { node { id } } } }"),
        _codes("BAD_USER_INPUT", "QUERY_TOO_COSTLY"),
    ),
    Hostile("first: 2**31 (not an Int)", _post_query("{ products(first: 2147483648) { totalCount } }"), _refused),
    # Server bugs these tests found fail the cases below: a JSON body that is not an object or
    # not UTF-8 is a 500 (strawberry's body parsing); an ID of non-ASCII digits or of more
    # than 4,300 digits is a resolver fault (graph/ids.py); a NUL character in a string that
    # reaches a query is a resolver fault on PostgreSQL (psycopg2 refuses NUL).
    Hostile("JSON body that is a string", _post_raw(b'"{ __typename }"'), _status(400)),
    Hostile("JSON body that is null", _post_raw(b"null"), _status(400)),
    Hostile("body that is not UTF-8", _post_raw(b'{"query": "{ __typename \xff }"}'), _status(400)),
    Hostile("ID of superscript digits", _by_id("²"), _codes("BAD_USER_INPUT")),
    Hostile("ID of 5,000 digits", _tracking_by_id("9" * 5000), _codes("BAD_USER_INPUT")),
    Hostile(
        "NUL in a search (refused: PostgreSQL cannot store NUL)",
        _post_query("query($s: String) { products(filter: {search: $s}) { totalCount } }", {"s": "a\x00b"}),
        _client_error("BAD_USER_INPUT"),
    ),
    Hostile("NUL in a slug", _post_query("query($s: String) { product(slug: $s) { id } }", {"s": "fuzz\x00"})),
    Hostile(
        "NUL in a login",
        _post_query(
            "mutation($u: String!) { login(username: $u, password: $u) { errors { code } } }", {"u": "fuzz\x00staff"}
        ),
    ),
    # JSON nested past any real body: once a RecursionError (500) in parsing or in coercion
    Hostile("JSON body nested 100,000 deep", _post_raw(b"[" * 100_000 + b"]" * 100_000), _status(400)),
    Hostile("JSON extensions nested 5,000 deep", _post_raw(_nested_json(5_000, "body")), _status(400)),
    Hostile("JSON variables nested 900 deep", _post_raw(_nested_json(900, "variables")), _codes("BAD_USER_INPUT")),
    Hostile("JSON variables nested 40 deep", _post_raw(_nested_json(40, "variables")), _codes("BAD_USER_INPUT")),
    Hostile("an input object nested 500 deep", _post_raw(_nested_object_variables(500)), _codes("BAD_USER_INPUT")),
    # lone UTF-16 surrogates: valid JSON, no valid text (PostgreSQL, logs and UTF-8 refuse them)
    Hostile(
        "lone surrogate in a search",
        _with_surrogate("query($s: String) { products(filter: {search: $s}) { totalCount } }", '{"s": "a\\ud800"}'),
        lambda r: (_status(400)(r), _codes("BAD_USER_INPUT")(r)),
    ),
    Hostile(
        "lone surrogate in a slug",
        _with_surrogate("query($s: String) { product(slug: $s) { id } }", '{"s": "\\udfff"}'),
        lambda r: (_status(400)(r), _codes("BAD_USER_INPUT")(r)),
    ),
    Hostile(
        "lone surrogate in a login",
        _with_surrogate(
            "mutation($u: String!) { login(username: $u, password: $u) { errors { code } } }", '{"u": "x\\ud83d"}'
        ),
        _codes("BAD_USER_INPUT"),
    ),
    Hostile(
        "lone surrogate in a tracking source",
        lambda client, seeded: _with_surrogate(TRACK_VIEW, _tracking_variables(seeded, "ad\\udc00"))(client, seeded),
        _codes("BAD_USER_INPUT"),
    ),
    Hostile(
        "lone surrogate in a variable's name",
        _post_json_text('{"query": "{ __typename }", "variables": {"\\ud800": 1}}'),
        _codes("BAD_USER_INPUT"),
    ),
    Hostile(
        "lone surrogate in the query text",
        _post_json_text('{"query": "{ product(slug: \\"\\ud800\\") { id } }"}'),
        _codes("BAD_USER_INPUT"),
    ),
    Hostile(
        "lone surrogate as a GraphQL escape",
        _post_query('{ product(slug: "\\ud800") { id } }'),
        _refused_mentioning("Invalid Unicode escape"),
    ),
    Hostile(
        "a surrogate pair is text, not an attack",
        _with_surrogate("query($s: String) { product(slug: $s) { id } }", '{"s": "\\ud83d\\ude00"}'),
        lambda r: (_status(200)(r), _no_errors(r)),
    ),
    # over-long and invalid values through mutations: the model's validation, as a UserError
    Hostile(
        "updateProduct with a 300-character name",
        _as("staff", UPDATE_PRODUCT, lambda seeded: {"id": seeded.product_ids[0], "input": {"name": "n" * 300}}),
        _user_error("updateProduct", "name"),
    ),
    Hostile(
        "updateProduct with a 300-character slug",
        _as("staff", UPDATE_PRODUCT, lambda seeded: {"id": seeded.product_ids[0], "input": {"slug": "s" * 300}}),
        _user_error("updateProduct", "slug"),
    ),
    Hostile(
        "createProduct with a 300-character name",
        _as(
            "seller",
            "mutation($input: ProductInput!) { createProduct(input: $input) { product { id } errors { field } } }",
            lambda seeded: {"input": {"name": "n" * 300, "price": "1.00", "category": seeded.category_ids[0]}},
        ),
        _user_error("createProduct", "name"),
    ),
    Hostile(
        "addProductImage with a 600-character URL",
        _as("staff", ADD_IMAGE, lambda seeded: {"id": seeded.product_ids[0], "url": "https://x.example/" + "a" * 600}),
        _user_error("addProductImage", "url"),
    ),
    Hostile(
        "addProductImage with a javascript: URL",
        _as("staff", ADD_IMAGE, lambda seeded: {"id": seeded.product_ids[0], "url": "javascript:alert(1)"}),
        _user_error("addProductImage", "url"),
    ),
    Hostile(
        "tracking source of 500 characters",
        lambda client, seeded: graphql(client, TRACK_VIEW, {"id": seeded.product_ids[1], "source": "s" * 500}),
        _codes("BAD_USER_INPUT"),
    ),
    Hostile(
        "tracking source with a control character",
        lambda client, seeded: graphql(client, TRACK_VIEW, {"id": seeded.product_ids[1], "source": "a\x1bb"}),
        _codes("BAD_USER_INPUT"),
    ),
    # documents that once cost seconds, or ran at a fraction of their cost
    Hostile("fragment fan-out F0..F15", _post_query(_fan_out(16)), _no_errors),
    Hostile("fragment fan-out F0..F60", _post_query(_fan_out(60)), _codes("QUERY_TOO_COMPLEX")),
    Hostile(
        "inline fragments nested 200 deep",
        _post_query("{ categories { " + "... on Category { " * 200 + "id" + " }" * 200 + " } }"),
        _refused,
    ),
    Hostile(
        "a list literal nested 1,000 deep",
        _post_query("{ product(slug: " + "[" * 1000 + '"x"' + "]" * 1000 + ") { id } }"),
        _refused_mentioning("nested"),
    ),
    Hostile("a 1 MB comment", _post_query("{ __typename } #" + "x" * 999_000), _refused_mentioning("source")),
    Hostile(
        "one field 500 times", _post_query("{ " + " ".join(["__typename"] * 500) + " }"), _codes("QUERY_TOO_COMPLEX")
    ),
    Hostile(
        "a page size in a variable's default",
        _post_query(NESTED_LISTING),
        lambda r: (_codes("QUERY_TOO_COSTLY")(r), _refused_mentioning("50,000")(r)),
    ),
    Hostile(
        "30 aliases of a listing ordered by rating",
        _post_query("{ " + " ".join(f"a{i}: {SEARCH}" for i in range(30)) + " }"),
        lambda r: (_codes("QUERY_TOO_COSTLY")(r), _refused_mentioning("expensive fields")(r)),
    ),
    Hostile(
        "six totalCounts through a fragment",
        _post_query(
            "{ " + " ".join(f"a{i}: products(first: {i + 1}) {{ ...C }}" for i in range(6)) + " } "
            "fragment C on ProductConnection { totalCount }"
        ),
        _codes("QUERY_TOO_COSTLY"),
    ),
]


def test_hostile_requests_get_clear_refusals_and_change_nothing(api, http, seeded, subtests):
    # Given a seeded catalogue, and the counters and tables as they are
    counters_before = metrics_total()
    products_before, categories_before = Product.objects.count(), Category.objects.count()
    assert graphql(http, HEALTHY_QUERY).json()["data"]["products"]["totalCount"] == 6

    for case in CASES:
        with subtests.test(case.name):
            # When the hostile request is sent
            response = case.send(http, seeded)

            # Then the answer is a clear refusal (or, for a search, a correct answer)
            assert_clear_answer(response, api.log)
            case.expect(response)

            # and the server is still up, answers a normal query, and has queued no event
            assert api.process.poll() is None, f"the server exited:\n{api.log()[-3000:]}"
            healthy = graphql(http, HEALTHY_QUERY)
            assert healthy.status_code == 200 and "errors" not in healthy.json(), describe(healthy)
            assert tracking_status(http, seeded)["enqueued"] == 0

    # Then nothing was counted, and no table lost a row
    wait_for_tracking(http, seeded)
    assert metrics_total() == counters_before
    assert (Product.objects.count(), Category.objects.count()) == (products_before, categories_before)

    # and the counters do move when a real event arrives (the comparison above can fail)
    receipt = graphql(http, TRACK_VIEW, {"id": seeded.product_ids[1]}).json()
    assert receipt["data"]["trackProductView"]["accepted"] is True, receipt
    wait_for_tracking(http, seeded)
    assert metrics_total() == counters_before + 1


def test_a_nul_in_a_tracking_source_never_costs_other_visitors_their_counts(api, http, seeded):
    # Given a product, and four visitors' views sent together with one whose source holds a NUL
    product = seeded.product_ids[2]
    pk = Product.objects.get(name__startswith="Fuzz product 2").pk
    views_before = ProductMetrics.objects.get(product_id=pk).total_views
    sources = ["home", "search", "nul\x00source", "ad", "email"]

    # When they arrive within one batch interval of the tracking executor
    answers = [graphql(http, TRACK_VIEW, {"id": product, "source": source}) for source in sources]

    # Then the NUL is refused as bad input or stored harmlessly, never a server fault
    for response in answers:
        assert_clear_answer(response, api.log)
    accepted = sum(1 for r in answers if (r.json().get("data") or {}).get("trackProductView", {}).get("accepted"))
    assert accepted >= 4, [r.text for r in answers]

    # and every accepted view is counted: the bad event does not take the batch down with it
    status = wait_for_tracking(http, seeded)
    views = ProductMetrics.objects.get(product_id=pk).total_views - views_before
    assert views == accepted, (
        f"{accepted} views accepted, {views} counted; executor: {json.dumps(status)}\n"
        + "\n".join(line for line in api.log().splitlines() if "tracking" in line.lower())[-2000:]
    )
