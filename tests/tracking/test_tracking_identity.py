"""Who a tracking event belongs to, and what tracking answers when the database is away."""

from __future__ import annotations

import pytest
from django.test import Client

from graph.ids import global_id
from tests.factories import make_product, make_user
from tests.helpers import GraphQLClient
from tests.tracking.test_outage_policy import refused_connection
from tracking import selectors
from tracking.models import ActivityEvent

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token errors { message } } }"
TRACK = "mutation($id: ID!) { trackProductView(productId: $id) { accepted queued reason } }"
PASSWORD = "correct-horse-battery-9"


def test_a_shopper_logged_in_by_session_is_tracked_as_themselves(tracking_executor):
    # Given a shopper who logged in through the API: the session cookie is all the client keeps
    shopper, product = make_user(), make_product()
    api = GraphQLClient(Client())
    assert api.data(LOGIN, {"u": shopper.username, "p": PASSWORD})["login"]["errors"] == []
    assert "sessionid" in api.client.cookies

    # When they view a product
    assert api.data(TRACK, {"id": global_id("Product", product.pk)})["trackProductView"]["accepted"]
    assert tracking_executor.flush(timeout=10)

    # Then the event is theirs
    assert list(ActivityEvent.objects.filter(product=product).values_list("user_id", flat=True)) == [shopper.pk]


def test_a_client_with_a_bearer_token_is_tracked_as_its_user(tracking_executor):
    shopper, product = make_user(), make_product()
    token = GraphQLClient(Client()).data(LOGIN, {"u": shopper.username, "p": PASSWORD})["login"]["token"]

    api = GraphQLClient(Client())  # no cookie: only the token says who this is
    receipt = api.data(TRACK, {"id": global_id("Product", product.pk)}, Authorization=f"Bearer {token}")
    assert receipt["trackProductView"]["accepted"]
    assert tracking_executor.flush(timeout=10)

    assert list(ActivityEvent.objects.filter(product=product).values_list("user_id", flat=True)) == [shopper.pk]


def test_an_anonymous_visitor_is_tracked_without_a_user(tracking_executor):
    product = make_product()
    assert GraphQLClient(Client()).data(TRACK, {"id": global_id("Product", product.pk)})["trackProductView"]["accepted"]
    assert tracking_executor.flush(timeout=10)
    assert list(ActivityEvent.objects.filter(product=product).values_list("user_id", flat=True)) == [None]


def test_during_an_outage_tracking_answers_accepting_known_products_and_refusing_unknown_ones(monkeypatch, settings):
    # Given a product a visitor viewed a moment ago, and one nobody has viewed
    settings.TRACKING_RATE_LIMIT = 0
    seen, unseen = make_product(), make_product()
    api = GraphQLClient(Client())
    assert api.data(TRACK, {"id": global_id("Product", seen.pk)})["trackProductView"]["accepted"]

    # When the database goes away
    async def unreachable(ids):
        raise refused_connection()

    monkeypatch.setattr(selectors, "_active_until", {pid: t - 60 for pid, t in selectors._active_until.items()})
    monkeypatch.setattr(selectors, "_active_ids", unreachable)

    # Then the known product is still tracked, and the unknown one is refused with a reason, not an error
    assert api.data(TRACK, {"id": global_id("Product", seen.pk)})["trackProductView"] == {
        "accepted": True,
        "queued": 1,
        "reason": None,
    }
    assert api.data(TRACK, {"id": global_id("Product", unseen.pk)})["trackProductView"] == {
        "accepted": False,
        "queued": 0,
        "reason": "DATABASE_UNAVAILABLE",
    }
