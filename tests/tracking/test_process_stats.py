"""``trackingStatus`` and ``test_async_tracking --status`` cover every server process of the deployment.

Each server process publishes its executor's figures to the database (``tracking.process_stats``);
readers sum the rows that are fresh. The first stories publish by hand under made-up process
identities; the last ones run two real uvicorn servers on the test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from graph.ids import global_id
from marketplace.services.accounts import issue_token
from tests.factories import make_category, make_product, make_user
from tests.helpers import GraphQLClient, error_codes
from tests.live_server import database_url_for_tests
from tests.tracking.helpers import wait_for
from tracking.models import ProcessStats
from tracking.process_stats import ProcessIdentity, deployment_stats, publish, this_process
from tracking.stats import TrackingStats
from tracking.tracker import listing_view

STATUS = "{ trackingStatus { enqueued processed dropped queueDepth lastBatchSize processes { host pid enqueued } } }"


def identity(pid: int, host: str = "web-1") -> ProcessIdentity:
    return ProcessIdentity(host=host, pid=pid, started_at=timezone.now())


def logged_in(**extra) -> GraphQLClient:
    client = Client()
    client.force_login(make_user(**extra))
    return GraphQLClient(client)


# --- the aggregate ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_aggregate_is_the_sum_of_every_process_that_published():
    # Given two server processes that published their figures
    publish(TrackingStats(enqueued=10, processed=7, dropped=1, queue_depth=3, last_batch_size=5), identity(101))
    publish(TrackingStats(enqueued=4, processed=4, dropped=0, queue_depth=0, last_batch_size=9), identity(202))

    # When a reader sums the deployment
    deployment = deployment_stats()

    # Then counts and queue depths add up; last-batch figures are the largest of any process
    assert [(p.host, p.pid) for p in deployment.processes] == [("web-1", 101), ("web-1", 202)]
    totals = deployment.totals
    assert (totals.enqueued, totals.processed, totals.dropped, totals.queue_depth) == (14, 11, 1, 3)
    assert totals.last_batch_size == 9


@pytest.mark.django_db
def test_a_process_publishing_again_replaces_its_row():
    publish(TrackingStats(enqueued=1), identity(101))
    publish(TrackingStats(enqueued=5), identity(101))

    assert ProcessStats.objects.count() == 1
    assert deployment_stats().totals.enqueued == 5


@pytest.mark.django_db
def test_a_process_that_stopped_publishing_drops_out_after_the_stale_window(settings):
    # Given two processes, one of which last published a minute ago (it died)
    settings.TRACKING_STATS_STALE_AFTER = 30
    publish(TrackingStats(enqueued=10), identity(101))
    publish(TrackingStats(enqueued=4), identity(202))
    ProcessStats.objects.filter(pid=101).update(updated_at=timezone.now() - timedelta(seconds=60))

    # Then only the live one counts
    deployment = deployment_stats()
    assert [p.pid for p in deployment.processes] == [202]
    assert deployment.totals.enqueued == 4


# --- trackingStatus -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_shopper_gets_their_data_and_a_null_tracking_status_with_forbidden():
    # Given a logged-in shopper (not staff)
    shopper = logged_in(username="shopper")

    # When they ask for their name and the tracking status in one query
    result = shopper("{ me { username } trackingStatus { enqueued } }")

    # Then they get their data; only trackingStatus is null, with a FORBIDDEN error on its path
    assert result["data"] == {"me": {"username": "shopper"}, "trackingStatus": None}
    assert error_codes(result) == ["FORBIDDEN"]
    assert result["errors"][0]["path"] == ["trackingStatus"]


@pytest.mark.django_db
def test_an_anonymous_visitor_gets_null_with_unauthenticated():
    result = GraphQLClient(Client())("{ trackingStatus { enqueued } }")
    assert result["data"] == {"trackingStatus": None}
    assert error_codes(result) == ["UNAUTHENTICATED"]


@pytest.mark.django_db
def test_staff_see_the_answering_process_live_plus_every_other_that_published(tracking_executor):
    # Given another server process that published, and this process's executor with 3 events queued
    publish(TrackingStats(enqueued=10, processed=8, dropped=2), identity(4242, host="web-2"))
    seller, category = make_user(), make_category()
    products = [make_product(seller=seller, category=category).pk for _ in range(3)]
    assert tracking_executor.offer(listing_view(products))  # paused here: queued, never applied

    # When staff ask for the tracking status
    status = logged_in(is_staff=True).data(STATUS)["trackingStatus"]

    # Then the answering process comes first with its live figures, and the totals are the sum
    me = this_process()
    assert status["processes"] == [
        {"host": me.host, "pid": me.pid, "enqueued": 3},
        {"host": "web-2", "pid": 4242, "enqueued": 10},
    ]
    assert (status["enqueued"], status["processed"], status["dropped"]) == (13, 8, 2)
    assert status["queueDepth"] == 3


# --- test_async_tracking --status ---------------------------------------------------------


@pytest.mark.django_db
def test_status_says_clearly_when_no_server_has_reported():
    with pytest.raises(CommandError, match="No server has reported tracking statistics") as failure:
        call_command("test_async_tracking", "--status", stdout=StringIO())
    assert failure.value.returncode == 1


@pytest.mark.django_db
def test_status_prints_the_published_figures_not_its_own_executor():
    publish(TrackingStats(enqueued=10, processed=9), identity(101))
    publish(TrackingStats(enqueued=5, processed=5), identity(202, host="web-2"))

    out = StringIO()
    call_command("test_async_tracking", "--status", stdout=out)
    lines = out.getvalue().splitlines()

    assert lines[0] == "Tracking statistics of 2 server processes:"
    figures = dict(line.split() for line in lines[1:] if len(line.split()) == 2)
    assert (figures["enqueued"], figures["processed"]) == ("15", "14")
    assert any(line.startswith("  web-1:101 ") and "enqueued 10" in line for line in lines)
    assert any(line.startswith("  web-2:202 ") and "enqueued 5" in line for line in lines)


# --- two real servers ---------------------------------------------------------------------


def run_status(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "test_async_tracking", "--status"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url_for_tests(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_live_servers_publish_and_each_reports_the_sum(live_api_factory):
    # Given a staff token and a product, and two server processes on one database, publishing often
    staff_token, _ = issue_token(user=make_user(is_staff=True), name="ops")
    product = make_product(seller=make_user(), category=make_category())
    fast = {"TRACKING_STATS_INTERVAL": "0.2", "TRACKING_RATE_LIMIT": "0"}
    first, second = live_api_factory(**fast), live_api_factory(**fast)

    # When shoppers view the product 3 times on the first server and 2 times on the second
    view = "mutation($id: ID!) { trackProductView(productId: $id) { accepted } }"
    variables = {"id": global_id("Product", product.pk)}
    for server, times in ((first, 3), (second, 2)):
        for _ in range(times):
            response = httpx.post(server.graphql_url, json={"query": view, "variables": variables})
            assert response.json()["data"]["trackProductView"]["accepted"] is True

    def status_from(server) -> dict:
        response = httpx.post(
            server.graphql_url, json={"query": STATUS}, headers={"Authorization": f"Bearer {staff_token}"}
        )
        return response.json()["data"]["trackingStatus"]

    # Then either server reports both processes, and the totals are their sum
    pids = {first.process.pid: 3, second.process.pid: 2}
    assert wait_for(lambda: {p["pid"]: p["enqueued"] for p in status_from(first)["processes"]} == pids, timeout=20)
    status = status_from(second)
    assert {p["pid"]: p["enqueued"] for p in status["processes"]} == pids
    assert status["enqueued"] == 5

    # And the command prints the servers' figures, not zeros of its own
    result = run_status()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Tracking statistics of 2 server processes:" in result.stdout
    assert dict(line.split() for line in result.stdout.splitlines() if len(line.split()) == 2)["enqueued"] == "5"
    for pid, enqueued in pids.items():
        assert f":{pid} (reported " in result.stdout and f"enqueued {enqueued} " in result.stdout

    # When the second server dies without a clean shutdown (its row stays behind)
    second.process.send_signal(signal.SIGKILL)
    second.process.wait(timeout=10)

    # Then once its row is older than the stale window it drops out of the sum
    assert wait_for(lambda: len(ProcessStats.objects.filter(pid=second.process.pid)) == 1, timeout=5)
    assert wait_for(lambda: "of 1 server process:" in run_status(TRACKING_STATS_STALE_AFTER="1").stdout, timeout=20)
    assert f":{second.process.pid} (reported" not in run_status(TRACKING_STATS_STALE_AFTER="1").stdout

    # And a server that stops cleanly withdraws its row at once
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=20)
    assert not ProcessStats.objects.filter(pid=first.process.pid).exists()
