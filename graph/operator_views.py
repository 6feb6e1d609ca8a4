"""Operations endpoints: ``/healthz`` for load balancers and orchestrators, ``/metrics``
for Prometheus. Neither needs a login; expose them to your own network only."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from graph.prometheus import exposition, record_tracking_stats

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 1.5  # seconds each dependency gets; the checks run side by side
REASON_MAX_LENGTH = 200

# Checks block (a connect to an unreachable host can take minutes): they run on a pool of
# their own, so that a stuck one never occupies threads the requests need; beyond it,
# further checks wait in its queue and time out, which is the right answer then.
_check_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")


def check_database() -> None:
    """``SELECT 1`` on a fresh connection, closed afterwards: proves a new connection can
    be made now, and leaves none behind in the check's thread."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def check_redis() -> None:
    """PING the broker (``TRACKING_BACKEND=celery`` only)."""
    from redis import Redis

    url = getattr(settings, "REDIS_URL", "redis://127.0.0.1:6379/0")
    with Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
        client.ping()


def _checks() -> dict:
    checks = {"database": check_database}
    if getattr(settings, "TRACKING_BACKEND", "inprocess") == "celery":
        checks["redis"] = check_redis
    return checks


async def _run_check(check) -> str:
    """Run one check on the pool: "ok", or why not, in one short line."""
    try:
        await asyncio.wait_for(asyncio.wrap_future(_check_pool.submit(check)), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        logger.warning("Health check %s failed: %s", check.__name__, exc)
        lines = str(exc).strip().splitlines()
        return (lines[0] if lines else type(exc).__name__)[:REASON_MAX_LENGTH]
    return "ok"


@never_cache
@require_safe
async def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok", "database": "ok"}`` (and ``"redis"`` in celery mode) when every
    dependency answers; 503 with ``"status": "unavailable"`` and each failure's reason
    otherwise. Answers within ``CHECK_TIMEOUT`` (plus a little), whatever hangs."""
    checks = _checks()
    results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
    body = dict(zip(checks, results, strict=True))
    healthy = all(result == "ok" for result in results)
    return JsonResponse({"status": "ok" if healthy else "unavailable", **body}, status=200 if healthy else 503)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (OpenMetrics when the scraper asks for it)."""
    record_tracking_stats()  # this process's figures as of now; other workers' are at most ~1 s old
    body, content_type = exposition(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)
