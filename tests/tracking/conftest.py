"""Fixtures the tracking stories share."""

from __future__ import annotations

import pytest

from tracking.appliers import InProcessApplier
from tracking.apply import apply_isolating
from tracking.executor import EventExecutor, current_executor, set_executor


@pytest.fixture
def install_executor():
    """``install_executor(**options)`` makes the process executor a fresh one for this test;
    the previous one comes back afterwards, and ours is stopped. Without an ``applier`` it
    writes in-process through ``write`` (default ``apply_isolating``), retrying quickly."""
    previous, installed = current_executor(), []

    def install(*, write=apply_isolating, max_retries=None, **options) -> EventExecutor:
        if "applier" not in options:
            options["applier"] = InProcessApplier(write=write, max_retries=max_retries, retry_base_delay=0.01)
        executor = EventExecutor(**{"batch_interval": 0.01, **options})
        installed.append(executor)
        set_executor(executor)
        return executor

    yield install
    set_executor(previous)
    for executor in installed:
        executor.shutdown(timeout=10)
