"""An operator uses the Django admin under the ASGI server: styled, with metrics and API tokens.

The browser story logs in with headless Chromium against uvicorn (no ``runserver``), opens a
product and checks that the admin's stylesheet is applied; its screenshot is kept in
``tests/artifacts/`` (gitignored). The other stories use Django's test client.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from marketplace.models import ApiToken
from marketplace.services.accounts import issue_token, user_for_token
from tests.factories import make_category, make_product, make_user
from tests.live_server import require
from tracking.models import ProductMetrics

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ARTIFACTS = Path(settings.BASE_DIR) / "tests" / "artifacts"
PASSWORD = "correct-horse-battery-9"  # tests.factories.make_user's


def admin_client() -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


# --- static files under ASGI ------------------------------------------------------------------


def test_the_admin_stylesheet_is_served_by_the_asgi_server(live_api):
    response = httpx.get(f"{live_api.url}/static/admin/css/base.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "#header" in response.text


def test_collected_static_files_are_served_without_debug(live_api_factory, tmp_path):
    # Given static files collected as `make run` does, and a production-like server (DEBUG off)
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "STATIC_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collect.returncode == 0, collect.stderr
    server = live_api_factory(DEBUG="0", SECRET_KEY="x" * 50, STATIC_ROOT=str(tmp_path), ALLOWED_HOSTS="127.0.0.1")

    # Then the admin's stylesheet is there, cacheable
    response = httpx.get(f"{server.url}/static/admin/css/base.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    # And a file that does not exist is a plain 404
    assert httpx.get(f"{server.url}/static/admin/css/nope.css").status_code == 404


# --- the browser story --------------------------------------------------------------------------


@pytest.fixture
def chromium():
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "the playwright Python package is missing: pip install -e '.[dev]'")
    return CHROMIUM


def test_an_operator_logs_in_and_sees_a_styled_product_page_with_its_metrics(live_api, chromium):
    # Given a superuser and a product with 42 views (rows first: Playwright's loop forbids the ORM)
    operator = make_user(is_staff=True, is_superuser=True)
    # Hashed as the server hashes (the suite's fast MD5 hasher is not in the server's list).
    operator.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    operator.save(update_fields=["password"])
    product = make_product(name="Walnut desk organiser", seller=make_user(), category=make_category())
    ProductMetrics.objects.filter(product=product).update(total_impressions=70, total_views=42, total_clicks=7)
    change_url = reverse("admin:marketplace_product_change", args=[product.pk])

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)

        # When they log in to the admin
        page.goto(f"{live_api.url}/admin/login/?next={change_url}")
        page.fill("#id_username", operator.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        assert page.url == f"{live_api.url}{change_url}"

        # Then the product page is styled: the header has the admin's colours, not the browser's default
        header = page.eval_on_selector(
            "#header", "el => ({bg: getComputedStyle(el).backgroundColor, display: getComputedStyle(el).display})"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "admin-product.png"), full_page=True)
        assert header["bg"] not in ("rgba(0, 0, 0, 0)", "transparent"), header
        assert header["display"] == "flex", header  # base.css lays the header out as a flexbox
        stylesheets = page.evaluate("Array.from(document.styleSheets, s => s.href).filter(Boolean)")
        assert any(href.endswith("/static/admin/css/base.css") for href in stylesheets)

        # And the product's metrics are on its page, read-only
        metrics = page.inner_text("#metrics-group")
        browser.close()
    assert "Total views" in metrics and "42" in metrics
    assert "Click through rate:\n0.1\n" in metrics  # 7 clicks of 70 impressions, from ProductMetrics


# --- metrics inline, tokens, createsuperuser (test client) ------------------------------------


@pytest.mark.django_db
def test_the_product_page_shows_the_metrics_inline_read_only():
    product = make_product(seller=make_user(), category=make_category())
    ProductMetrics.objects.filter(product=product).update(total_views=1234)

    page = admin_client().get(reverse("admin:marketplace_product_change", args=[product.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="metrics-group"' in html and "1234" in html
    assert 'name="metrics-0-total_views"' not in html  # shown, not editable


@pytest.mark.django_db
def test_api_tokens_are_listed_and_revoked_from_the_admin():
    # Given two tokens of a shopper
    shopper = make_user(username="shopper")
    first_secret, first = issue_token(user=shopper, name="laptop")
    second_secret, _second = issue_token(user=shopper, name="phone")
    client = admin_client()

    # The list shows them by prefix and name, never the hash
    listing = client.get(reverse("admin:marketplace_apitoken_changelist")).content.decode()
    assert first.prefix in listing and "laptop" in listing and "phone" in listing
    assert first.key_hash not in listing

    # When the operator revokes the first with the list's action
    response = client.post(
        reverse("admin:marketplace_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [first.pk]},
        follow=True,
    )

    # Then it no longer authenticates, the other still does
    assert "1 token(s) revoked." in response.content.decode()
    assert ApiToken.objects.get(pk=first.pk).revoked_at is not None
    assert user_for_token(first_secret) is None
    assert user_for_token(second_secret) == shopper
    # And nobody creates a token by hand (the secret is shown once, at login)
    assert client.get(reverse("admin:marketplace_apitoken_add")).status_code == 403


@pytest.mark.django_db
def test_seed_demo_creates_the_superuser_once(monkeypatch):
    from io import StringIO

    from django.contrib.auth import get_user_model

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "s3cret-admin-pass")
    out = StringIO()
    call_command("seed_demo", "--products", "0", "--createsuperuser", "--admin-username", "boss", stdout=out)
    call_command("seed_demo", "--products", "0", "--createsuperuser", "--admin-username", "boss", stdout=out)

    boss = get_user_model().objects.get(username="boss")
    assert boss.is_superuser and boss.is_staff and boss.check_password("s3cret-admin-pass")
    assert "'boss' created" in out.getvalue() and "'boss' exists already" in out.getvalue()


@pytest.mark.django_db
def test_seed_demo_createsuperuser_without_a_password_is_a_clear_error(monkeypatch):
    from django.core.management.base import CommandError

    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="needs a password") as failure:
        call_command("seed_demo", "--products", "0", "--createsuperuser")
    assert failure.value.returncode == 2
