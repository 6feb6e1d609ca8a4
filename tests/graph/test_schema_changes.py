"""Breaking schema changes are deliberate: each one is named in CHANGELOG.md.

``schema.baseline.graphql`` is the schema of the last release. graphql-inspector (npm, through
``tools/schema_changes.mjs``) lists what changed between it and the schema the code serves; a
breaking change must be named in backticks under "## Unreleased" -> "### Breaking", where
client developers read what they have to change. ``make schema`` runs the same script against
the committed ``schema.graphql``. Without node or node_modules these tests skip, except under CI=true.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from graph.schema import schema
from tests.live_server import require

BASE_DIR = Path(settings.BASE_DIR)
SCRIPT = BASE_DIR / "tools" / "schema_changes.mjs"
BASELINE = BASE_DIR / "schema.baseline.graphql"
CHANGELOG = BASE_DIR / "CHANGELOG.md"


@pytest.fixture
def schema_changes():
    """``schema_changes(old_sdl, new_sdl, changelog_text)`` -> (exit status, the script's JSON report)."""
    executable = shutil.which("node")
    require(executable is not None, "node is not installed (Node 20 or newer: apt-get install -y nodejs npm)")
    require(
        (BASE_DIR / "node_modules" / "@graphql-inspector" / "core" / "package.json").is_file(),
        f"node_modules/@graphql-inspector is missing: run `npm ci` in {BASE_DIR}",
    )

    def run(old: str, new: str, changelog: str, tmp_path: Path) -> tuple[int, dict]:
        paths = {name: tmp_path / name for name in ("old.graphql", "new.graphql", "CHANGELOG.md")}
        for path, text in zip(paths.values(), (old, new, changelog), strict=True):
            path.write_text(text)
        done = subprocess.run(
            [executable, str(SCRIPT), *map(str, paths.values()), "--json"],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode in (0, 1), f"the schema check did not run:\n{done.stdout}\n{done.stderr}"
        return done.returncode, json.loads(done.stdout)

    return run


def _without_field(sdl: str, type_name: str, field: str) -> str:
    """``sdl`` with one field of one object type left out (as a careless refactoring would)."""
    body = re.search(rf"^type {type_name}\b[^{{]*{{\n(.*?)^}}", sdl, re.M | re.S)
    assert body, f"type {type_name} not found"
    kept = re.sub(rf"^  {field}(\(|:).*\n", "", body.group(1), count=1, flags=re.M)
    assert kept != body.group(1), f"{type_name}.{field} not found"
    return sdl[: body.start(1)] + kept + sdl[body.end(1) :]


def test_every_breaking_change_since_the_last_release_is_in_the_changelog(schema_changes, tmp_path):
    # Given the last release's schema and the schema the code serves now
    # When graphql-inspector compares them
    status, report = schema_changes(BASELINE.read_text(), schema.as_str(), CHANGELOG.read_text(), tmp_path)

    # Then every breaking change is named under Unreleased -> Breaking
    missing = "\n".join(f"  `{c['path']}`: {c['message']}" for c in report["unacknowledged"])
    assert status == 0 and not missing, f"add these to CHANGELOG.md (## Unreleased, ### Breaking):\n{missing}"


def test_a_removed_field_is_a_breaking_change_until_the_changelog_names_it(schema_changes, tmp_path):
    # Given the current schema, and a copy that loses Category.name
    current = schema.as_str()
    careless = _without_field(current, "Category", "name")
    changelog = CHANGELOG.read_text()
    assert "`Category.name`" not in changelog

    # When the check compares them with the project's changelog, it refuses the change
    status, report = schema_changes(current, careless, changelog, tmp_path)
    assert status == 1
    assert [(c["level"], c["path"]) for c in report["unacknowledged"]] == [("BREAKING", "Category.name")]

    # And a mention outside "### Breaking" does not count
    added = changelog.replace("### Added\n", "### Added\n- `Category.name` is gone.\n", 1)
    assert schema_changes(current, careless, added, tmp_path)[0] == 1

    # But once "### Breaking" names it, the same change passes
    acknowledged = changelog.replace("### Breaking\n", "### Breaking\n- `Category.name` is gone.\n", 1)
    status, report = schema_changes(current, careless, acknowledged, tmp_path)
    assert status == 0 and report["unacknowledged"] == []
    assert ("BREAKING", "Category.name") in [(c["level"], c["path"]) for c in report["changes"]]


def test_a_new_field_is_not_breaking(schema_changes, tmp_path):
    # Given a schema that gains a field (the reverse of the removal above)
    current = schema.as_str()
    status, report = schema_changes(_without_field(current, "Category", "name"), current, "", tmp_path)
    # Then it passes with no changelog at all, and is listed as a non-breaking change
    assert status == 0
    assert [(c["level"], c["path"]) for c in report["changes"]] == [("NON_BREAKING", "Category.name")]
