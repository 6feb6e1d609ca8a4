"""Search as a storefront uses it: a box that finds while the shopper types, results by
relevance, pages that never skip or repeat, and the other filters and orders still working."""

import pytest

from graph.ids import global_id
from marketplace.models import Product
from tests.factories import make_category, make_image, make_product, make_review, make_user, strip_metrics
from tests.graph.test_products import PAGE
from tests.graph.test_query_budget import LISTING_QUERIES
from tests.helpers import error_codes

pytestmark = pytest.mark.django_db

SEARCH = """
query($s: String, $first: Int, $after: String, $orderBy: ProductOrder, $category: ID, $min: Decimal, $max: Decimal) {
  products(first: $first, after: $after, orderBy: $orderBy,
           filter: {search: $s, category: $category, minPrice: $min, maxPrice: $max}) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name slug price } }
  }
}
"""


def find(gql, text: str, **variables) -> dict:
    return gql.data(SEARCH, {"s": text, **variables})["products"]


def found(gql, text: str, **variables) -> list[str]:
    return [edge["node"]["name"] for edge in find(gql, text, **variables)["edges"]]


def walk(gql, text: str, first: int, **variables) -> list[str]:
    seen, after = [], None
    while True:
        page = find(gql, text, first=first, after=after, **variables)
        seen += [edge["node"]["slug"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


@pytest.fixture
def shop():
    kitchen, garden = make_category(name="Kitchen"), make_category(name="Garden")
    make_product(name="Steel kettle", category=kitchen, price="40.00", description="Boils fast.")
    make_product(name="Glass kettle", category=kitchen, price="25.00", description="Boils slowly.")
    make_product(name="Tea mug", category=kitchen, price="8.00", description="For the tea from your kettle.")
    make_product(name="Garden hose", category=garden, price="30.00", description="Green, 20 m.")
    make_product(name="Watering can", category=garden, price="12.00", description="Steel, 5 litres.")
    for name in ["Chair", "Desk", "Lamp", "Rug", "Shelf", "Sofa"]:  # words that match nothing searched
        make_product(name=name)
    return kitchen, garden


def test_a_search_is_ordered_by_relevance_unless_asked_otherwise(gql, shop):
    # the name matches outrank the description match; the two names tie and go by id (newest first)
    assert found(gql, "kettle") == ["Glass kettle", "Steel kettle", "Tea mug"]
    assert found(gql, "kettle", orderBy="RELEVANCE") == ["Glass kettle", "Steel kettle", "Tea mug"]
    assert found(gql, "kettle", orderBy="PRICE_ASC") == ["Tea mug", "Glass kettle", "Steel kettle"]
    assert found(gql, "kettle", orderBy="NEWEST") == ["Tea mug", "Glass kettle", "Steel kettle"]


def test_the_box_finds_while_the_shopper_types(gql, shop):
    assert found(gql, "ket") == ["Glass kettle", "Steel kettle", "Tea mug"]
    assert found(gql, "steel ket") == ["Steel kettle"]
    assert found(gql, "steel") == ["Steel kettle", "Watering can"]
    assert found(gql, "  GLASS   kettles ") == ["Glass kettle"]


def test_a_search_that_matches_nothing_is_an_empty_page(gql, shop):
    page = find(gql, "zzqx")
    assert page["edges"] == [] and page["totalCount"] == 0 and page["pageInfo"]["hasNextPage"] is False
    assert find(gql, "%")["totalCount"] == 0  # text without a word


def test_an_empty_search_is_no_search(gql, shop):
    assert find(gql, "")["totalCount"] == 11
    assert find(gql, "   ")["totalCount"] == 11


@pytest.mark.parametrize("text", ["", "   ", None])
def test_relevance_without_a_search_is_refused(gql, shop, text):
    result = gql(SEARCH, {"s": text, "orderBy": "RELEVANCE"})
    assert error_codes(result) == ["BAD_USER_INPUT"], result
    assert "search" in result["errors"][0]["message"]
    result = gql(PAGE, {"orderBy": "RELEVANCE"})
    assert error_codes(result) == ["BAD_USER_INPUT"], result


@pytest.mark.parametrize(
    "text", ["a & b | !c", "kettle:*", "'kettle'", '"kettle"', "(kettle)", "kettle) | (mug", "NEAR(kettle)", "x" * 200]
)
def test_operators_in_a_search_are_plain_text(gql, shop, text):
    result = gql(SEARCH, {"s": text})
    assert "errors" not in result, result
    assert set(found(gql, text)) <= {"Glass kettle", "Steel kettle", "Tea mug"}


def test_a_search_longer_than_200_characters_is_refused(gql, shop):
    result = gql(SEARCH, {"s": "x" * 201})
    assert error_codes(result) == ["BAD_USER_INPUT"], result


def test_search_combines_with_category_and_price(gql, shop):
    kitchen, garden = shop
    assert found(gql, "steel", category=garden.slug) == ["Watering can"]
    assert found(gql, "kettle", min="20", max="30") == ["Glass kettle"]
    assert found(gql, "kettle", category=kitchen.slug, orderBy="PRICE_DESC") == [
        "Steel kettle",
        "Glass kettle",
        "Tea mug",
    ]


def test_a_category_listing_searches_too_one_and_many_categories_at_once(gql, shop):
    kitchen, _ = shop
    query = """query($id: ID!, $s: String) { category(id: $id) {
        products(filter: {search: $s}) { totalCount edges { node { name } } } } }"""
    data = gql.data(query, {"id": global_id("Category", kitchen.pk), "s": "kettle"})["category"]["products"]
    assert [e["node"]["name"] for e in data["edges"]] == ["Glass kettle", "Steel kettle", "Tea mug"]
    assert data["totalCount"] == 3
    # every child's page in one batched (windowed) query, still by relevance
    root = make_category(name="Home")
    kitchen.parent = root
    kitchen.save()
    shop[1].parent = root
    shop[1].save()
    # (one category's children: a search per child is priced as a scan each, so a search
    # in every child of every root category is over the cost limit)
    tree = gql.data(
        'query($id: ID!) { category(id: $id) { children { name products(filter: {search: "steel"}) '
        "{ edges { node { name } } } } } }",
        {"id": global_id("Category", root.pk)},
    )
    pages = {c["name"]: [e["node"]["name"] for e in c["products"]["edges"]] for c in tree["category"]["children"]}
    assert pages == {"Kitchen": ["Steel kettle"], "Garden": ["Watering can"]}


def test_paging_by_relevance_walks_every_match_once(gql):
    # Given many matches with a few distinct ranks and many ties
    for i in range(23):
        make_product(name="Oak " + "table " * (1 + i % 3), description="oak " * (i % 4), slug=f"oak-{i}")
    for i in range(5):
        make_product(name=f"Pine {i}", slug=f"pine-{i}")
    expected = [p["node"]["slug"] for p in find(gql, "oak", first=100)["edges"]]
    assert len(expected) == 23
    for first in (1, 4, 7):
        assert walk(gql, "oak", first) == expected


def test_a_relevance_cursor_belongs_to_relevance(gql, shop):
    cursor = find(gql, "kettle", first=1)["pageInfo"]["endCursor"]
    result = gql(SEARCH, {"s": "kettle", "first": 1, "after": cursor, "orderBy": "NEWEST"})
    assert error_codes(result) == ["BAD_USER_INPUT"], result


def test_products_written_after_the_index_exists_are_found_accordingly(gql, shop):
    new = make_product(name="Copper kettle", price="90.00")
    assert "Copper kettle" in found(gql, "kettle")
    new.name = "Copper pan"
    new.save()
    assert "Copper kettle" not in found(gql, "kettle") and found(gql, "copper") == ["Copper pan"]
    new.is_active = False
    new.save()
    assert found(gql, "copper") == []


LISTING = """
query($s: String) { products(first: %d, filter: {search: $s}) { totalCount edges { cursor node {
    id name slug price inStock category { name slug parent { name } } seller { displayName }
    images { url altText } rating { average count }
    metrics { totalViews totalClicks totalSales clickThroughRate conversionRate } } } } }
"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", [10, 40])
def test_a_search_listing_costs_the_usual_queries(gql, django_assert_num_queries, size):
    # Given matching products with parents, images and reviews, and one without metrics
    seller, root = make_user(), make_category()
    leaf = make_category(parent=root)
    for i in range(size):
        product = make_product(name=f"Walnut bowl {i}", seller=seller, category=leaf)
        make_image(product)
        make_review(product, rating=1 + i % 5)
    make_product(name="Other thing")
    strip_metrics(*Product.objects.filter(name__startswith="Walnut")[:3])

    # When the storefront searches (ordered by relevance) with every field and the count
    with django_assert_num_queries(LISTING_QUERIES):
        data = gql.data(LISTING % size, {"s": "walnut bo"})

    # Then it costs what a listing costs, and found every match
    assert data["products"]["totalCount"] == size and len(data["products"]["edges"]) == size
