"""Fixtures the tracking stories share."""

from __future__ import annotations

import pytest

from tracking.executor import EventExecutor, current_executor, set_executor


@pytest.fixture
def install_executor():
    """``install_executor(**options)`` makes the process executor a fresh one for this test;
    the previous one comes back afterwards, and ours is stopped."""
    previous, installed = current_executor(), []

    def install(**options) -> EventExecutor:
        executor = EventExecutor(**{"batch_interval": 0.01, "retry_base_delay": 0.01, **options})
        installed.append(executor)
        set_executor(executor)
        return executor

    yield install
    set_executor(previous)
    for executor in installed:
        executor.shutdown(timeout=10)
