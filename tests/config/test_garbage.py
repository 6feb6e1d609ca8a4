"""The server process's garbage-collector tuning (config.garbage, applied by config.asgi)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from config.garbage import tune_garbage_collector


@pytest.fixture
def restored_collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_freezes_start_up_and_raises_the_young_threshold(restored_collector):
    assert tune_garbage_collector(50_000) is True
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() > 0


def test_zero_leaves_the_collector_alone(restored_collector):
    before = gc.get_threshold()
    assert tune_garbage_collector(0) is False
    assert gc.get_threshold() == before


@pytest.mark.parametrize(("setting", "expected"), [(None, 50_000), ("0", 700), ("12000", 12_000)])
def test_the_asgi_application_applies_the_setting(setting, expected):
    # A fresh interpreter, as a server worker starts: import the ASGI module, read the threshold
    env = {k: v for k, v in os.environ.items() if k != "GC_GEN0_THRESHOLD"}
    if setting is not None:
        env["GC_GEN0_THRESHOLD"] = setting
    code = "import gc, config.asgi; print(gc.get_threshold()[0])"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == expected
