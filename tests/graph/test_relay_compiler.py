"""relay-compiler (the real one, pinned in package.json) compiles a storefront's Relay
documents against ``schema.graphql``: refetchable fragments on Node types, a ``@connection``
paged backward (``last``/``before``) and one paged forward, and ``node``/``nodes`` queries.
The documents live in ``tests/graph/js/relay/src``; each run compiles a copy in a
temporary directory, so the generated artefacts never land in the tree.

relay-compiler 21 is a native binary inside the npm package (no network at run time).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.live_server import require

BASE_DIR = Path(settings.BASE_DIR)
DOCUMENTS = Path(__file__).parent / "js" / "relay" / "src"
CLI = BASE_DIR / "node_modules" / "relay-compiler" / "cli.js"


@pytest.fixture
def relay_compiler(tmp_path):
    """Compiles the given {file name: source} documents against schema.graphql."""
    executable = shutil.which("node")
    require(executable is not None, "node is not installed (Node 20 or newer: apt-get install -y nodejs npm)")
    require(CLI.is_file(), f"node_modules/relay-compiler is missing: run `npm ci` in {BASE_DIR}")

    def compile_documents(documents: dict[str, str]) -> subprocess.CompletedProcess:
        src = tmp_path / "src"
        src.mkdir()
        for name, text in documents.items():
            (src / name).write_text(text)
        config = {"src": "./src", "schema": str(BASE_DIR / "schema.graphql"), "language": "javascript"}
        (tmp_path / "relay.config.json").write_text(json.dumps(config))
        return subprocess.run(
            [executable, str(CLI)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )

    return compile_documents


def storefront_documents() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(DOCUMENTS.glob("*.js"))}


def test_relay_compiler_compiles_the_storefronts_documents(relay_compiler, tmp_path):
    # Given refetchable fragments, connections paged both ways, and node queries
    documents = storefront_documents()
    assert {"ProductCard.js", "ProductList.js", "CategoryProducts.js", "NodeQuery.js"} <= set(documents)

    # When relay-compiler compiles them against the exported schema
    result = relay_compiler(documents)

    # Then it succeeds, and the refetch query goes through node(id:), the backward page
    # through last/before with Relay's own page info fields
    assert result.returncode == 0, result.stdout + result.stderr
    generated = tmp_path / "src" / "__generated__"
    refetch = (generated / "ProductCardRefetchQuery.graphql.js").read_text()
    assert "node(id: $id)" in refetch
    backward = (generated / "ProductListPaginationQuery.graphql.js").read_text()
    assert "products(last: $last, before: $before)" in backward
    assert "hasPreviousPage" in backward and "startCursor" in backward


def test_relay_compiler_refuses_a_refetchable_fragment_on_a_type_that_is_not_a_node(relay_compiler):
    # The same check that failed before Node existed: a Cart has no node(id:) to refetch through
    documents = storefront_documents()
    documents["CartSummary.js"] = (
        'import { graphql } from "react-relay";\n'
        "export const cart = graphql`\n"
        '  fragment CartSummary_cart on Cart @refetchable(queryName: "CartSummaryRefetchQuery") { totalQuantity }\n'
        "`;\n"
    )

    result = relay_compiler(documents)

    assert result.returncode != 0
    assert "CartSummary_cart" in result.stdout + result.stderr
