"""A storefront on another origin calls the API from a real browser (CORS).

Headless Chromium opens a page served from another loopback port; the page fetches a listing
from the live API with a bearer token. A listed origin (``CORS_ALLOWED_ORIGINS``) is answered;
any other is refused by the browser, since the API sends it no ``Access-Control-Allow-Origin``.
The preflight itself is checked over plain HTTP too: 200 with the headers, not 405.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketplace.services.accounts import issue_token
from tests.factories import make_category, make_product, make_user
from tests.graph.test_graphiql_browser import CHROMIUM_ARGS, TIMEOUT_MS, chromium  # noqa: F401 - a fixture

PAGE = b"<!doctype html><title>storefront</title><p>A storefront on its own origin.</p>"
QUERY = "{ me { username } products(first: 2) { edges { node { name } } } }"
FETCH = """async ({url, token, query}) => {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer " + token,
                "apollographql-client-name": "storefront"},
      body: JSON.stringify({query}),
    });
    return {fetched: true, status: response.status, body: await response.json()};
  } catch (error) {
    return {fetched: false, error: String(error)};
  }
}"""


class _Storefront(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def storefront_origins():
    """Two storefront pages on their own loopback ports: ``(listed, unlisted)`` origins."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Storefront) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(chromium):  # noqa: F811 - the imported fixture
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def fetch_from(browser, origin: str, api_url: str, token: str) -> dict:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    assert page.goto(origin + "/").status == 200
    try:
        return page.evaluate(FETCH, {"url": api_url, "token": token, "query": QUERY})
    finally:
        page.close()


def test_a_listed_origin_reads_the_api_and_others_are_refused(live_api_factory, storefront_origins, request):
    # Given a catalogue, a shopper's API token, and the API configured for one storefront origin
    listed, unlisted = storefront_origins
    make_product(name="Walnut cutting board", category=make_category("Kitchen"))
    secret, _ = issue_token(user=make_user("grace"))
    api = live_api_factory(CORS_ALLOWED_ORIGINS=listed)
    browser = request.getfixturevalue("browser")  # after the rows: Playwright's loop makes the ORM refuse

    # When the listed storefront's page fetches a listing with the bearer token
    allowed = fetch_from(browser, listed, api.graphql_url, secret)

    # Then the browser lets the page read the answer
    assert allowed["fetched"], f"{allowed}\nserver log:\n{api.log()[-3000:]}"
    assert allowed["status"] == 200
    assert "errors" not in allowed["body"], allowed["body"]
    assert allowed["body"]["data"] == {
        "me": {"username": "grace"},
        "products": {"edges": [{"node": {"name": "Walnut cutting board"}}]},
    }

    # When a page from an origin nobody listed tries the same
    refused = fetch_from(browser, unlisted, api.graphql_url, secret)

    # Then the browser refuses it: the fetch fails, the page never sees the data
    assert refused == {"fetched": False, "error": "TypeError: Failed to fetch"}


def preflight(client, origin: str):
    return client.options(
        "/graphql/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, apollographql-client-name, x-csrftoken",
        },
    )


@pytest.mark.django_db
def test_the_preflight_is_answered_with_the_allowed_headers(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:3000"]

    response = preflight(client, "http://localhost:3000")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert {"POST", "GET"} <= {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "apollographql-client-name", "x-csrftoken"} <= allowed
    assert "Access-Control-Allow-Credentials" not in response  # off unless configured


@pytest.mark.django_db
def test_credentials_are_allowed_only_when_configured(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:3000"]
    settings.CORS_ALLOW_CREDENTIALS = True

    assert preflight(client, "http://localhost:3000")["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.django_db
def test_by_default_no_origin_is_allowed(client):
    response = preflight(client, "http://localhost:3000")

    assert response.status_code == 200  # answered, not 405; but without a grant
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_cors_covers_the_api_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["http://localhost:3000"]

    response = client.get("/admin/login/", headers={"Origin": "http://localhost:3000"})

    assert "Access-Control-Allow-Origin" not in response
