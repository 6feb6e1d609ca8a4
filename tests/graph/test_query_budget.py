"""A listing costs the same few SQL queries at 10 items as at 100 (Saleor-style recorded counts).

If one of these counts changes, a resolver started paying per item, or a loader split
its batch: find out which before updating the number.
"""

import pytest

from marketplace.models import Product
from tests.factories import make_category, make_image, make_product, make_review, make_user, strip_metrics
from tracking.metrics import MetricsHelper
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db(transaction=True)

LISTING = """
{ products(first: %d, orderBy: %s) { totalCount edges { cursor node {
    id name slug price inStock category { name slug parent { name } } seller { displayName }
    images { url altText } rating { average count }
    metrics { totalViews totalClicks totalSales clickThroughRate conversionRate } } } } }
"""
CATEGORY_TREE = """
{ categories { name children { name products(first: 20) { edges { node { name metrics { totalViews } } } } } } }
"""

# count, page, categories (+ parents primed), sellers, images, ratings,
# metrics: existing rows (1) + insert of the missing ones with RETURNING (1)
LISTING_QUERIES = 8
# the same when every product has its metrics row, as the popularity orders require
# (they read the metrics through an inner join: marketplace migration and tracking 0003)
LISTING_QUERIES_WITH_METRICS = 7
# roots, children, category tree, one windowed page query for all children, metrics (2)
CATEGORY_TREE_QUERIES = 6


@pytest.fixture
def metrics_batches(monkeypatch):
    """Record each call of bulk_ensure_metrics (the real one still runs)."""
    calls: list[list[int]] = []
    real = MetricsHelper.bulk_ensure_metrics

    def spy(products, batch_size=None):
        calls.append(list(products))
        return real(products, batch_size)

    monkeypatch.setattr(MetricsHelper, "bulk_ensure_metrics", staticmethod(spy))
    return calls


def build_catalogue(products: int, categories: int = 4) -> list:
    """A realistic page: nested categories, several sellers, images, reviews, and a
    third of the products without metrics rows (as imports leave them)."""
    sellers = [make_user() for _ in range(3)]
    roots = [make_category() for _ in range(2)]
    leaves = [make_category(parent=roots[i % 2]) for i in range(categories)]
    created = []
    for i in range(products):
        product = make_product(seller=sellers[i % 3], category=leaves[i % categories])
        make_image(product, 0)
        make_image(product, 1)
        make_review(product, rating=1 + i % 5)
        created.append(product)
    strip_metrics(*created[::3])
    return created


@pytest.mark.parametrize("size", [10, 100])
def test_a_listing_costs_the_same_queries_at_10_and_100_items(gql, django_assert_num_queries, metrics_batches, size):
    # Given products whose categories have parents, with images, reviews, and some without metrics
    build_catalogue(size)
    missing_before = size - ProductMetrics.objects.count()
    assert missing_before > 0

    # When a storefront asks for the full listing
    with django_assert_num_queries(LISTING_QUERIES):
        data = gql.data(LISTING % (size, "NEWEST"))

    # Then every product came back, each with its metrics, created on the fly in one batch
    edges = data["products"]["edges"]
    assert len(edges) == size and data["products"]["totalCount"] == size
    assert all(edge["node"]["category"]["parent"]["name"] for edge in edges)
    assert ProductMetrics.objects.count() == size
    assert len(metrics_batches) == 1 and len(metrics_batches[0]) == size


@pytest.mark.parametrize("order", ["MOST_VIEWED", "BEST_SELLING", "TOP_RATED", "PRICE_ASC"])
@pytest.mark.parametrize("size", [10, 100])
def test_every_order_costs_the_same_queries_at_10_and_100_items(gql, django_assert_num_queries, order, size):
    build_catalogue(size)
    MetricsHelper.bulk_ensure_metrics([p.pk for p in Product.objects.all()])

    with django_assert_num_queries(LISTING_QUERIES_WITH_METRICS):
        data = gql.data(LISTING % (size, order))

    assert len(data["products"]["edges"]) == size and data["products"]["totalCount"] == size


@pytest.mark.parametrize("categories,products", [(2, 10), (8, 120)])
def test_the_category_tree_costs_the_same_queries_however_large(
    gql, django_assert_num_queries, metrics_batches, categories, products
):
    build_catalogue(products, categories=categories)

    with django_assert_num_queries(CATEGORY_TREE_QUERIES):
        data = gql.data(CATEGORY_TREE)

    children = [child for root in data["categories"] for child in root["children"]]
    assert len(children) == categories
    assert sum(len(c["products"]["edges"]) for c in children) == min(products, 20 * categories)
    assert len(metrics_batches) == 1


def test_reading_a_product_never_counts_as_a_view(gql):
    product = make_product()
    gql.data("query($s: String!) { product(slug: $s) { name metrics { totalViews } } }", {"s": product.slug})
    gql.data("query($s: String!) { product(slug: $s) { name metrics { totalViews } } }", {"s": product.slug})
    assert ProductMetrics.objects.get(product=product).total_views == 0
