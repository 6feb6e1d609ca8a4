"""The GraphQL clients storefronts actually use, against the API served by uvicorn on loopback.

- Apollo Client 4 (``js/apollo_client.mjs``): InMemoryCache with ``relayStylePagination`` on
  ``products`` and the automatic persisted queries link; pages forward with ``fetchMore``.
- urql (``js/urql_client.mjs``): the persisted-queries exchange over GET, as a storefront that
  wants a CDN in front of its listings would set it up; reads the Cache-Control it gets.

Without node or the packages (``npm ci``) these skip, except under CI=true.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import make_category, make_product
from tests.live_server import require

BASE_DIR = Path(settings.BASE_DIR)
JS_DIR = Path(__file__).parent / "js"
PACKAGES = ("@apollo/client", "@urql/core", "@urql/exchange-persisted", "graphql", "rxjs")


@pytest.fixture
def run_client():
    """Runs one of the client scripts with node and returns its JSON output."""
    executable = shutil.which("node")
    require(executable is not None, "node is not installed (Node 20 or newer: apt-get install -y nodejs npm)")
    for package in PACKAGES:
        require(
            (BASE_DIR / "node_modules" / package / "package.json").is_file(),
            f"node_modules/{package} is missing: run `npm ci` in {BASE_DIR}",
        )

    def run(script: str, *args: str, server) -> dict:
        done = subprocess.run(
            [executable, str(JS_DIR / script), *args],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        log = server.log()[-3000:]
        assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}\nserver log:\n{log}"
        return json.loads(done.stdout)

    return run


@pytest.fixture
def five_products():
    """Five products, newest last: the NEWEST order lists them from "Product 5" down."""
    kitchen = make_category("Kitchen")
    return [make_product(name=f"Product {n}", category=kitchen).name for n in range(1, 6)]


def test_apollo_client_pages_forward_through_persisted_queries(run_client, live_api, five_products):
    # When Apollo Client (persisted-query link, relayStylePagination) lists products two at a
    # time and pages forward with fetchMore until the end
    out = run_client("apollo_client.mjs", live_api.graphql_url, "2", server=live_api)

    # Then the first request sent only the hash, the server asked for the document, the retry
    # sent it, and from then on the hash alone was enough
    assert [(r["method"], r["sentQuery"], r["sentHash"], r["status"], r["errors"]) for r in out["requests"]] == [
        ("POST", False, True, 200, ["PersistedQueryNotFound"]),
        ("POST", True, True, 200, []),
        ("POST", False, True, 200, []),
        ("POST", False, True, 200, []),
    ]
    # And the pages came newest first, without gaps or repeats, and the cache merged them into
    # the one list a storefront's "load more" shows
    newest_first = list(reversed(five_products))
    assert out["pages"] == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert out["cached"] == {"names": newest_first, "hasNextPage": False}

    # (Backward paging with Apollo's fetchMore and `last`/`before` joins this test, in
    # apollo_client.mjs next to pageForward, with issue 15's backward-paging work.)


def test_urql_runs_persisted_queries_over_get_with_cache_headers(run_client, live_api_factory, five_products):
    # Given the API configured to let HTTP caches keep anonymous GET answers for a minute
    api = live_api_factory(GRAPHQL_GET_MAX_AGE="60")

    # When urql (persisted-queries exchange, GET for hashed queries) runs a listing twice
    out = run_client("urql_client.mjs", api.graphql_url, server=api)

    # Then every request went over GET: the unknown hash got PersistedQueryNotFound (not to be
    # cached), the retry carried the document, and the hash alone then ran it; the listings were
    # marked cacheable by shared caches for the configured minute
    assert [
        (r["method"], r["sentQuery"], r["sentHash"], r["status"], r["cacheControl"], r["errors"])
        for r in out["requests"]
    ] == [
        ("GET", False, True, 200, "no-store", ["PersistedQueryNotFound"]),
        ("GET", True, True, 200, "public, max-age=60", []),
        ("GET", False, True, 200, "public, max-age=60", []),
    ]
    listing = {"products": {"edges": [{"node": {"name": name}} for name in ("Product 5", "Product 4")]}}
    assert out["results"] == [listing, listing]
