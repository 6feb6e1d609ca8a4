"""The committed ``schema.graphql`` is what the code serves.

Client developers, code generators and the graphql-js checks in ``test_conformance.py`` read
``schema.graphql`` from the repository. When a change to ``graph/`` alters the schema and the
file is not regenerated, they are all working against a schema that no longer exists.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
COMMITTED = BASE_DIR / "schema.graphql"


def test_the_committed_schema_matches_the_schema_the_code_serves(tmp_path):
    # Given the schema file in the repository
    committed = COMMITTED.read_text().strip()

    # When the schema is exported from the code, as `make schema` does
    exported_path = tmp_path / "schema.graphql"
    run = subprocess.run(
        [sys.executable, "manage.py", "export_schema", "graph.schema", "--path", str(exported_path)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, f"export_schema failed:\n{run.stdout}\n{run.stderr}"
    exported = exported_path.read_text().strip()

    # Then they are the same text (export_schema writes no trailing newline: compare stripped)
    diff = "\n".join(
        difflib.unified_diff(
            committed.splitlines(),
            exported.splitlines(),
            "schema.graphql (committed)",
            "exported from graph.schema",
            lineterm="",
        )
    )
    assert committed == exported, f"schema.graphql is out of date: run make schema (and commit it).\n{diff}"
