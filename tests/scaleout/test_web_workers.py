"""Several web processes, each with its own executor, all writing to one database:
under concurrent load and a clean stop, the counters equal the accepted receipts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from graph.ids import global_id
from tests.factories import make_product
from tests.live_server import database_url_for_tests
from tests.scaleout.servers import free_port
from tracking.models import ProductMetrics

WORKERS = 4
CLIENTS = 8
REQUESTS_PER_CLIENT = 60
MUTATION = "mutation($id: ID!) { trackProductView(productId: $id) { accepted } }"


@pytest.fixture
def four_workers(transactional_db):
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="workers-", suffix=".log", delete=False)  # noqa: SIM115
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "DEBUG": "1",
        "TRACKING_RATE_LIMIT": "0",
        "TRACKING_BATCH_INTERVAL": "30",  # events are still queued when the stop comes
        "TRACKING_BATCH_SIZE": "100000",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    url = f"http://127.0.0.1:{port}/graphql/"
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if Path(log.name).read_text().count("Application startup complete") >= WORKERS:
            break
        time.sleep(0.2)
    yield url, process, Path(log.name)
    if process.poll() is None:
        process.kill()
        process.wait(10)


@pytest.mark.skipif(
    "postgres" not in settings.DATABASES["default"]["ENGINE"],
    reason="the multi-process production "
    "set-up is specified for PostgreSQL; SQLite is the single-process `make run` database",
)
def test_four_web_workers_under_load_then_a_clean_stop_count_every_accepted_view(four_workers):
    url, process, log_path = four_workers
    products = [make_product() for _ in range(10)]
    ids = [global_id("Product", p.pk) for p in products]
    accepted = [0] * CLIENTS

    def client(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            for i in range(REQUESTS_PER_CLIENT):
                body = {"query": MUTATION, "variables": {"id": ids[(n + i) % len(ids)]}}
                receipt = http.post(url, json=body).json()["data"]["trackProductView"]
                accepted[n] += receipt["accepted"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    log = log_path.read_text()
    serving_pids = {line.split("[")[1].split("]")[0] for line in log.splitlines() if "Started server process" in line}
    assert len(serving_pids) == WORKERS, log[-2000:]

    # Nothing has been applied yet: every event waits in one of the four queues
    assert sum(ProductMetrics.objects.filter(product__in=products).values_list("total_views", flat=True)) == 0

    process.send_signal(signal.SIGTERM)
    process.wait(60)
    log = log_path.read_text()
    views = sum(ProductMetrics.objects.filter(product__in=products).values_list("total_views", flat=True))
    assert views == sum(accepted) == CLIENTS * REQUESTS_PER_CLIENT, log[-3000:]
    assert log.count("queue drained") == WORKERS
