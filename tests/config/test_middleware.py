"""The middleware stack under ASGI: the API's requests hop to no thread in it, and the
admin keeps its session login, CSRF protection, messages and frame protection."""

import json
from unittest import mock

import pytest
from asgiref import sync
from django.contrib.auth import get_user_model
from django.core.handlers import base
from django.test import AsyncClient, Client
from django.utils import deprecation

TYPENAME = json.dumps({"query": "{ __typename }"})


class HopCounter:
    """Counts ``sync_to_async`` wrappers made by Django's middleware plumbing: each one
    is a hand-off to a thread and back."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, func, *args, **kwargs):
        self.calls.append(getattr(func, "__qualname__", repr(func)))
        return sync.sync_to_async(func, *args, **kwargs)


@pytest.fixture
def hops():
    counter = HopCounter()
    with (
        mock.patch.object(deprecation, "sync_to_async", counter),  # MiddlewareMixin's hooks
        mock.patch.object(base, "sync_to_async", counter),  # the handler adapting sync process_view
    ):
        yield counter


def post_typename():
    return sync.async_to_sync(AsyncClient().post)("/graphql/", TYPENAME, content_type="application/json")


def test_an_anonymous_api_request_hops_to_no_thread_in_the_middleware(db, hops):
    response = post_typename()
    assert response.status_code == 200 and json.loads(response.content)["data"] == {"__typename": "Query"}
    assert hops.calls == []


def test_the_api_skips_the_admins_messages_but_keeps_frame_protection(db):
    response = post_typename()
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "messages" not in response.cookies


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-Long-enough-42")


def test_the_admin_login_form_is_csrf_protected(staff):
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/admin/login/").status_code == 200
    refused = browser.post("/admin/login/", {"username": "root", "password": "pw-Long-enough-42"})
    assert refused.status_code == 403
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/admin/login/", {"username": "root", "password": "pw-Long-enough-42", "csrfmiddlewaretoken": token}
    )
    assert accepted.status_code == 302 and accepted.headers["X-Frame-Options"] == "DENY"


def test_the_admin_works_under_asgi_with_its_messages(staff):
    browser = AsyncClient(enforce_csrf_checks=True)
    browser.force_login(staff)
    get, post = sync.async_to_sync(browser.get), sync.async_to_sync(browser.post)
    page = get("/admin/auth/group/add/")
    assert page.status_code == 200 and page.headers["X-Frame-Options"] == "DENY"
    token = browser.cookies["csrftoken"].value
    assert post("/admin/auth/group/add/", {"name": "editors"}).status_code == 403  # no token
    added = post("/admin/auth/group/add/", {"name": "editors", "csrfmiddlewaretoken": token}, follow=True)
    assert added.status_code == 200
    assert [m.message for m in added.context["messages"]][0].endswith("was added successfully.")
