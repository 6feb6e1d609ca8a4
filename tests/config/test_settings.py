"""A wrong setting is one clear line naming the variable, not a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_without_a_secret_key_refuses_to_start():
    result = run_manage("check", DEBUG="0")
    assert result.returncode == 2
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_non_boolean_debug_names_the_variable():
    result = run_manage("check", DEBUG="maybe")
    assert result.returncode == 2
    assert "DEBUG='maybe' is not a boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_tracking_number_names_the_variable():
    result = run_manage("check", TRACKING_QUEUE_SIZE="lots")
    assert result.returncode == 2
    assert "TRACKING_QUEUE_SIZE='lots' is not an integer" in result.stderr


def test_an_unsupported_database_url_is_refused_clearly():
    result = run_manage("check", DATABASE_URL="mysql://u:p@localhost/db")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "supported are sqlite" in result.stderr


def test_production_settings_start_with_a_key():
    result = run_manage("check", DEBUG="0", SECRET_KEY="x" * 60, ALLOWED_HOSTS="api.example.com")
    assert result.returncode == 0, result.stderr


def test_a_django_warning_is_logged_once_in_development():
    # Django's default console handler would print it a second time next to ours
    script = "import logging; logging.getLogger('django.request').warning('Bad Request: /marker/')"
    result = run_manage("shell", "-c", script, DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Bad Request: /marker/") == 1, result.stderr


def test_postgres_gets_a_bounded_pool_from_the_environment():
    # settings only: nothing connects, so this runs on any machine
    script = (
        "import json; from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps({'pool': d['OPTIONS']['pool'], 'age': d['CONN_MAX_AGE'], 'engine': d['ENGINE']}))"
    )
    result = run_manage(
        "shell",
        "-c",
        script,
        DATABASE_URL="postgres://u:p@db.invalid:5432/shop",
        DB_POOL_MIN_SIZE="3",
        DB_POOL_MAX_SIZE="7",
        DB_POOL_TIMEOUT="4.5",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "pool": {"min_size": 3, "max_size": 7, "timeout": 4.5},
        "age": 0,  # the pool keeps connections: Django's persistent connections must be off
        "engine": "django.db.backends.postgresql",
    }


def test_a_pool_minimum_above_its_maximum_is_refused_clearly():
    result = run_manage("check", DB_POOL_MIN_SIZE="20", DB_POOL_MAX_SIZE="5")
    assert result.returncode == 2
    assert "DB_POOL_MIN_SIZE=20 is larger than DB_POOL_MAX_SIZE=5" in result.stderr
