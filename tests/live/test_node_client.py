"""The graphql-ws npm client (browsers, Apollo, urql use it) against the live server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from graph.ids import global_id
from tests.factories import make_product
from tests.live_server import require

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = Path(__file__).parent / "js" / "subscribe.mjs"


def test_graphql_ws_client_receives_the_totals_a_query_returns(live_api):
    node = shutil.which("node")
    require(node is not None, "node is not installed (Node 20 or newer)")
    require(
        (Path(settings.BASE_DIR) / "node_modules" / "graphql-ws" / "package.json").is_file(),
        "node_modules/graphql-ws is missing: run `npm ci`",
    )
    pid, probe = global_id("Product", make_product().pk), global_id("Product", make_product().pk)
    run = subprocess.run(
        [node, "--experimental-websocket", str(SCRIPT), live_api.url, pid, probe],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["queried"] == 3
    assert result["received"][-1] == result["queried"]
