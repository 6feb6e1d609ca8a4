import os

import pytest

from tests.helpers import is_postgres
from tracking.executor import EventExecutor, set_executor

pytest_plugins = ["tests.live_server"]

# The benchmarks' scratch space: databases, and the older tree that bench_drain_before checks
# out (with a tests/ of its own, which must not be collected as this one's).
collect_ignore = ["benchmarks/work"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; the production hasher is slow on purpose (~0.3 s each)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class PausedExecutor(EventExecutor):
    """Queues and counts, never applies: for tests whose data lives in a transaction
    that a worker thread could not see (and would wait on, on SQLite)."""

    def _ensure_started(self) -> None:
        pass


@pytest.fixture(autouse=True)
def tracking_executor(request):
    """A fresh tracking executor per test, so that no test's events reach another.

    Tests on committed data (``transaction=True``, live servers) get real workers,
    drained at teardown; the others get a paused executor."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_api", "live_server"} & set(request.fixturenames)
    )
    from tracking import selectors

    selectors._active_until.clear()  # ids are reused across tests on SQLite
    selectors._database_away_until = 0.0
    if not transactional:
        # The product check runs in a thread of its own (tracking.selectors), which cannot
        # see a test's uncommitted rows: here it reads in the request's thread instead.
        original = selectors._active_ids
        selectors._active_ids = _active_ids_in_request_thread
    executor = EventExecutor(batch_interval=0.02) if transactional else PausedExecutor()
    previous = set_executor(executor)
    yield executor
    if transactional:
        executor.shutdown(timeout=10)
    else:
        selectors._active_ids = original
    set_executor(previous)


async def _active_ids_in_request_thread(ids: list[int]) -> set[int]:
    """The product check on the test's own connection (and in its transaction)."""
    from asgiref.sync import sync_to_async

    from marketplace.models import Product

    active = Product.objects.filter(id__in=ids, is_active=True).values_list("id", flat=True)
    return await sync_to_async(set)(active)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit windows live in memory and the cache; no test inherits another's."""
    from django.core.cache import cache

    from marketplace import ratelimit

    cache.clear()
    ratelimit.reset()
    yield
    cache.clear()
    ratelimit.reset()


@pytest.fixture
def on_postgres() -> bool:
    return is_postgres()


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL", "")
    return f"database: {'PostgreSQL' if url.startswith('postgres') else 'SQLite'}"
