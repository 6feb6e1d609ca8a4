"""A developer opens GraphiQL in a real browser, on a machine without internet, and runs a query.

Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) loads ``/graphql/`` from the
live server. Every request the page makes to any other host is refused and written down:
GraphiQL's assets are served by the app itself, so the page must work without them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.factories import make_category, make_product
from tests.live_server import require

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/graphiql.png")
TIMEOUT_MS = 15_000

QUERY = "{ products(first: 2) { edges { node { name } } } }"


@dataclass
class OfflinePage:
    """A browser tab that may only talk to the live server, and what it tried besides."""

    page: Page
    refused: list[str] = field(default_factory=list)  # URLs on other hosts the page asked for (aborted)
    js_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def chromium():
    """Chromium's path, and Playwright importable; skips (fails under CI=true) without them."""
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "the playwright Python package is missing: pip install -e '.[dev]'")
    return CHROMIUM


@pytest.fixture
def open_browser(chromium, live_api):
    """Opens a headless Chromium tab on demand: ``tab = open_browser()``.

    On demand, because Playwright's sync API runs an event loop in this thread, and Django then
    refuses ORM calls as "async unsafe": create the test's rows first, then open the browser.
    Depending on ``live_api`` makes the browser close before the test database is flushed.
    """
    from playwright.sync_api import sync_playwright

    started = []

    def open_tab() -> OfflinePage:
        pw = sync_playwright().start()
        started.append(pw)
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        tab = OfflinePage(browser.new_context(viewport={"width": 1400, "height": 900}).new_page())
        tab.page.set_default_timeout(TIMEOUT_MS)

        def route(route):
            url = urlsplit(route.request.url)
            if url.scheme in ("data", "blob") or url.netloc == live_api.netloc:
                route.continue_()
            else:
                tab.refused.append(route.request.url)
                route.abort("internetdisconnected")

        tab.page.route("**/*", route)
        tab.page.on("pageerror", lambda exc: tab.js_errors.append(str(exc)))
        tab.page.on("console", lambda msg: tab.console_errors.append(msg.text) if msg.type == "error" else None)
        return tab

    yield open_tab
    for pw in started:
        pw.stop()  # closes the browser too


def editor_value(page, selector: str) -> str:
    """The text of a GraphiQL CodeMirror editor (query editor or result pane)."""
    return page.eval_on_selector(f"{selector} .CodeMirror", "el => el.CodeMirror.getValue()")


def test_a_developer_runs_a_query_in_graphiql_without_internet(live_api, open_browser):
    # Given a product in the catalogue, and a browser that cannot reach the internet
    make_product(name="Hand-thrown stoneware mug", category=make_category("Kitchen"))
    tab = open_browser()
    page = tab.page

    # When a developer opens /graphql/ in a browser
    response = page.goto(live_api.graphql_url)
    assert response.status == 200
    assert "text/html" in response.headers["content-type"]

    # Then GraphiQL renders: the editor replaces the "Loading GraphiQL…" placeholder
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    assert "Loading" not in page.inner_text("#graphiql")

    # When they type a query and press the run button
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(QUERY)  # insert, not type: typing "{" would auto-close a brace
    assert editor_value(page, ".graphiql-query-editor") == QUERY
    page.click("button.graphiql-execute-button")

    # Then the result pane shows the product's name
    page.wait_for_function(
        "() => document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue().trim()"
    )
    page.screenshot(path=str(SCREENSHOT))
    shown = editor_value(page, ".graphiql-response")
    assert "Hand-thrown stoneware mug" in shown, f"result pane:\n{shown}\nserver log:\n{live_api.log()[-3000:]}"
    result = json.loads(shown)
    assert "errors" not in result, result["errors"]
    assert result["data"] == {"products": {"edges": [{"node": {"name": "Hand-thrown stoneware mug"}}]}}

    # And the page never reached for another host (a CDN), and raised no JavaScript error
    assert tab.refused == [], f"GraphiQL tried to load from other hosts (refused): {tab.refused}"
    assert tab.js_errors == [], f"uncaught JavaScript errors: {tab.js_errors}"
    assert tab.console_errors == [], f"console errors: {tab.console_errors}"

    # (The guard itself works: a request to a CDN is refused and written down, so the check
    # above would have caught GraphiQL's stock page, which loads everything from one.)
    outcome = page.evaluate("fetch('https://unpkg.com/graphiql/graphiql.min.js').then(() => 'loaded', () => 'refused')")
    assert outcome == "refused"
    assert tab.refused == ["https://unpkg.com/graphiql/graphiql.min.js"]
