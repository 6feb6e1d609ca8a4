"""/metrics: what Prometheus sees (/healthz is in test_healthz.py).

Metric values live for the whole test process, so tests compare before and after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from graph import prometheus
from graph.prometheus import OperationNames, record_tracking_stats
from tests.factories import make_product
from tests.helpers import free_port
from tests.live_server import database_url_for_tests
from tracking.events import TrackingEvent
from tracking.executor import TrackingStats
from tracking.models import EventKind

pytestmark = pytest.mark.django_db

LIST_PRODUCTS = "query ListProducts { products(first: 1) { totalCount } }"
TRACKING_METRICS = [
    "tracking_events_enqueued_total",
    "tracking_events_processed_total",
    "tracking_events_dropped_total",
    "tracking_events_failed_total",
    "tracking_batch_retries_total",
    "tracking_queue_depth",
    "tracking_batch_duration_seconds",
]


def parse(text: str) -> dict[tuple, float]:
    """{(sample name, sorted label pairs): value}; raises if the text is not Prometheus format."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.content.decode())


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def post_operation(client, query: str, operation_name: str | None = None):
    body = {"query": query, "operationName": operation_name}
    return client.post("/graphql/", json.dumps(body), content_type="application/json")


@pytest.fixture(autouse=True)
def fresh_operation_names(monkeypatch):
    """Names other tests sent must not have used up the cap."""
    monkeypatch.setattr(prometheus, "operation_names", OperationNames())


# --- /metrics -------------------------------------------------------------------


