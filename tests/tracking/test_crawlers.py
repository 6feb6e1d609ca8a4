"""Known crawlers' tracking calls are answered but counted nowhere public: only as
``botEvents`` in the tracking statistics (executor, every process's row, Prometheus)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from graph.ids import global_id
from marketplace.services.accounts import issue_token
from tests.factories import make_user
from tests.helpers import GraphQLClient
from tests.tracking.helpers import make_products
from tracking.crawlers import is_crawler
from tracking.models import ActivityEvent, ProductMetrics
from tracking.process_stats import ProcessIdentity, deployment_stats, publish
from tracking.prometheus import TRACKING_COUNTERS, record_tracking_stats
from tracking.stats import TrackingStats

pytestmark = pytest.mark.django_db(transaction=True)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_RENDERER = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/120.0.6099.216 Safari/537.36"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
VIEW = "mutation($id: ID!) { trackProductView(productId: $id) { accepted queued } }"
LISTING = "mutation($ids: [ID!]!) { trackListingView(productIds: $ids) { accepted queued } }"


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    settings.TRACKING_RATE_LIMIT = 0


def visitor(user_agent: str) -> GraphQLClient:
    return GraphQLClient(Client(HTTP_USER_AGENT=user_agent))


@pytest.mark.parametrize(
    ("user_agent", "crawler"),
    [
        (GOOGLEBOT, True),
        (GOOGLEBOT_RENDERER, True),
        (BINGBOT, True),
        (HEADLESS, True),
        (FIREFOX, False),
        (SAFARI_IPHONE, False),
        ("okhttp/4.12.0", False),  # an Android app's default: an HTTP library, not a crawler
        ("", False),
        (None, False),
    ],
)
def test_crawlers_are_known_by_the_maintained_list(user_agent, crawler):
    assert is_crawler(user_agent) is crawler


def test_crawler_views_are_answered_but_counted_only_as_bot_events(tracking_executor):
    # Given a product, and before any call the Prometheus counter's value
    products = make_products(3)
    pid = global_id("Product", products[0].pk)
    ids = [global_id("Product", p.pk) for p in products]
    record_tracking_stats(tracking_executor)
    bots_before = TRACKING_COUNTERS["bot_events"]._value.get()

    # When Googlebot and bingbot view it and list all three, and a browser views it once
    receipts = [
        visitor(GOOGLEBOT).data(VIEW, {"id": pid})["trackProductView"],
        visitor(BINGBOT).data(VIEW, {"id": pid})["trackProductView"],
        visitor(GOOGLEBOT_RENDERER).data(LISTING, {"ids": ids})["trackListingView"],
    ]
    browser = visitor(FIREFOX).data(VIEW, {"id": pid})["trackProductView"]
    assert tracking_executor.flush()

    # Then the crawlers were answered without anything queued, and only the browser counted
    assert receipts == [{"accepted": True, "queued": 0}] * 3
    assert browser == {"accepted": True, "queued": 1}
    metrics = ProductMetrics.objects.get(product=products[0])
    assert (metrics.total_views, metrics.total_impressions, metrics.trending_score > 0) == (1, 0, True)
    assert ActivityEvent.objects.count() == 1
    assert sum(ProductMetrics.objects.values_list("total_impressions", flat=True)) == 0

    # And the statistics count the 5 crawler events, in the executor and in Prometheus
    stats = tracking_executor.stats()
    assert (stats.bot_events, stats.enqueued) == (5, 1)
    record_tracking_stats(tracking_executor)
    assert TRACKING_COUNTERS["bot_events"]._value.get() - bots_before == 5


def test_tracking_status_sums_bot_events_over_every_process(tracking_executor):
    # Given another process that published 7 crawler events, and this one that saw 1
    publish(TrackingStats(bot_events=7), ProcessIdentity(host="web-2", pid=202, started_at=timezone.now()))
    [product] = make_products(1)
    visitor(BINGBOT).data(VIEW, {"id": global_id("Product", product.pk)})

    # When staff ask for the tracking status
    token, _ = issue_token(user=make_user(is_staff=True), name="ops")
    status = GraphQLClient(Client()).data(
        "{ trackingStatus { botEvents processes { host botEvents } } }", Authorization=f"Bearer {token}"
    )["trackingStatus"]

    # Then the deployment's figure is the sum, and each process shows its own
    assert status["botEvents"] == 8
    assert sorted(p["botEvents"] for p in status["processes"]) == [1, 7]
    assert deployment_stats(own=tracking_executor.stats()).totals.bot_events == 8
