import os

import pytest
from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def on_postgres() -> bool:
    return is_postgres()


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL", "")
    return f"database: {'PostgreSQL' if url.startswith('postgres') else 'SQLite'}"
