"""Our API as the reference tools see it, and as client code written against it sees it.

- graphql-http's audit: does ``/graphql/`` speak GraphQL over HTTP the way clients expect?
- graphql-js (the reference implementation): is ``schema.graphql`` a valid schema, and do the
  documents a storefront would send (``tests/graph/documents/``) validate against it?
- and do those same documents run against the API and return what the page needs?

The node scripts live in ``tests/graph/js/`` and import from the project's ``node_modules``
(``npm ci``). Without node or node_modules the node tests skip, except under CI=true.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import make_category, make_image, make_product, make_review, make_user
from tests.live_server import require

BASE_DIR = Path(settings.BASE_DIR)
JS_DIR = Path(__file__).parent / "js"
DOCUMENTS = Path(__file__).parent / "documents"
SCHEMA = BASE_DIR / "schema.graphql"
CLIENT_DOCUMENTS = {"storefront_listing", "categories_tree", "product_page", "search_listing"}


@pytest.fixture
def node():
    """Runs one of our node scripts from the project root: ``node("audit.mjs", url)``."""
    executable = shutil.which("node")
    require(executable is not None, "node is not installed (Node 20 or newer: apt-get install -y nodejs npm)")
    for package in ("graphql", "graphql-http"):
        require(
            (BASE_DIR / "node_modules" / package / "package.json").is_file(),
            f"node_modules/{package} is missing: run `npm ci` in {BASE_DIR}",
        )

    def run(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [executable, str(JS_DIR / script), *args],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def _summary(results: list[dict]) -> str:
    lines = []
    for r in results:
        line = f"  [{r['status']}] {r['id']} {r['name']}: {r.get('reason', '')}"
        response = r.get("response")
        if response:
            line += f"\n      got HTTP {response['status']} {response['contentType']}: {response['body'][:200]}"
        lines.append(line)
    return "\n".join(lines)


# --- GraphQL over HTTP ----------------------------------------------------------------------


def test_the_endpoint_passes_the_graphql_over_http_audit(node, live_api):
    # Given the API served by uvicorn, as in production
    # When graphql-http's audit sends its requests (GET and POST, odd media types, bad bodies)
    run = node("audit.mjs", live_api.graphql_url)
    assert run.returncode == 0, f"the audit did not run:\n{run.stderr}\n{live_api.log()[-3000:]}"
    results = json.loads(run.stdout)

    # Then no MUST of the spec is broken; SHOULDs it misses are reported as warnings
    errors = [r for r in results if r["status"] == "error"]
    warnings = [r for r in results if r["status"] == "warn"]
    notices = [r for r in results if r["status"] == "notice"]
    report = (
        f"{len(results)} audits: {len(results) - len(errors) - len(warnings) - len(notices)} ok, "
        f"{len(errors)} errors, {len(warnings)} warnings, {len(notices)} notices"
    )
    print(report)
    if warnings or notices:
        print("warnings and notices:\n" + _summary(warnings + notices))
    assert len(results) > 20, f"the audit ran suspiciously few rules: {report}"
    assert errors == [], f"{report}\nerrors:\n{_summary(errors)}\nwarnings:\n{_summary(warnings)}"


# --- graphql-js: the schema and the client documents ---------------------------------------


def test_the_reference_implementation_accepts_our_schema_and_every_client_document(node):
    # Given the committed schema and the documents a storefront sends
    assert {p.stem for p in DOCUMENTS.glob("*.graphql")} >= CLIENT_DOCUMENTS

    # When graphql-js builds the schema and validates every document against it
    run = node("validate.mjs", str(SCHEMA), str(DOCUMENTS))

    # Then it finds nothing wrong with either
    assert run.stderr == "", run.stderr
    report = json.loads(run.stdout)
    assert report["schemaErrors"] == [], f"graphql-js rejects schema.graphql: {report['schemaErrors']}"
    invalid = {Path(path).name: errors for path, errors in report["documents"].items() if errors}
    assert invalid == {}, f"client documents that do not validate against schema.graphql: {invalid}"
    assert {Path(path).stem for path in report["documents"]} >= CLIENT_DOCUMENTS
    assert run.returncode == 0


def test_the_validator_reports_a_document_that_asks_for_an_unknown_field(node, tmp_path):
    # Given a client document asking for a field the schema does not have (the negative control:
    # proves the previous test can fail)
    (tmp_path / "typo.graphql").write_text("{ products(first: 1) { edges { node { name colour } } } }")

    # When graphql-js validates it
    run = node("validate.mjs", str(SCHEMA), str(tmp_path))

    # Then the script fails and names the field
    assert run.returncode == 1, run.stdout + run.stderr
    errors = json.loads(run.stdout)["documents"][str(tmp_path / "typo.graphql")]
    assert errors == ['Cannot query field "colour" on type "Product". (line 1, column 44)'], errors


# --- the same documents, run against the API -----------------------------------------------


@pytest.fixture
def shop(db):
    """A small shop: Home > Kitchen, one mug in stock with an image and a review, one sold-out teapot."""
    home = make_category("Home", slug="home")
    kitchen = make_category("Kitchen", parent=home, slug="kitchen")
    seller = make_user("potter", first_name="Ada", last_name="Potter")
    mug = make_product(name="Stoneware mug", slug="stoneware-mug", category=kitchen, seller=seller, price="18.00")
    make_image(mug)
    make_review(mug, rating=4)
    make_product(name="Cast iron teapot", slug="cast-iron-teapot", category=kitchen, price="65.00", stock=0)
    return {"home": home, "kitchen": kitchen, "mug": mug}


def run_document(gql, name: str, variables: dict | None = None) -> dict:
    return gql.data((DOCUMENTS / f"{name}.graphql").read_text(), variables)


def test_the_storefront_listing_shows_every_product_card(gql, shop):
    products = run_document(gql, "storefront_listing")["products"]
    assert products["totalCount"] == 2
    mug = next(e["node"] for e in products["edges"] if e["node"]["slug"] == "stoneware-mug")
    assert mug["category"] == {"name": "Kitchen", "slug": "kitchen", "parent": {"name": "Home"}}
    assert mug["seller"]["displayName"] == "Ada Potter"
    assert mug["rating"] == {"average": 4.0, "count": 1}
    assert mug["images"] == [{"url": f"https://img.example.com/{shop['mug'].pk}/0.jpg", "altText": "image 0"}]
    assert mug["inStock"] is True


def test_the_categories_menu_shows_each_child_with_its_products(gql, shop):
    categories = run_document(gql, "categories_tree")["categories"]
    home = next(c for c in categories if c["name"] == "Home")
    names = sorted(e["node"]["name"] for e in home["children"][0]["products"]["edges"])
    assert home["children"][0]["name"] == "Kitchen"
    assert names == ["Cast iron teapot", "Stoneware mug"]


def test_the_product_page_shows_the_product_and_its_reviews(gql, shop):
    product = run_document(gql, "product_page", {"slug": "stoneware-mug"})["product"]
    assert product["name"] == "Stoneware mug"
    assert [e["node"]["rating"] for e in product["reviews"]["edges"]] == [4]
    assert product["reviews"]["pageInfo"]["hasNextPage"] is False


def test_the_search_page_narrows_by_words_price_stock_and_category(gql, shop):
    variables = {
        "search": "mug",
        "minPrice": "10",
        "maxPrice": "20",
        "inStock": True,
        "category": "home",
        "orderBy": "PRICE_ASC",
        "after": None,
    }
    products = run_document(gql, "search_listing", variables)["products"]
    assert [e["node"]["name"] for e in products["edges"]] == ["Stoneware mug"]

    # and the sold-out teapot disappears when the shopper asks for products in stock
    in_stock = run_document(gql, "search_listing", {"category": "kitchen", "inStock": True})["products"]
    assert [e["node"]["name"] for e in in_stock["edges"]] == ["Stoneware mug"]
