"""``make run`` installs only what the server needs and starts without npm; ``make test`` has it all.

Checked with ``make -n -B`` (print every command as if nothing were installed, run none of them),
so the story holds on a fresh clone without installing anything here.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from django.conf import settings

from tests.live_server import require


def dry_run(*args: str) -> list[str]:
    require(shutil.which("make") is not None, "make is missing: apt-get install -y make")
    # As a person runs it: not the parent make's flags and level (under `make test` a nested
    # make prints "Entering/Leaving directory" lines around its commands).
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line and "--upgrade pip" not in line]


def test_make_run_installs_the_server_without_the_test_and_bench_extras():
    installs = pip_installs(dry_run("run"))

    assert installs == [".venv/bin/python -m pip install --quiet -c constraints.txt -e ."]


def test_make_test_still_installs_the_test_tools_and_the_npm_packages():
    lines = dry_run("test")

    assert '.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"' in pip_installs(lines)
    assert any(line.startswith("npm ci") for line in lines)


def test_make_run_goes_on_without_npm_and_says_what_graphiql_needs():
    lines = dry_run("run", "NPM=no-such-npm-here")

    assert not any(line.startswith("no-such-npm-here ci") for line in lines)
    assert any("npm not found: the API runs" in line for line in lines)
    assert lines[-1].startswith(".venv/bin/python -m uvicorn config.asgi:application")


def test_make_run_collects_the_static_files_the_admin_needs():
    assert ".venv/bin/python manage.py collectstatic --noinput --verbosity 0" in dry_run("run")
