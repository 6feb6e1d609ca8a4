"""Without npm, ``/graphql/`` in a browser says how to enable GraphiQL instead of hanging on "Loading…".

The server runs in its own process with ``GRAPHIQL_ASSETS_DIR`` pointing at an empty folder, as on a
machine where ``make run`` found no npm; the API itself must work all the same.
"""

from __future__ import annotations

import httpx

from graph.assets import ASSETS


def test_graphiql_says_how_to_enable_it_when_its_assets_are_missing(live_api_factory, tmp_path):
    # Given a server whose GraphiQL assets were never installed
    server = live_api_factory(GRAPHIQL_ASSETS_DIR=str(tmp_path))

    # When a browser opens /graphql/
    page = httpx.get(server.graphql_url, headers={"Accept": "text/html"})

    # Then it gets a page saying what to run, not GraphiQL's loader
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "GraphiQL is not installed" in page.text
    assert "<pre>npm ci</pre>" in page.text and "reload this page" in page.text
    assert "Loading" not in page.text
    for relative, _type in ASSETS.values():
        assert relative in page.text  # every missing file is listed

    # And the API answers queries as usual
    answer = httpx.post(server.graphql_url, json={"query": "{ __typename }"})
    assert answer.json()["data"] == {"__typename": "Query"}


def test_graphiql_renders_when_its_assets_are_there(live_api):
    page = httpx.get(live_api.graphql_url, headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert "/graphiql-assets/graphiql.js" in page.text
    assert "GraphiQL is not installed" not in page.text
