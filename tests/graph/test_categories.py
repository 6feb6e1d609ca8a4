"""Browsing the category tree."""

import pytest

from graph.ids import global_id
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db


def test_the_tree_from_the_roots_with_counts_that_include_descendants(gql):
    home = make_category("Home", slug="home")
    kitchen = make_category("Kitchen", parent=home, slug="kitchen")
    garden = make_category("Garden", parent=home, slug="garden")
    make_product(name="Kettle", category=kitchen)
    make_product(name="Pan", category=kitchen)
    make_product(name="Hose", category=garden)
    make_product(name="Old hose", category=garden, is_active=False)

    data = gql.data(
        "{ categories { name productCount children { name productCount parent { slug } "
        "products(first: 1, orderBy: NEWEST) { totalCount edges { node { name } } pageInfo { hasNextPage } } } } }"
    )

    [root] = data["categories"]
    assert root["name"] == "Home" and root["productCount"] == 3
    garden_data, kitchen_data = root["children"]
    assert garden_data["productCount"] == 1 and kitchen_data["productCount"] == 2
    assert kitchen_data["parent"] == {"slug": "home"}
    assert kitchen_data["products"]["edges"] == [{"node": {"name": "Pan"}}]
    assert kitchen_data["products"]["pageInfo"]["hasNextPage"] is True
    assert kitchen_data["products"]["totalCount"] == 2


def test_overlapping_scopes_in_one_request_are_each_right(gql):
    # A category and its own child both listed in one request: their scopes overlap
    home = make_category("Home", slug="home")
    kitchen = make_category("Kitchen", parent=home, slug="kitchen")
    make_product(name="Kettle", category=kitchen)
    make_product(name="Sofa", category=home)
    query = """{ a: category(slug: "home") { products { totalCount edges { node { name } } } }
                 b: category(slug: "kitchen") { products { totalCount edges { node { name } } } } }"""
    data = gql.data(query)
    assert data["a"]["products"]["totalCount"] == 2
    assert data["b"]["products"]["totalCount"] == 1
    assert [e["node"]["name"] for e in data["b"]["products"]["edges"]] == ["Kettle"]


def test_a_category_by_id_or_slug_and_null_when_unknown(gql):
    home = make_category("Home", slug="home")
    query = "query($id: ID, $slug: String) { category(id: $id, slug: $slug) { name } }"
    assert gql.data(query, {"slug": "home"})["category"] == {"name": "Home"}
    assert gql.data(query, {"id": global_id("Category", home.pk)})["category"] == {"name": "Home"}
    assert gql.data(query, {"slug": "nope"})["category"] is None
    assert gql.data(query, {"id": global_id("Category", 424242)})["category"] is None
