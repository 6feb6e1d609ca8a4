"""A developer logs in inside GraphiQL and goes on working, without reloading the page.

Django rotates the CSRF cookie at login. GraphiQL must read the token from the cookie for every
request: a token read once at page load is stale after the login, and every mutation of the new
session would then be refused (FORBIDDEN) until a reload.
"""

from __future__ import annotations

import json

from django.conf import global_settings

from tests.factories import make_category, make_product, make_user
from tests.graph.test_graphiql_browser import chromium, editor_value, open_browser  # noqa: F401 - fixtures

LOGIN = 'mutation { login(username: "ada", password: "correct-horse-battery-9") { user { username } errors { code } } }'
FAVORITE = 'mutation { addFavorite(productId: "%s") { isFavorite errors { code } } }'


def run_in_graphiql(page, document: str) -> dict:
    """Replace the editor's text with ``document``, press run, and return the result pane's JSON."""
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(document)  # insert, not type: typing "{" would auto-close a brace
    page.evaluate("() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.setValue('')")
    page.click("button.graphiql-execute-button")
    page.wait_for_function(
        "() => document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue().trim()"
    )
    return json.loads(editor_value(page, ".graphiql-response"))


def test_a_mutation_after_logging_in_inside_graphiql_runs_without_a_reload(live_api, open_browser, settings):  # noqa: F811
    # Given a shopper's account (hashed as the server hashes: it knows no test hasher), a
    # product, and GraphiQL open in a browser
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    make_user("ada")
    product = make_product(name="Copper kettle", category=make_category("Kitchen"))
    tab = open_browser()
    page = tab.page
    assert page.goto(live_api.graphql_url).status == 200
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    cookie_at_load = {c["name"]: c["value"] for c in page.context.cookies()}["csrftoken"]

    # When the developer logs in by running the login mutation in the editor
    login = run_in_graphiql(page, LOGIN)
    assert login["data"]["login"] == {"user": {"username": "ada"}, "errors": []}, login
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["csrftoken"] != cookie_at_load  # Django rotated it at login

    # And then runs a mutation of the new session, without reloading the page
    favorite = run_in_graphiql(page, FAVORITE % product.pk)

    # Then it runs: the fetcher sent the rotated token
    assert "errors" not in favorite, f"{favorite}\nserver log:\n{live_api.log()[-3000:]}"
    assert favorite["data"]["addFavorite"] == {"isFavorite": True, "errors": []}
    assert tab.js_errors == [], f"uncaught JavaScript errors: {tab.js_errors}"
