"""Helpers for the tracking stories: catalogues, child processes on the test database, racing threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

from marketplace.models import Product
from tests.factories import make_category, make_product, make_user
from tests.live_server import database_url_for_tests

ROOT = Path(__file__).resolve().parents[2]


def make_products(count: int) -> list[Product]:
    """``count`` products of one seller in one category (a user per product would hash a password each)."""
    seller, category = make_user(), make_category()
    return [make_product(seller=seller, category=category) for _ in range(count)]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must use this test's database."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    return {**clean, "DATABASE_URL": database_url_for_tests(), **extra}


def manage(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def run_manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``manage.py`` in a child process against the test database; the real exit code comes back.

    The calling test needs ``django_db(transaction=True)``: the child sees committed rows only.
    """
    return subprocess.run(manage(*args), cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds passed; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_in_threads(tasks: list[Callable[[], object]]) -> list[BaseException]:
    """Start every task at the same moment, each in its own thread; return the exceptions they raised.

    Each thread closes its database connection at the end, as a worker must:
    Django opens one per thread, and a leaked one keeps the test database busy.
    """
    barrier = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def worker(task: Callable[[], object]) -> None:
        try:
            barrier.wait()
            task()
        except BaseException as exc:  # collected here, asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread is stuck"
    return errors
