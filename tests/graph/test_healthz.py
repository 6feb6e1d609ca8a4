"""/healthz: what a load balancer or an orchestrator sees, with and without its dependencies."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from graph import operator_views
from tests.helpers import free_port
from tests.live_server import require

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_the_database_answers(client, settings):
    settings.TRACKING_BACKEND = "inprocess"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_in_celery_mode_is_503_with_the_reason_when_redis_refuses(client, settings):
    settings.TRACKING_BACKEND = "celery"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once

    started = time.monotonic()
    response = client.get("/healthz")

    assert time.monotonic() - started < 2
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert "connecting to 127.0.0.1:1" in body["redis"]


@pytest.fixture
def redis_url():
    require(shutil.which("redis-server") is not None, "redis-server is not installed (apt-get install redis-server)")
    from redis import Redis

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with Redis.from_url(url, socket_connect_timeout=0.2) as redis:
                    redis.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_healthz_in_celery_mode_is_ok_when_redis_answers(client, settings, redis_url):
    settings.TRACKING_BACKEND = "celery"
    settings.REDIS_URL = redis_url

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_gives_up_on_a_hanging_database_within_two_seconds(client, settings, monkeypatch):
    # A database that never answers (a dropped packet, a full connection queue), simulated.
    settings.TRACKING_BACKEND = "inprocess"
    release = threading.Event()
    monkeypatch.setattr(operator_views, "check_database", lambda: release.wait(10))

    started = time.monotonic()
    try:
        response = client.get("/healthz")
    finally:
        release.set()

    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "no answer within 1.5 s"}