def test_metrics_is_prometheus_text_with_the_tracking_metrics(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    parse(text)  # well-formed
    for name in TRACKING_METRICS:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_metrics_speak_openmetrics_when_the_scraper_asks(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


def test_metrics_follow_the_tracking_executor(client, tracking_executor):
    before = scrape(client)

    # The test's executor is paused: the events stay queued.
    tracking_executor.offer([TrackingEvent(kind=EventKind.VIEW, product_id=1) for _ in range(3)])
    after = scrape(client)

    enqueued = value(after, "tracking_events_enqueued_total") - value(before, "tracking_events_enqueued_total")
    assert enqueued == 3
    assert value(after, "tracking_queue_depth") == 3


def test_a_new_executor_neither_loses_nor_repeats_counts(client):
    class Executor:
        def __init__(self, enqueued: int) -> None:
            self.enqueued = enqueued

        def stats(self) -> TrackingStats:
            return TrackingStats(enqueued=self.enqueued)

    before = value(scrape(client), "tracking_events_enqueued_total")
    first, second = Executor(5), Executor(2)

    record_tracking_stats(first)
    record_tracking_stats(first)  # unchanged: nothing more
    record_tracking_stats(second)  # a fresh executor (swapped in, or after a fork) counts from zero

    assert value(scrape(client), "tracking_events_enqueued_total") - before == 7


@pytest.mark.django_db(transaction=True)
def test_every_tracking_batch_is_timed(client, tracking_executor):
    """Needs the executor's batch hook and GraphConfig.ready() registering the observer."""
    product = make_product()
    before = scrape(client)

    tracking_executor.offer([TrackingEvent(kind=EventKind.VIEW, product_id=product.pk) for _ in range(4)])
    assert tracking_executor.flush(timeout=10)

    deadline = time.monotonic() + 5  # the observer runs just after flush() is released
    while True:
        after = scrape(client)
        batches = value(after, "tracking_batch_duration_seconds_count") - value(
            before, "tracking_batch_duration_seconds_count"
        )
        if batches or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert batches >= 1
    processed = value(after, "tracking_events_processed_total") - value(before, "tracking_events_processed_total")
    assert processed == 4


def test_a_named_graphql_operation_is_counted_under_its_name(client):
    """Needs the OperationMetrics extension in graph.schema."""
    labels = {"operation": "ListProducts", "type": "query"}
    before = scrape(client)

    assert post_operation(client, LIST_PRODUCTS, "ListProducts").status_code == 200
    text = client.get("/metrics").content.decode()

    assert 'operation="ListProducts"' in text
    after = parse(text)
    assert value(after, "graphql_requests_total", **labels) - value(before, "graphql_requests_total", **labels) == 1
    count = "graphql_request_duration_seconds_count"
    assert value(after, count, **labels) - value(before, count, **labels) == 1


def test_unnamed_operations_count_as_anonymous_and_mutations_as_mutations(client):
    """Needs the OperationMetrics extension in graph.schema."""
    before = scrape(client)

    post_operation(client, "{ products(first: 1) { totalCount } }")
    post_operation(client, "mutation SignOut { logout { ok } }", "SignOut")
    after = scrape(client)

    for labels in ({"operation": "anonymous", "type": "query"}, {"operation": "SignOut", "type": "mutation"}):
        assert value(after, "graphql_requests_total", **labels) - value(before, "graphql_requests_total", **labels) == 1


def test_operation_names_are_truncated_and_capped():
    names = OperationNames(limit=2, max_length=64)

    assert names.label("A" * 100) == "A" * 64
    assert names.label("ListProducts") == "ListProducts"
    assert names.label("Third") == "other"  # the cap is reached
    assert names.label("ListProducts") == "ListProducts"  # names already seen keep their series
    assert names.label(None) == names.label("") == "anonymous"


# --- several processes ------------------------------------------------------------

RECORD_IN_A_WORKER = """
import sys
import django

django.setup()
from graph.prometheus import observe_tracking_batch, record_operation
from tracking.executor import TrackingStats

class Executor:
    def __init__(self, stats):
        self._stats = stats

    def stats(self):
        return self._stats

processed, depth, then = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
record_operation(name="ListProducts", operation_type="query", duration=0.02)
observe_tracking_batch(Executor(TrackingStats(processed=processed, queue_depth=depth)), processed, 0.05)
print("recorded", flush=True)
if then == "stay":
    sys.stdin.readline()
"""


def test_metrics_of_several_processes_add_up(client, tmp_path, monkeypatch):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}

    def worker(*args: str, **kwargs) -> subprocess.Popen:
        command = [sys.executable, "-c", RECORD_IN_A_WORKER, *args]
        return subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env, text=True, **kwargs)

    # Given a worker that recorded and exited, and one that recorded and still runs,
    gone = worker("3", "2", "exit", stdout=subprocess.DEVNULL)
    assert gone.wait(30) == 0
    alive = worker("4", "5", "stay", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert alive.stdout.readline().strip() == "recorded"

        # when this process answers /metrics in multiprocess mode,
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        samples = scrape(client)
    finally:
        alive.stdin.close()
        alive.wait(30)

    # then counts add up over both, the exited one included,
    assert value(samples, "tracking_events_processed_total") == 7
    assert value(samples, "graphql_requests_total", operation="ListProducts", type="query") == 2
    assert value(samples, "tracking_batch_duration_seconds_count") == 2
    # and states are those of the processes still running.
    assert value(samples, "tracking_queue_depth") == 5


@pytest.fixture
def two_worker_server(transactional_db, tmp_path):
    """``uvicorn --workers 2`` on the test database, in multiprocess mode."""
    directory = tmp_path / "prometheus"
    directory.mkdir()  # empty before the server starts, as it must be
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--workers", "2"]
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{url}/healthz"):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        yield url, directory
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _requests_per_worker(directory: Path) -> dict[str, float]:
    """ListProducts operations each worker process recorded, from its own file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)]):
            for s in metric.samples:
                if s.name == "graphql_requests_total" and s.labels.get("operation") == "ListProducts":
                    counts[path.stem.removeprefix("counter_")] = s.value
    return counts


def test_two_uvicorn_workers_report_every_request_whichever_answers(two_worker_server):
    """Needs the /metrics and /healthz routes and the OperationMetrics extension."""
    url, directory = two_worker_server
    body = json.dumps({"query": LIST_PRODUCTS, "operationName": "ListProducts"}).encode()

    def list_products(_) -> int:
        request = urllib.request.Request(f"{url}/graphql/", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    # Given requests until both workers have answered some (each request is a new connection),
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(_requests_per_worker(directory)) < 2 and sent < 400:
            assert set(pool.map(list_products, range(20))) == {200}
            sent += 20
    assert len(_requests_per_worker(directory)) == 2

    # every scrape, whichever worker answers it, counts all of them.
    for _ in range(6):
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            samples = parse(response.read().decode())
        assert value(samples, "graphql_requests_total", operation="ListProducts", type="query") == sent
