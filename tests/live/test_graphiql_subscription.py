"""A developer runs a subscription in GraphiQL (headless Chromium, no internet) and sees updates."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from graph.ids import global_id
from tests.factories import make_product
from tests.graph.test_graphiql_browser import chromium, editor_value, open_browser  # noqa: F401  (fixtures)
from tests.live.client import track_view

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_subscription_in_graphiql_shows_the_pushed_totals(live_api, open_browser):  # noqa: F811
    # Given a product, and GraphiQL open in a browser that cannot reach the internet
    pid = global_id("Product", make_product(name="Live mug").pk)
    fields = "product { name } metrics { totalViews }"
    subscription = f'subscription {{ productMetricsUpdated(productIds: ["{pid}"]) {{ {fields} }} }}'
    tab = open_browser()
    page = tab.page
    page.goto(live_api.graphql_url)
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")

    # When they run a subscription, and shoppers then view the product
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(subscription)
    # GraphiQL sends an operation over the websocket once its editor has parsed it as a subscription
    page.wait_for_function(
        "() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()"
        ".startsWith('subscription')"
    )
    page.wait_for_timeout(1500)
    page.click("button.graphiql-execute-button")

    # Then the result pane shows the update pushed over the websocket (views are sent until
    # one arrives: the subscription registers on the server a moment after the click)
    def shows_update() -> bool:
        track_view(live_api.url, pid)
        try:
            page.wait_for_function(
                "() => (document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue() || '')"
                ".includes('totalViews')",
                timeout=1000,
            )
            return True
        except PlaywrightTimeout:
            return False

    assert any(shows_update() for _ in range(30)), f"no update shown; server log:\n{live_api.log()[-3000:]}"
    shown = json.loads(editor_value(page, ".graphiql-response"))
    assert shown["data"]["productMetricsUpdated"]["product"] == {"name": "Live mug"}
    assert shown["data"]["productMetricsUpdated"]["metrics"]["totalViews"] >= 1
    assert tab.refused == [], f"GraphiQL tried to load from other hosts (refused): {tab.refused}"
    assert tab.js_errors == [], f"uncaught JavaScript errors: {tab.js_errors}"
