"""Accepted means counted, also when the database is away for a while.

A live server runs against a private PostgreSQL server (its own data directory and
port: the shared one is never stopped). Visitors keep tracking product views while the
database is stopped for 15 seconds in the middle of the burst and started again. The
story holds on whichever database the rest of the suite runs on: it brings its own.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from graph.ids import global_id
from tests.live_server import start_server, stop_server
from tests.tracking.helpers import ROOT, manage, wait_for
from tests.tracking.private_postgres import start_private_postgres

OUTAGE_SECONDS = 15.0
TRACK = 'mutation($id: ID!) { trackProductView(productId: $id, source: "outage") { accepted queued reason } }'
READ = "{ products(first: 1) { edges { node { id name } } } }"

SEED = """
from tests.factories import make_category, make_product, make_user
seller, category = make_user(), make_category()
print(",".join(str(make_product(seller=seller, category=category).pk) for _ in range(5)))
"""


def _env(database_url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    return {**clean, "DATABASE_URL": database_url}


def _prepare(database_url: str) -> list[int]:
    """Migrate the private database and create five products; their ids."""
    env = _env(database_url)
    subprocess.run(manage("migrate", "--noinput"), cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    seeded = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", SEED],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return [int(pid) for pid in seeded.stdout.strip().splitlines()[-1].split(",")]


def _counted(database_url: str) -> tuple[dict[int, int], int]:
    """Views per product and activity rows, read straight from the private database."""
    import psycopg

    conn = psycopg.connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT product_id, total_views FROM tracking_productmetrics")
            views = dict(cursor.fetchall())
            cursor.execute("SELECT COUNT(*) FROM tracking_activityevent WHERE source = 'outage'")
            rows = cursor.fetchone()[0]
        return views, rows
    finally:
        conn.close()


class Visitors:
    """Threads that track views until told to stop, and keep the receipts."""

    def __init__(self, url: str, product_ids: list[int], threads: int = 4) -> None:
        self.url, self.product_ids = url, product_ids
        self.accepted: Counter[int] = Counter()
        self.refused: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.accepted_during_outage = 0
        self.outage = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._visit, args=(n,)) for n in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _visit(self, n: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = n
            while not self._stop.is_set():
                pid = self.product_ids[i % len(self.product_ids)]
                i += 1
                body = {"query": TRACK, "variables": {"id": global_id("Product", pid)}}
                response = client.post(f"{self.url}/graphql/", json=body)
                with self._lock:
                    self._record(pid, response)
                time.sleep(0.005)

    def _record(self, pid: int, response: httpx.Response) -> None:
        payload = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code >= 500 or payload.get("errors") or not payload.get("data"):
            self.server_errors.append(f"{response.status_code}: {response.text[:200]}")
            return
        receipt = payload["data"]["trackProductView"]
        if receipt["accepted"]:
            self.accepted[pid] += 1
            if self.outage.is_set():
                self.accepted_during_outage += 1
        else:
            self.refused[receipt["reason"]] += 1


@pytest.fixture
def private_postgres(caplog):
    caplog.set_level(logging.WARNING, logger="httpx")  # one line per request otherwise
    server = start_private_postgres()
    yield server
    server.remove()


def test_a_database_outage_in_the_middle_of_a_burst_loses_no_accepted_event(private_postgres):
    # Given a live server on a private PostgreSQL, and visitors tracking five products
    product_ids = _prepare(private_postgres.url)
    env = {
        "DATABASE_URL": private_postgres.url,
        "TRACKING_RATE_LIMIT": "0",
        **{"DEBUG": "0", "SECRET_KEY": "outage-" * 8, "ALLOWED_HOSTS": "127.0.0.1"},  # errors masked as in production
    }
    server = start_server(env_overrides=env)
    visitors = Visitors(server.url, product_ids)
    try:
        visitors.start()
        time.sleep(3)

        # When the database stops for 15 seconds in the middle of the burst
        private_postgres.stop()
        visitors.outage.set()
        with httpx.Client(timeout=30) as client:
            time.sleep(2)
            health = client.get(f"{server.url}/healthz")
            read = client.post(f"{server.url}/graphql/", json={"query": READ})
            time.sleep(OUTAGE_SECONDS - 2)
            visitors.outage.clear()
            private_postgres.start()
            time.sleep(3)
            visitors.stop()

            # Then during the outage the health check said so and reads failed cleanly
            assert health.status_code == 503, health.text
            assert health.json()["status"] == "unavailable"
            assert read.status_code == 200, read.text
            assert [e["message"] for e in read.json()["errors"]] == ["Internal server error."]
            assert "Operational" not in read.text and "Traceback" not in read.text

            # and the server recovered by itself
            assert wait_for(lambda: client.get(f"{server.url}/healthz").status_code == 200, timeout=30)
            assert client.post(f"{server.url}/graphql/", json={"query": READ}).json().get("errors") is None

        # And once the queue drained, every accepted event is counted, exactly once
        accepted = sum(visitors.accepted.values())

        def counted_all() -> bool:
            views, rows = _counted(private_postgres.url)
            return rows >= accepted and sum(views.values()) >= accepted

        wait_for(counted_all, timeout=60, interval=0.5)
        views, rows = _counted(private_postgres.url)
        print(
            f"accepted {accepted} (during the outage {visitors.accepted_during_outage}),"
            f" refused {dict(visitors.refused)}, server errors {len(visitors.server_errors)};"
            f" counted {sum(views.values())} views and {rows} activity rows: lost {accepted - sum(views.values())}"
        )
        assert {pid: views.get(pid, 0) for pid in product_ids} == {pid: visitors.accepted[pid] for pid in product_ids}
        assert rows == accepted

        # and every tracking request was answered, none with a server error
        assert visitors.server_errors == [], visitors.server_errors[:5]
        assert visitors.accepted_during_outage > 0  # the outage was crossed by accepted events
    finally:
        visitors.stop()
        stop_server(server)
